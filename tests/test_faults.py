"""Faults an operator meets: an export killed half-way, bad serving requests,
a full disk, readers beside a live run. Each ends in one line naming the
cause, or recovers, and loses nothing (docs/FAULTS.md)."""

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official import errors
from official import export
from official import files
from official import run_dir
from tests import forked
from tests.helpers import REPO
from tests.helpers import train_tiny_run

_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO)
_TINY_PIE = ['--model_override=conv_hidden=8', '--model_override=dense_hidden=16',
             '--model_override=steps=1']


def _train_command(model_dir, steps, *extra):
  return [sys.executable, '-m', 'official.train', '--experiment=pie_mnist',
          f'--model_dir={model_dir}', f'--train_steps={steps}',
          '--batch_size=16', '--checkpoint_every=1', '--log_every=1',
          *_TINY_PIE, *extra]


def _leftovers(folder):
  """Temporary or half-written pieces anywhere under `folder`."""
  found = []
  for root, dirs, names in os.walk(folder):
    found += [os.path.join(root, n) for n in dirs + names
              if '.partial-' in n or n.endswith('_temp') or '.tempstate' in n]
  return found


@pytest.fixture(scope='module')
def tiny_runs(tiny_export):
  """A one-step tiny PIE and OT RevNet run, and an export of each."""
  return {name: tiny_export(name)[:2]
          for name in ('pie_mnist', 'revnet_ot_mnist')}


# -- exports that TF Serving can never half-load -----------------------------


def test_export_versions_count_up_and_an_existing_one_is_refused(
    tiny_runs, tmp_path):
  """The fixture's export is version 1 of its folder, copied here; the next
  export is version 2."""
  model_dir, first = tiny_runs['pie_mnist']
  assert os.path.basename(first) == '1'
  shutil.copytree(first, tmp_path / 'pie_mnist' / '1')
  second = export.export('pie_mnist', model_dir, str(tmp_path))
  assert second == str(tmp_path / 'pie_mnist' / '2')
  with pytest.raises(errors.ExportError, match='2 exists; choose another'):
    export.export('pie_mnist', model_dir, str(tmp_path), version=2)
  assert sorted(os.listdir(tmp_path / 'pie_mnist')) == ['1', '2']


def _when(condition):
  """Waits (up to 120 s) until `condition()`."""
  deadline = time.time() + 120
  while not condition():
    assert time.time() < deadline, 'the export never reached the point'
    time.sleep(0.002)


def _partial(base):
  names = os.listdir(base) if os.path.isdir(base) else []
  partial = [n for n in names if '.partial-' in n]
  return os.path.join(base, partial[0]) if partial else None


@pytest.mark.parametrize('point', ['folder', 'variables', 'graph'])
def test_export_killed_at_any_point_leaves_no_version_folder(
    tiny_runs, tmp_path, point):
  model_dir, _ = tiny_runs['pie_mnist']
  base = str(tmp_path / 'pie_mnist')
  command = [sys.executable, '-m', 'official.export', '--experiment=pie_mnist',
             f'--model_dir={model_dir}', f'--export_dir={tmp_path}']
  process = forked.Popen(command, env=_ENV, stdout=forked.PIPE,
                         stderr=forked.PIPE, text=True)
  reached = {
      'folder': lambda p: True,
      'variables': lambda p: os.path.exists(
          os.path.join(p, 'variables', 'variables.index')),
      'graph': lambda p: os.path.exists(os.path.join(p, 'saved_model.pb')),
  }[point]
  _when(lambda: process.poll() is not None or (
      _partial(base) is not None and reached(_partial(base))))
  process.kill()
  process.communicate()
  # TF Serving loads every all-digit folder: each one there must be whole.
  versions = [n for n in os.listdir(base) if n.isdigit()]
  for version in versions:
    tf.saved_model.load(os.path.join(base, version)).signatures['encode']
  if point == 'folder':
    assert not versions and _partial(base), 'the kill came too late to test'
  again = forked.run(command, env=_ENV, capture_output=True, text=True)
  assert again.returncode == 0, again.stderr
  assert again.stdout.strip() == f'exported {base}/{len(versions) + 1}'
  assert not _leftovers(str(tmp_path))


