r"""Mutation testing: how many small changes to the code the tests notice.

  python -m tests.mutate [--module=bijectors/split.py ...] [--output=FILE.md]

For every module of `TARGETS` (or those named; `PATH:FUNCTION` names one
function of a module, its nested ones included), each mutant changes one
thing in the source: an arithmetic operator (+ and -, * and /, ** to *), a
comparison (< and <=, > and >=, == and !=, `is`, `in`), `and` and `or`, a
unary minus dropped, a boolean flipped, or a number changed (an int n to
n + 1, a float x to 2x, or 1 where it was 0). The module's tests run against
the mutant; a test that fails (or a run over the time limit) kills it, a
mutant every test passes survives. Lines marked `# pragma: no mutate` are
left alone.

The tests run in a process forked from one that has imported TensorFlow,
Keras and TFP (not this project), so a mutant costs its tests' time, not
TensorFlow's import. The source file is rewritten for each mutant and
restored after, also when the run is stopped by Ctrl-C or SIGTERM (never
SIGKILL it).

Writes a Markdown table (mutants, killed, survived per module) and the
surviving mutants with their line, for each to be explained (an equivalent
mutant: the same function) or killed by a new test.
"""

import argparse
import ast
import copy
import os
import signal
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module (or module:function) -> the tests that should notice a change to
# it, run as `pytest -x -q -p no:cacheprovider TESTS`.
TARGETS = {
    'bijectors/additive_coupling.py': ['tests/test_bijector_properties.py',
                                       'tests/test_bijector_errors.py'],
    'bijectors/affine_coupling.py': ['tests/test_bijector_properties.py',
                                     'tests/test_bijector_errors.py'],
    'bijectors/checkerboard_subsample.py': [
        'tests/test_bijector_properties.py', 'tests/test_bijector_errors.py'],
    'bijectors/householder.py': ['tests/test_bijector_properties.py',
                                 'tests/test_bijector_errors.py'],
    'bijectors/split.py': ['tests/test_bijector_properties.py',
                           'tests/test_bijector_errors.py'],
    'bijectors/factor_out.py': ['tests/test_bijector_properties.py',
                                'tests/test_bijector_errors.py'],
    'bijectors/_shapes.py': ['tests/test_bijector_properties.py',
                             'tests/test_bijector_errors.py'],
    'official/evaluation/metrics.py': [
        'tests/test_evaluation.py::test_sharpness_of_mnist_matches_the_papers_true_value',
        'tests/test_evaluation.py::test_sharpness_known_values',
        'tests/test_evaluation.py::test_code_usage_counts_dims_where_a_class_spreads',
        'tests/test_evaluation.py::test_latent_usage_counts_dims_above_threshold',
        'tests/test_evaluation.py::test_visible_dims_reads_the_decoded_change_along_the_top_dims',
        'tests/test_evaluation.py::test_plateau_is_where_no_class_loses_a_dimension_over_the_window',
        'tests/test_evaluation.py::test_visible_dims_defaults_and_the_threshold_itself',
        'tests/test_evaluation.py::test_round_trip_errors_are_means_and_max_over_every_batch',
        'tests/test_evaluation.py::test_prior_match_reports_each_dimensions_mean_and_std'],
    'official/evaluation/fid.py': ['tests/test_fid.py'],
    'trainers/optimal_transport.py': [
        'tests/test_optimal_transport.py::' + name for name in (
            'test_plan_couples_within_classes_and_the_cost_has_a_finite_gradient',
            'test_gaussians_start_from_the_codes_of_init_examples_digits',
            'test_euclidean_costs_equal_the_pairwise_distances',
            'test_plans_of_three_classes_stay_within_each_class',
            'test_one_step_loss_is_the_transport_cost_plus_the_weighted_perturbation',
            'test_tensorboard_shows_the_used_dimensions_per_class')],
    # The export's weights restored (--init_from an export).
    'official/serving.py:restore_from_export': ['tests/test_init_from.py'],
    # The loop's checkpoints: saved whole or not at all, and read back.
    'trainers/checkpoints.py': [
        'tests/test_faults.py::'
        'test_each_writer_that_fails_leaves_nothing_half_written',
        'tests/test_checkpoints.py'],
    # Which checkpoint a run, an evaluation or an export reads.
    **{f'official/run_dir.py:{name}': ['tests/test_checkpoints.py']
       for name in ('checkpoint_prefixes', 'complete_checkpoints',
                    'restore_newest')},
}
_PRELOADED = ('numpy', 'tensorflow', 'tensorflow_probability', 'keras',
              'pytest', 'scipy.linalg')
