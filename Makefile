# `make demo` sets up .venv and runs the default job; `make test` runs the test suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast test-durations mutate docs clean

# The pins, the test tools, and this project itself (editable), so that
# scripts in any folder import it from .venv.
$(VENV)/.installed: requirements.txt requirements-test.txt requirements-docs.txt \
    pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# 800 steps of PIE on the bundled MNIST; run it again to resume. Batch 64
# makes more updates in that time than the experiment's 128. Without XLA:
# on a 2-core AMD EPYC (Zen 4) the step took 0.086 s, 0.104 s with XLA
# (official.benchmark --experiment=pie_mnist --phase=mle --batch_size=64).
# The README states the time it took from a fresh clone, install included.
demo: $(VENV)/.installed
	$(PY) -m official.train --experiment=pie_mnist --model_dir=runs/demo \
	  --batch_size=64 --train_steps=800 \
	  --log_every=100 --image_every=200 --checkpoint_every=200

# Two workers, each test file on one of them (module fixtures are built once),
# in the order of tests/conftest.py (longest files first), not xdist's own
# (files with the most tests first).
test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests

# The tests measured under 1.5 s that start no program: an answer in about a
# minute. `slow` and `subprocess` are markers (tests/conftest.py).
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder \
	  -m 'not slow and not subprocess' tests

# The whole suite, storing each test's time in tests/durations.json (the
# workers' file order and the fast tier come from it). Commit the result.
test-durations: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder \
	  --store-durations tests

# Mutation testing of the bijectors, the metrics, FID and the OT plan and
# loss (tests/mutate.py); hours on 2 cores, not part of `make test`. Name
# modules with MODULES="bijectors/split.py ...".
mutate: $(VENV)/.installed
	$(PY) -m tests.mutate $(foreach m,$(MODULES),--module=$(m)) \
	  --output=build/mutation.md

# The documentation site, into build/site/; --strict fails on a broken link.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) runs build .pytest_cache
