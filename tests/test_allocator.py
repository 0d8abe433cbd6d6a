"""glibc's malloc thresholds: frozen by TensorFlow's tf.data, restored by us."""

import ctypes
import json
import os
import subprocess
import sys

from tests.helpers import REPO
from tests.helpers import train_tiny_run

_libc = ctypes.CDLL('libc.so.6')


class _MallInfo2(ctypes.Structure):
  _fields_ = [(name, ctypes.c_size_t) for name in (
      'arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks '
      'keepcost').split()]


_libc.mallinfo2.restype = _MallInfo2
_libc.malloc.restype = ctypes.c_void_p
_libc.free.argtypes = [ctypes.c_void_p]


def large_block_is_mmapped():
  """Whether glibc serves 1 MiB from mmap (TensorFlow's frozen 128 KiB
  threshold) rather than from the heap (the restored 32 MiB one)."""
  before = _libc.mallinfo2().hblks
  block = _libc.malloc(1 << 20)
  during = _libc.mallinfo2().hblks
  _libc.free(block)
  return during > before


def probe_then_train(model_dir):
  """In a fresh process: whether 1 MiB is mmapped once the loop's first
  batches are made (before anything else: freed heap chunks would serve it
  later), then the results of a tiny seeded PIE run."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official import experiments  # pylint: disable=g-import-not-at-top
  from trainers import loop  # pylint: disable=g-import-not-at-top
  next(loop.training_batches(tf.distribute.MirroredStrategy(['/cpu:0']),
                             experiments.DataConfig('mnist_bundled'), 0, 8))
  mmapped = [large_block_is_mmapped() for _ in range(3)]
  keras.utils.set_random_seed(1234)
  return {'mmapped': mmapped, **tiny_pie_result(model_dir)}


def tiny_pie_result(model_dir):
  trainer = train_tiny_run('pie_mnist', model_dir, steps=3, batch_size=16)
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    metrics = json.load(f)
  return {'losses': metrics['final_losses'],
          'fingerprint': metrics['weights_fingerprint'],
          'step': int(trainer.step.numpy())}


def _in_fresh_process(restore, model_dir):
  script = ('import json, sys; from tests import test_allocator; print(json.'
            'dumps(test_allocator.probe_then_train(sys.argv[1])))')
  done = subprocess.run(
      [sys.executable, '-c', script, model_dir], cwd=REPO, capture_output=True,
      text=True, check=True, env=dict(
          os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO,
          RESTORE_MALLOC_THRESHOLDS=restore))
  return json.loads(done.stdout.splitlines()[-1])


def test_frozen_thresholds_are_restored_and_training_is_bit_identical(
    tmp_path):
  kept = _in_fresh_process('0', str(tmp_path / 'kept'))
  restored = _in_fresh_process('1', str(tmp_path / 'restored'))
  assert kept['mmapped'] == [True, True, True]  # TensorFlow's frozen setting
  assert restored['mmapped'] == [False, False, False]
  assert kept['step'] == restored['step'] == 3
  assert kept['losses'] == restored['losses']
  assert kept['fingerprint'] == restored['fingerprint']