def test_export_onto_a_full_disk_leaves_nothing(tiny_runs, tmp_path,
                                                monkeypatch):
  model_dir, _ = tiny_runs['pie_mnist']
  real_save = tf.saved_model.save

  def save_until_full(module, path, **kwargs):
    real_save(module, path, **kwargs)
    with open(os.path.join(path, 'variables', 'variables.index'), 'ab') as f:
      f.write(b'half')
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(tf.saved_model, 'save', save_until_full)
  with pytest.raises(files.WriteError) as raised:
    export.export('pie_mnist', model_dir, str(tmp_path))
  assert str(raised.value) == (f'cannot write {tmp_path}/pie_mnist/1: No '
                               'space left on device')
  assert os.listdir(tmp_path / 'pie_mnist') == []


# -- serving signatures that refuse bad requests ------------------------------

# (signature, inputs as Python values, the rule its refusal states)
_BAD_REQUESTS = [
    ('encode', {'images': 'nan'}, 'images must be finite and in [-0.5, 1.5]'),
    ('encode', {'images': '255'}, 'images must be finite and in [-0.5, 1.5]'),
    ('encode_full', {'images': 'negative'},
     'images must be finite and in [-0.5, 1.5]'),
    ('decode', {'codes': 'inf'}, 'codes must be finite'),
    ('decode_full', {'codes': 'nan'}, 'codes must be finite'),
    ('sample', {'num_samples': -1, 'seed': 0},
     'num_samples must be in [0, 4096]'),
    ('sample', {'num_samples': 10**9, 'seed': 0},
     'num_samples must be in [0, 4096]'),
    ('sample_with_temperature', {'num_samples': 2, 'seed': 0,
                                 'temperature': float('nan')},
     'temperature must be finite and >= 0'),
    ('sample_with_temperature', {'num_samples': 2, 'seed': 0,
                                 'temperature': -1.0},
     'temperature must be finite and >= 0'),
]
_PIE_BAD = [('log_prob', {'images': 'nan'},
             'images must be finite and in [-0.5, 1.5]'),
            ('sample_density', {'num_samples': 5000, 'seed': 0,
                                'temperature': 1.0},
             'num_samples must be in [0, 4096]'),
            ('sample_density', {'num_samples': 2, 'seed': 0,
                                'temperature': -0.5},
             'temperature must be finite and >= 0')]
_OT_BAD = [
    ('sample_class', {'labels': [3, 10], 'seed': 0}, 'labels must be in 0..9'),
    ('sample_class', {'labels': [-1], 'seed': 0}, 'labels must be in 0..9'),
    ('sample_class', {'labels': [0] * 4097, 'seed': 0},
     'labels must have at most 4096 entries'),
    ('sample_class_with_temperature', {'labels': [1], 'seed': 0,
                                       'temperature': float('inf')},
     'temperature must be finite and >= 0'),
]

# Run in a fresh process with TensorFlow alone, as a serving client would:
# each request through the loaded signature (TF2), and through a TF1 session
# on the same graph, whose runtime message is what TF Serving's C++ session
# returns to its client.
_REQUESTS = r"""
import json, sys
import numpy as np, tensorflow as tf
path, cases = sys.argv[1], json.loads(sys.argv[2])
loaded = tf.saved_model.load(path)

def value(signature, name, given, spec):
  if isinstance(given, str):
    shape = [2] + spec.shape.as_list()[1:]
    fill = {'nan': np.nan, 'inf': np.inf, '255': 255., 'negative': -0.6}
    array = np.full(shape, 0.5, np.float32)
    array.flat[3] = fill[given]
    return array
  return np.asarray(given, spec.dtype.as_numpy_dtype)

graph = tf.Graph()
session = tf.compat.v1.Session(graph=graph)
with graph.as_default():
  meta = tf.compat.v1.saved_model.loader.load(session, ['serve'], path)
out = []
for signature, inputs, rule in cases:
  function = loaded.signatures[signature]
  specs = function.structured_input_signature[1]
  feed = {k: value(signature, k, v, specs[k]) for k, v in inputs.items()}
  result = {}
  try:
    function(**{k: tf.constant(v) for k, v in feed.items()})
  except tf.errors.InvalidArgumentError as e:
    result['tf2'] = e.message
  definition = meta.signature_def[signature]
  try:
    session.run(definition.outputs[list(definition.outputs)[0]].name,
                {definition.inputs[k].name: v for k, v in feed.items()})
  except tf.errors.InvalidArgumentError as e:
    result['runtime'] = e.__context__.message
  out.append(result)
print(json.dumps(out))
"""


