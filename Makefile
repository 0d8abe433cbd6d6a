# `make demo` sets up .venv and runs the default job; `make test` runs the test suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test clean

# The pins, the test tools, and this project itself (editable), so that
# scripts in any folder import it from .venv.
$(VENV)/.installed: requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Under 5 minutes of PIE on the bundled MNIST (2-core CPU); run it again to
# resume. Batch 64 makes more updates in that time than the experiment's 128,
# and XLA runs the step faster (docs/PERFORMANCE.md, P12).
demo: $(VENV)/.installed
	$(PY) -m official.train --experiment=pie_mnist --model_dir=runs/demo \
	  --batch_size=64 --train_steps=800 --jit_compile \
	  --log_every=100 --image_every=200 --checkpoint_every=200

# Two workers, each test file on one of them (module fixtures are built once),
# in the order of tests/conftest.py (longest files first), not xdist's own
# (files with the most tests first).
test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests

clean:
	rm -rf $(VENV) runs .pytest_cache
