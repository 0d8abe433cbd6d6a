"""SavedModel export for TF Serving: signatures, CLI, fresh-process reload."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from official import errors
from official import export
from official import serving
from official.run_dir import RunDirError
from tests import forked

SIGNATURES = ['decode', 'decode_full', 'encode', 'encode_full', 'sample',
              'sample_with_temperature', 'serving_default']
OT_SIGNATURES = ['class_gaussians', 'sample_class',
                 'sample_class_with_temperature']


@pytest.fixture(scope='module', params=['pie_mnist', 'revnet_ot_mnist'])
def exported(request, tiny_export, tmp_path_factory):
  """The tiny run's export and model, and a folder for the test's files."""
  name = request.param
  run, path, model = tiny_export(name)
  return name, model, path, run, tmp_path_factory.mktemp(name)


def test_layout_and_signatures_listed_by_saved_model_cli(exported):
  name, model, path, _, _ = exported
  assert path.endswith(os.path.join('exports', name, '1'))
  shown = forked.run(
      [forked.SAVED_MODEL_CLI, 'show', '--dir', path, '--all'],
      capture_output=True, text=True, check=True).stdout
  expected = SIGNATURES + (['log_prob', 'sample_density']
                          if name == 'pie_mnist' else OT_SIGNATURES)
  for signature in expected:
    assert f"signature_def['{signature}']" in shown
  assert "inputs['num_samples']" in shown and "outputs['images']" in shown


def test_saved_model_cli_run_on_npy(exported):
  _, model, path, _, scratch = exported
  codes = np.random.default_rng(0).standard_normal(
      (3, model.code_size)).astype(np.float32) * 0.5
  np.save(scratch / 'codes.npy', codes)
  forked.run(
      [forked.SAVED_MODEL_CLI, 'run', '--dir', path, '--tag_set', 'serve',
       '--signature_def', 'decode_full', '--inputs',
       f'codes={scratch / "codes.npy"}',
       '--outdir', str(scratch / 'cli_out'), '--overwrite'],
      capture_output=True, check=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  images = np.load(scratch / 'cli_out' / 'images.npy')
  np.testing.assert_allclose(images, model.decode_full(codes), atol=1e-6)


_RELOAD = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])
s = loaded.signatures
out = {'codes': s['encode'](images=images)['codes'],
       'full': s['encode_full'](images=images)['codes'],
       'sample': s['sample'](num_samples=tf.constant(4),
                             seed=tf.constant(7, tf.int64))['images']}
out['decoded'] = s['decode'](codes=out['codes'])['images']
if 'log_prob' in s:
  out['log_prob'] = s['log_prob'](images=images)['log_prob']
  out['sample_density'] = s['sample_density'](
      num_samples=tf.constant(4), seed=tf.constant(7, tf.int64),
      temperature=tf.constant(0.5))['images']
if 'sample_class' in s:
  out['sample_class'] = s['sample_class'](
      labels=tf.constant([3, 3, 9]), seed=tf.constant(7, tf.int64))['images']
  out['class_means'] = s['class_gaussians']()['means']
# Chains of calls on a loaded object that nothing holds, as in the README.
out['chained_sample'] = tf.saved_model.load(sys.argv[1]).sample(
    num_samples=4, seed=7, temperature=0.5)['images']
out['chained_codes'] = tf.saved_model.load(sys.argv[1]).encode(
    images=images)['codes']
if 'sample_class' in s:
  out['chained_class'] = tf.saved_model.load(sys.argv[1]).sample_class(
      labels=[3, 3, 9], seed=7)['images']
np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
"""