@pytest.mark.parametrize('name', ['pie_mnist', 'revnet_ot_mnist'])
def test_every_signature_refuses_bad_requests_naming_the_rule(tiny_runs, name):
  _, path = tiny_runs[name]
  cases = _BAD_REQUESTS + (_PIE_BAD if name == 'pie_mnist' else _OT_BAD)
  done = subprocess.run(
      [sys.executable, '-c', _REQUESTS, path, json.dumps(cases)],
      capture_output=True, text=True, env=_ENV, check=True)
  results = json.loads(done.stdout.splitlines()[-1])
  for (signature, inputs, rule), result in zip(cases, results):
    case = f'{signature} {inputs}'[:80]
    assert 'tf2' in result and 'runtime' in result, f'{case} was accepted'
    # The runtime's first line is the rule (TF Serving returns this message).
    first = result['runtime'].splitlines()[0]
    assert first.startswith(f'assertion failed: [{rule}'), (case, first)
    # Python's TensorFlow puts its own header and the node above it.
    assert f'assertion failed: [{rule}' in result['tf2'], case


@pytest.mark.parametrize('signature,inputs,rule', [
    ('encode', {'images': np.full((1, 28, 28, 1), 255., np.float32)},
     'images must be finite and in [-0.5, 1.5]'),
    ('decode', {'codes': np.full((1, 10), np.nan, np.float32)},
     'codes must be finite'),
    ('sample', 'num_samples=-1;seed=0', 'num_samples must be in [0, 4096]'),
])
def test_saved_model_cli_run_shows_the_rule(tiny_runs, tmp_path, signature,
                                            inputs, rule):
  _, path = tiny_runs['pie_mnist']
  if isinstance(inputs, dict):
    for key, array in inputs.items():
      np.save(tmp_path / f'{key}.npy', array)
    given = ['--inputs', ';'.join(f'{k}={tmp_path / k}.npy' for k in inputs)]
  else:
    given = ['--input_exprs', inputs]
  done = forked.run(
      [forked.SAVED_MODEL_CLI, 'run', '--dir', path, '--tag_set', 'serve',
       '--signature_def', signature, *given],
      capture_output=True, text=True, env=_ENV)
  assert done.returncode != 0
  assert f'assertion failed: [{rule}' in done.stderr, done.stderr[-600:]


def test_good_requests_still_answer(tiny_runs):
  _, path = tiny_runs['revnet_ot_mnist']
  loaded = tf.saved_model.load(path)
  s = loaded.signatures
  seed = tf.constant(0, tf.int64)
  assert s['sample'](num_samples=tf.constant(4096), seed=seed)[
      'images'].shape == (4096, 28, 28, 1)
  assert s['sample'](num_samples=tf.constant(0), seed=seed)[
      'images'].shape == (0, 28, 28, 1)
  assert s['sample_class'](labels=tf.zeros([0], tf.int32), seed=seed)[
      'images'].shape == (0, 28, 28, 1)
  # Decoded images are not clipped: encoding them again must work.
  edges = tf.constant(np.stack([np.full((28, 28, 1), -0.5),
                                np.full((28, 28, 1), 1.5)]), tf.float32)
  assert s['encode'](images=edges)['codes'].shape == (2, 1024)
  assert s['encode'](images=tf.zeros([0, 28, 28, 1]))['codes'].shape == (
      0, 1024)


# -- a full disk or a failed write ---------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
  """A 1 MB tmpfs: room for two or three tiny checkpoints, not more."""
  mount = tmp_path / 'disk'
  mount.mkdir()
  if os.geteuid() != 0:
    pytest.skip('mounting a tmpfs needs root (CI runs as root)')
  tried = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs',
                          str(mount)], capture_output=True, text=True)
  if tried.returncode:
    pytest.skip(f'cannot mount a tmpfs here: {tried.stderr.strip()}')
  yield mount
  subprocess.run(['umount', str(mount)], check=True)


def test_a_full_disk_ends_the_run_in_one_line_and_it_resumes(small_disk):
  model_dir = small_disk / 'run'
  command = _train_command(model_dir, 30, '--image_every=5')
  full = forked.run(command, env=_ENV, capture_output=True, text=True)
  assert full.returncode == 1
  errors = full.stderr.strip().splitlines()
  assert len(errors) == 1, full.stderr
  match = re.fullmatch(
      rf'error: cannot write {model_dir}/(\S+): No space left on device; '
      rf'the newest complete checkpoint is ({model_dir}/checkpoints/ckpt-'
      r'(\d+)), which the same command resumes from', errors[0])
  assert match, errors[0]
  assert not _leftovers(str(model_dir))
  # What is there is whole: every checkpoint loads, every small file parses.
  for prefix in run_dir.checkpoint_prefixes(str(model_dir / 'checkpoints')):
    tf.train.load_checkpoint(prefix)
  json.loads((model_dir / 'experiment.json').read_text())
  for png in (model_dir / 'samples').glob('*.png'):
    Image.open(png).load()
  subprocess.run(['mount', '-o', 'remount,size=64m', str(small_disk)],
                 check=True)
  resumed = forked.run(command, env=_ENV, capture_output=True, text=True)
  assert resumed.returncode == 0, resumed.stderr
  assert (f'resumed from {match[2]} at step {match[3]}'
          in resumed.stdout), resumed.stdout
  assert json.loads((model_dir / 'metrics.json').read_text())['step'] == 30