_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div,
          ast.Div: ast.Mult, ast.FloorDiv: ast.Mult, ast.Pow: ast.Mult,
          ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
          ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot,
          ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
          ast.And: ast.Or, ast.Or: ast.And}


def _skipped_lines(source):
  return {number for number, line in enumerate(source.splitlines(), 1)
          if 'pragma: no mutate' in line}


def _docstrings(tree):
  """The docstring nodes: not code."""
  found = set()
  for node in ast.walk(tree):
    body = getattr(node, 'body', None)
    if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)):
      found.add(id(body[0].value))
  return found


def _sites(tree, skipped):
  """(node id, kind, description) of every place a mutant can change."""
  docstrings = _docstrings(tree)
  sites = []
  for node in ast.walk(tree):
    line = getattr(node, 'lineno', None)
    if line in skipped:
      continue
    if isinstance(node, (ast.BinOp, ast.BoolOp)) and type(node.op) in _SWAPS:
      sites.append((line, node, 'op', f'{type(node.op).__name__} -> '
                    f'{_SWAPS[type(node.op)].__name__}'))
    elif isinstance(node, ast.Compare):
      for i, op in enumerate(node.ops):
        if type(op) in _SWAPS:
          sites.append((line, node, ('cmp', i), f'{type(op).__name__} -> '
                        f'{_SWAPS[type(op)].__name__}'))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
      sites.append((line, node, 'neg', 'unary minus dropped'))
    elif (isinstance(node, ast.Constant) and id(node) not in docstrings and
          type(node.value) in (bool, int, float)):
      value = node.value
      new = (not value if isinstance(value, bool) else value + 1
             if isinstance(value, int) else 2. * value if value else 1.)
      sites.append((line, node, ('const', new), f'{value!r} -> {new!r}'))
  return sorted(sites, key=lambda site: site[0])


class _Mutator(ast.NodeTransformer):
  """Applies one site's change to a copy of the tree."""

  def __init__(self, target, kind):
    self.target, self.kind = target, kind

  def visit(self, node):
    node = self.generic_visit(node)
    if node is not self.target:
      return node
    if self.kind == 'op':
      node.op = _SWAPS[type(node.op)]()
    elif self.kind == 'neg':
      return node.operand
    elif self.kind[0] == 'cmp':
      node.ops[self.kind[1]] = _SWAPS[type(node.ops[self.kind[1]])]()
    else:
      node.value = self.kind[1]
    return node


def _lines_outside(tree, function):
  """The lines of `tree` outside the function (or method) `function`."""
  for node in ast.walk(tree):
    if isinstance(node, ast.FunctionDef) and node.name == function:
      inside = set(range(node.lineno, node.end_lineno + 1))
      return set(range(1, tree.body[-1].end_lineno + 1)) - inside
  raise SystemExit(f'error: no function {function!r}')


def mutants(source, function=None):
  """(line, description, mutated source) of every mutant of `source`, or of
  its `function` alone."""
  tree = ast.parse(source)
  skipped = _skipped_lines(source)
  if function:
    skipped |= _lines_outside(tree, function)
  for line, node, kind, description in _sites(tree, skipped):
    index = [id(n) for n in ast.walk(tree)].index(id(node))
    twin = copy.deepcopy(tree)
    target = list(ast.walk(twin))[index]
    mutated = ast.fix_missing_locations(_Mutator(target, kind).visit(twin))
    yield line, description, ast.unparse(mutated)