def test_fresh_process_reproduces_in_memory_outputs(exported):
  name, model, path, _, scratch = exported
  images = np.random.default_rng(1).uniform(
      size=(5,) + model.image_shape).astype(np.float32)
  np.save(scratch / 'images.npy', images)
  subprocess.run([sys.executable, '-c', _RELOAD, path,
                  str(scratch / 'images.npy'), str(scratch / 'out.npz')],
                 check=True, capture_output=True,
                 env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  out = np.load(scratch / 'out.npz')
  module, _ = serving.serving_module(model)  # the same graphs, in memory
  codes = module.encode(images)['codes']
  close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
  close(out['codes'], codes)
  close(out['full'], module.encode_full(images)['codes'])
  close(out['decoded'], module.decode(codes)['images'])
  close(out['sample'], module.sample(tf.constant(4),
                                     tf.constant(7, tf.int64))['images'])
  if name == 'pie_mnist':
    close(out['log_prob'], module.log_prob(images)['log_prob'])
    np.testing.assert_allclose(out['sample_density'], model.sample(
        4, seed=7, temperature=0.5, density=True), rtol=1e-4, atol=1e-5)
  else:
    np.testing.assert_allclose(out['sample_class'], model.sample(
        3, tf.constant([3, 3, 9]), seed=7), rtol=1e-4, atol=1e-5)
    close(out['chained_class'], out['sample_class'])
    close(out['class_means'], model.class_means)
  close(out['chained_codes'], codes)
  np.testing.assert_allclose(out['chained_sample'], model.sample(
      4, seed=7, temperature=0.5), rtol=1e-4, atol=1e-5)
  assert not np.allclose(out['chained_sample'], out['sample'], atol=1e-3)
  np.testing.assert_allclose(out['sample'], model.sample(4, seed=7),
                             rtol=1e-4, atol=1e-5)
  # Eager calls agree too, up to float32 reordering.
  np.testing.assert_allclose(out['full'], model.encode_full(images),
                             rtol=1e-4, atol=1e-5)


def test_wrongly_shaped_input_is_rejected(exported):
  _, model, path, _, _ = exported
  loaded = tf.saved_model.load(path)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'images must have shape \(N, 28, 28, 1\)'):
    loaded.signatures['encode'](images=tf.zeros([2, 30, 30, 1]))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'codes must have shape \(N, '):
    loaded.signatures['decode_full'](codes=tf.zeros([2, 5]))
  # The loaded object's own methods take any shape and say which one fits.
  for shape in ([2, 28, 28], [2, 30, 30, 1], [5]):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r'images must have shape \(N, 28, 28, 1\), '
                       r'got\] \[' + ' '.join(map(str, shape))):
      loaded.encode(images=tf.zeros(shape))
  if 'sample_class' in loaded.signatures:
    for labels in ([0, 10], [-1]):
      with pytest.raises(tf.errors.InvalidArgumentError,
                         match=r'labels must be in 0\.\.9'):
        loaded.signatures['sample_class'](labels=tf.constant(labels),
                                          seed=tf.constant(0, tf.int64))


def test_missing_or_foreign_checkpoint_fails_clearly(exported, tmp_path):
  name, _, path, run, _ = exported
  with pytest.raises(RunDirError, match='no training run in'):
    export.export(name, str(tmp_path), str(tmp_path / 'out'))
  other = 'pie_mnist' if name != 'pie_mnist' else 'revnet_ot_mnist'
  with pytest.raises(RunDirError,
                     match=f"holds a run of experiment '{name}', not '{other}'"):
    export.export(other, run, str(tmp_path / 'out'))
  with pytest.raises(errors.ExportError, match='exists; choose another'):
    export.export(name, run, os.path.dirname(os.path.dirname(path)),
                  version=1)
  # Without a name, the experiment the run records.
  assert export.export(None, run, str(tmp_path / 'mine')) == str(
      tmp_path / 'mine' / name / '1')


def test_library_names_of_the_program_warn_and_are_the_serving_ones():
  for name in export._MOVED_TO_SERVING:  # pylint: disable=protected-access
    with pytest.warns(DeprecationWarning, match=f'official.serving.{name}'):
      assert getattr(export, name) is getattr(serving, name)
  with pytest.raises(AttributeError, match='no attribute'):
    export.no_such_name  # pylint: disable=pointless-statement