def _failing_once(real, is_target, partial=b'{"half'):
  """`real`, except that its first call whose file `is_target` writes a few
  bytes and raises ENOSPC, as a full disk does."""
  state = {'failed': False}

  def call(obj, target, *args, **kwargs):
    name = str(getattr(target, 'name', target))
    if not state['failed'] and is_target(name):
      state['failed'] = True
      if hasattr(target, 'write'):
        target.write(partial if 'b' in getattr(target, 'mode', 'b') else
                     partial.decode())
      else:
        with open(target, 'wb') as f:
          f.write(partial)
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(obj, target, *args, **kwargs)

  return call


@pytest.mark.parametrize('writer', ['experiment.json', 'metrics.json',
                                    'samples', 'checkpoint',
                                    'checkpoint state', 'events'])
def test_each_writer_that_fails_leaves_nothing_half_written(
    tmp_path, monkeypatch, writer):
  import trainers  # pylint: disable=g-import-not-at-top
  model_dir = tmp_path / 'run'
  if writer in ('experiment.json', 'metrics.json'):
    monkeypatch.setattr(json, 'dump', _failing_once(
        json.dump, lambda n: f'.{writer}.partial' in n))
  elif writer == 'samples':
    monkeypatch.setattr(Image.Image, 'save', _failing_once(
        Image.Image.save, lambda n: '.step_0000002.png.partial' in n))
  elif writer == 'events':
    def create_file_writer(logdir, *args, **kwargs):
      raise tf.errors.ResourceExhaustedError(
          None, None, f'{{{{function_node __wrapped__CreateSummaryFileWriter}}}}'
          f' {logdir}/events.out.tfevents.1; No space left on device\n\t'
          'Could not initialize events writer.')

    monkeypatch.setattr(tf.summary, 'create_file_writer', create_file_writer)
  elif writer == 'checkpoint state':
    # ckpt-2's files are whole, but the state file that records them cannot
    # be written: no temporary folder is left, the files must go.
    from trainers import checkpoints  # pylint: disable=g-import-not-at-top
    real_record = checkpoints.CheckpointManager._record_state  # pylint: disable=protected-access

    def record(manager):
      if manager.latest_checkpoint.endswith('ckpt-2'):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
      return real_record(manager)

    monkeypatch.setattr(checkpoints.CheckpointManager, '_record_state', record)
  else:
    real_write = tf.train.Checkpoint._write  # pylint: disable=protected-access

    def write(checkpoint, prefix, *args, **kwargs):
      if prefix.endswith('ckpt-2'):
        os.makedirs(prefix + '_temp')
        with open(prefix + '.data-00000-of-00001', 'wb') as f:
          f.write(b'half')
        raise tf.errors.ResourceExhaustedError(
            None, None, f'{{{{function_node __wrapped__SaveV2}}}} {prefix}'
            '_temp/part-00000; No space left on device')
      return real_write(checkpoint, prefix, *args, **kwargs)

    monkeypatch.setattr(tf.train.Checkpoint, '_write', write)
  with pytest.raises(trainers.TrainingError) as raised:
    train_tiny_run('pie_mnist', model_dir, steps=3, image_every=2,
                   items={'trainer.checkpoint_every': 1})
  path = {'experiment.json': model_dir / 'experiment.json',
          'metrics.json': model_dir / 'metrics.json',
          'samples': model_dir / 'samples' / 'step_0000002.png',
          'checkpoint': model_dir / 'checkpoints' / 'ckpt-2',
          'checkpoint state': model_dir / 'checkpoints' / 'ckpt-2',
          'events': model_dir / 'train'}[writer]
  newest = {'experiment.json': 'no checkpoint was written yet',
            'metrics.json': f'the newest complete checkpoint is {model_dir}/'
                            'checkpoints/ckpt-3, which the same command '
                            'resumes from',
            'samples': f'the newest complete checkpoint is {model_dir}/'
                       'checkpoints/ckpt-2, which the same command resumes '
                       'from',
            'checkpoint': f'the newest complete checkpoint is {model_dir}/'
                          'checkpoints/ckpt-1, which the same command '
                          'resumes from',
            'checkpoint state': f'the newest complete checkpoint is '
                                f'{model_dir}/checkpoints/ckpt-1, which the '
                                'same command resumes from',
            'events': f'the newest complete checkpoint is {model_dir}/'
                      'checkpoints/ckpt-0, which the same command resumes '
                      'from'}[writer]
  assert str(raised.value) == (f'cannot write {path}: No space left on '
                               f'device; {newest}')
  assert not _leftovers(str(model_dir))
  assert not list(path.parent.glob(path.name + '*'))
  if writer in ('metrics.json', 'samples'):
    return  # whole checkpoints, as after a checkpoint's failure, resumed below
  monkeypatch.undo()
  trainer = train_tiny_run('pie_mnist', model_dir, steps=3, image_every=2,
                           items={'trainer.checkpoint_every': 1})
  assert int(trainer.step.numpy()) == 3
  assert json.loads((model_dir / 'metrics.json').read_text())['step'] == 3