def _stop(signum, frame):
  del frame
  raise KeyboardInterrupt(f'signal {signum}')


def _run_tests(tests, timeout):
  """0 if `tests` pass, else their exit status (or 'timeout'), in a child
  forked from this process."""
  pid = os.fork()
  if pid == 0:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.dont_write_bytecode = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    import pytest  # pylint: disable=g-import-not-at-top
    code = pytest.main(['-x', '-q', '-p', 'no:cacheprovider',
                        '-p', 'no:randomly', *tests])
    os._exit(int(code))  # pylint: disable=protected-access
  deadline = time.time() + timeout
  try:
    while time.time() < deadline:
      done, status = os.waitpid(pid, os.WNOHANG)
      if done:
        return os.waitstatus_to_exitcode(status)
      time.sleep(0.05)
    return 'timeout'
  finally:
    try:  # a child still running: over time, or this run stopped
      os.kill(pid, signal.SIGKILL)
      os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
      pass


def _clear_bytecode(path):
  folder = os.path.join(os.path.dirname(path), '__pycache__')
  stem = os.path.splitext(os.path.basename(path))[0]
  for name in os.listdir(folder) if os.path.isdir(folder) else ():
    if name.startswith(stem + '.'):
      os.remove(os.path.join(folder, name))


def mutate_module(module, tests, timeout):
  """Runs every mutant of `module` (`PATH` or `PATH:FUNCTION`); returns
  (killed, survivors)."""
  module, _, function = module.partition(':')
  path = os.path.join(REPO, module)
  with open(path) as f:
    original = f.read()
  if _run_tests(tests, timeout * 4) != 0:
    raise SystemExit(f'error: the tests of {module} fail without a mutant')
  killed, survivors = 0, []
  try:
    for number, (line, description, source) in enumerate(
        mutants(original, function or None)):
      with open(path, 'w') as f:
        f.write(source)
      _clear_bytecode(path)
      result = _run_tests(tests, timeout)
      if result == 0:
        survivors.append((line, description))
      else:
        killed += 1
      print(f'{module}: mutant {number + 1} (line {line}, {description}): '
            f'{"survived" if result == 0 else "killed"}', flush=True)
  finally:
    with open(path, 'w') as f:
      f.write(original)
    _clear_bytecode(path)
  return killed, survivors


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[1])
  parser.add_argument('--module', action='append',
                      help='a module of TARGETS (repeatable; default all)')
  parser.add_argument('--timeout', type=float, default=300.,
                      help='seconds one mutant\'s tests may take')
  parser.add_argument('--output', default=None,
                      help='write the Markdown table here too')
  args = parser.parse_args()
  modules = args.module or list(TARGETS)
  unknown = [m for m in modules if m not in TARGETS]
  if unknown:
    parser.error(f'not a target: {", ".join(unknown)}; targets: '
                 f'{", ".join(TARGETS)}')
  os.chdir(REPO)
  # Restore the module being mutated on Ctrl-C or SIGTERM, also where the
  # shell started this run with SIGINT ignored (in the background).
  signal.signal(signal.SIGINT, _stop)
  signal.signal(signal.SIGTERM, _stop)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  import importlib  # pylint: disable=g-import-not-at-top
  for name in _PRELOADED:
    importlib.import_module(name)
  rows, details = [], []
  for module in modules:
    began = time.time()
    killed, survivors = mutate_module(module, TARGETS[module], args.timeout)
    total = killed + len(survivors)
    rows.append(f'| `{module}` | {total} | {killed} | {len(survivors)} | '
                f'{100. * killed / max(total, 1):.0f}% | '
                f'{time.time() - began:.0f} s |')
    details += [f'- `{module}` line {line}: {description}'
                for line, description in survivors]
  table = '\n'.join(
      ['| module | mutants | killed | survived | killed share | time |',
       '| --- | --- | --- | --- | --- | --- |'] + rows +
      (['', 'Survivors:', ''] + details if details else []))
  print(table)
  if args.output:
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, 'w') as f:
      f.write(table + '\n')


if __name__ == '__main__':
  main()
