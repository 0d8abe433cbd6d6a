import json
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # noqa: E402

from tests.helpers import REPO  # noqa: E402
from tests.helpers import train_tiny_run  # noqa: E402


_DISTRIBUTION = 'invertible-autoencoders'


def _require_installed():
  """Stops the run in one line where the project is not installed: the
  programs the tests start (`python -m official.train`, ...) import it from
  the environment, not from this folder."""
  import importlib.metadata  # pylint: disable=g-import-not-at-top
  try:
    importlib.metadata.distribution(_DISTRIBUTION)
  except importlib.metadata.PackageNotFoundError:
    pytest.exit(f'{_DISTRIBUTION} is not installed in this Python '
                f'({sys.executable}): run `make test`, or first `pip install '
                '-r requirements-test.txt && pip install --no-deps -e .`',
                returncode=4)


def pytest_configure(config):
  """Two logical CPUs, before TensorFlow initializes, so that
  MirroredStrategy can run two replicas on this machine (the distributed
  tests need them). Under `-n`, in the test workers only: the controlling
  process runs no test and would import TensorFlow (seconds of CPU before the
  workers start) for nothing."""
  _require_installed()
  config.addinivalue_line('markers', f'slow: measured above {_SLOW_S} s '
                          '(tests/durations.json); not in make test-fast')
  config.addinivalue_line('markers', 'subprocess: starts programs or Python '
                          'processes; not in make test-fast')
  if getattr(config.option, 'numprocesses', None) and not hasattr(
      config, 'workerinput'):
    return
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_logical_device_configuration(
      tf.config.list_physical_devices('CPU')[0],
      [tf.config.LogicalDeviceConfiguration()] * 2)


# Each test's seconds (setup, call and teardown) and each fixture's set-up
# seconds in the last full run that stored them: `make test-durations`
# rewrites the file. They order the files
# for `make test`'s two workers and pick the fast tier.
_DURATIONS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               'durations.json')
# A test measured above this many seconds is `slow`, out of `make test-fast`.
_SLOW_S = 1.5


def _recorded_durations():
  if not os.path.exists(_DURATIONS_PATH):
    return {}
  with open(_DURATIONS_PATH) as f:
    return json.load(f)


def pytest_addoption(parser):
  parser.addoption('--store-durations', action='store_true',
                   help=f'write each test\'s seconds to {_DURATIONS_PATH}')


def pytest_collection_modifyitems(config, items):
  """Marks the tests (`slow`: measured above _SLOW_S, or using a fixture
  whose set-up was; `subprocess`: in a file that starts programs) and orders
  them for the workers: whole files, the longest first, so that the short
  files fill in at the end and both workers finish at about the same time.
  A new test counts as fast until measured; a new file goes last."""
  durations = _recorded_durations()
  tests, fixtures = durations.get('tests', {}), durations.get('fixtures', {})
  per_file = {}
  for item in items:
    seconds = tests.get(item.nodeid)
    per_file[item.fspath] = per_file.get(item.fspath, 0.) + (seconds or 0.)
    if (seconds or 0.) > _SLOW_S or any(
        fixtures.get(name, 0.) > _SLOW_S for name in item.fixturenames):
      item.add_marker(pytest.mark.slow)
    module = getattr(item, 'module', None)
    if module is not None and ({'forked', 'subprocess'} & set(vars(module))):
      item.add_marker(pytest.mark.subprocess)
  items.sort(key=lambda item: -per_file[item.fspath])  # stable within a file
  del config


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
  """Times each fixture's set-up for `--store-durations`, carried to the
  controlling process with the report of the test that caused it."""
  began = time.perf_counter()
  yield
  item = getattr(request, '_pyfuncitem', None)
  if item is not None and request.config.getoption('store_durations'):
    item.user_properties.append(
        ('fixture_seconds', (fixturedef.argname, time.perf_counter() - began)))


_measured = {'tests': {}, 'fixtures': {}}


def pytest_runtest_logreport(report):
  tests, fixtures = _measured['tests'], _measured['fixtures']
  tests[report.nodeid] = tests.get(report.nodeid, 0.) + report.duration
  for key, value in report.user_properties:
    if key == 'fixture_seconds' and report.when == 'setup':
      name, seconds = value
      fixtures[name] = max(fixtures.get(name, 0.), seconds)


def pytest_sessionfinish(session):
  """With `--store-durations`, writes the measured times into
  tests/durations.json: the files this session ran replace their entries,
  the others keep theirs (so one new file can be measured alone)."""
  if (session.config.getoption('store_durations') and
      not hasattr(session.config, 'workerinput') and _measured['tests']):
    recorded = _recorded_durations()
    ran = {nodeid.split('::')[0] for nodeid in _measured['tests']}
    tests = {nodeid: seconds for nodeid, seconds in
             recorded.get('tests', {}).items()
             if nodeid.split('::')[0] not in ran}
    tests.update(_measured['tests'])
    fixtures = {**recorded.get('fixtures', {}), **_measured['fixtures']}
    with open(_DURATIONS_PATH, 'w') as f:
      json.dump({section: {k: round(v, 3) for k, v in sorted(values.items())}
                 for section, values in (('tests', tests),
                                         ('fixtures', fixtures))},
                f, indent=0)
      f.write('\n')


@pytest.fixture(scope='session')
def load_pretrained():
  """`load_pretrained(name)`: the shipped SavedModel `pretrained/NAME/1`,
  loaded once per test process (a load restores every exported function:
  seconds of CPU). Tests of what a fresh load does load their own."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = {}

  def load(name):
    if name not in loaded:
      loaded[name] = tf.saved_model.load(
          os.path.join(REPO, 'pretrained', name, '1'))
    return loaded[name]

  return load


@pytest.fixture(scope='session')
def tiny_export(tmp_path_factory):
  """`tiny_export(name)`: a one-step tiny run of the experiment (batch 20,
  `train_tiny_run`), its export as version 1 and the trained model, made once
  per test process. Tests read them; what they write goes elsewhere."""
  import keras  # pylint: disable=g-import-not-at-top
  from official import export  # pylint: disable=g-import-not-at-top
  made = {}

  def make(name):
    if name not in made:
      folder = tmp_path_factory.mktemp(f'tiny_{name}')
      keras.utils.set_random_seed(1234)
      trainer = train_tiny_run(name, folder / 'run')
      made[name] = (str(folder / 'run'), export.export(
          name, str(folder / 'run'), str(folder / 'exports')), trainer.model)
    return made[name]

  return make


@pytest.fixture(autouse=True)
def _seed():
  import keras
  keras.utils.set_random_seed(1234)