def test_a_killed_writers_partial_file_goes_with_the_next_write(tmp_path):
  dead = subprocess.Popen(['true'])
  dead.wait()
  host = socket.gethostname()
  left = tmp_path / f'.metrics.json.partial-{dead.pid}@{host}'
  living = tmp_path / f'.other.json.partial-{os.getppid()}@{host}'
  elsewhere = tmp_path / f'.x.json.partial-{dead.pid}@another-host'
  for path in (left, living, elsewhere):
    path.write_text('{"half')
  files.write_json(str(tmp_path / 'metrics.json'), {'step': 3})
  assert sorted(os.listdir(tmp_path)) == sorted(
      ['metrics.json', living.name, elsewhere.name])
  assert json.loads((tmp_path / 'metrics.json').read_text()) == {'step': 3}


# -- readers beside a live run ---------------------------------------------------


def test_evaluate_and_export_beside_a_run_saving_every_step(tmp_path, capfd):
  model_dir = tmp_path / 'run'
  writer = forked.Popen(_train_command(model_dir, 100000, '--image_every=1000'),
                        env=_ENV, stdout=forked.PIPE, stderr=forked.PIPE,
                        text=True)
  try:
    for line in writer.stdout:
      if line.startswith('step 3/'):
        break
    # In this process: restores one after another while the run saves a
    # checkpoint every step and deletes the oldest (reading in place, about
    # one restore in ten met a checkpoint deleted under it).
    for _ in range(10):
      run_dir.restore_model('pie_mnist', str(model_dir))
    assert 'warning' not in capfd.readouterr().err
    done = forked.run(
        [sys.executable, '-m', 'official.evaluate', '--experiment=pie_mnist',
         f'--model_dir={model_dir}', '--num_samples=20', '--num_test=20'],
        env=_ENV, capture_output=True, text=True)
    assert done.returncode == 0 and 'warning' not in done.stderr, done.stderr
    exported = forked.run(
        [sys.executable, '-m', 'official.export', '--experiment=pie_mnist',
         f'--model_dir={model_dir}', f'--export_dir={tmp_path}'],
        env=_ENV, capture_output=True, text=True)
    assert exported.returncode == 0 and 'warning' not in exported.stderr, (
        exported.stderr)
    assert writer.poll() is None, 'the run stopped before the readers ended'
  finally:
    writer.send_signal(signal.SIGTERM)
    _, stderr = writer.communicate()
  assert writer.returncode == 128 + signal.SIGTERM, stderr
  assert not os.path.exists(model_dir / 'run.lock')


def test_serving_latency_reports_each_export_and_batch(tiny_runs):
  _, pie = tiny_runs['pie_mnist']
  _, ot = tiny_runs['revnet_ot_mnist']
  done = forked.run(
      [sys.executable, '-m', 'official.benchmarks.serving_latency',
       f'--export={pie}', f'--export={ot}', '--batch_sizes=1,3',
       '--repeats=2'], env=_ENV, capture_output=True, text=True, check=True)
  rows = [json.loads(line) for line in done.stdout.splitlines()]
  assert [(r['export'], r['batch_size']) for r in rows] == [
      (pie, 1), (ot, 1), (pie, 3), (ot, 3)]
  assert all(0 < r['ms_p10'] <= r['ms_median'] <= r['ms_p90'] for r in rows)
