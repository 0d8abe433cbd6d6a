"""The trainers: distribution, resume after SIGKILL, guards, CelebA input."""

import dataclasses
import functools
import json
import os
import socket
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import trainers
from official import experiments
from official import models
from official.data import pipelines
from tests import forked
from tests.helpers import REPO
from tests.helpers import tiny_config
from tests.helpers import tiny_overrides

TINY_REVNET = tiny_overrides('revnet_ot_mnist')
TINY_PIE = tiny_overrides('pie_mnist')


def _config(name, batch_size, steps, overrides, **task):
  return tiny_config(name, {
      'trainer.batch_size': batch_size, 'trainer.train_steps': steps,
      'trainer.checkpoint_every': 1, 'trainer.log_every': 1,
      'trainer.image_every': 1000,
      **{f'task.{key}': value for key, value in task.items()}}, overrides)


@functools.lru_cache(maxsize=None)
def _strategy(replicas):
  # One strategy per replica count for the whole session: several
  # MirroredStrategy instances in one process can clash in their collectives.
  return tf.distribute.MirroredStrategy(
      [f'/cpu:{i}' for i in range(replicas)])


def _train(config, replicas, model_dir, jit_compile=False):
  keras.utils.set_random_seed(0)
  config = experiments.override(config, {'runtime.jit_compile': jit_compile})
  trainer = trainers.Trainer(trainers.build_task(config), _strategy(replicas),
                             str(model_dir))
  metrics = trainer.run()
  return trainer, metrics


@pytest.mark.parametrize('name, overrides, loss', [
    ('revnet_ot_mnist', TINY_REVNET, {'init_examples': 40}),
    ('pie_mnist', TINY_PIE, {}),
])
def test_two_replicas_equal_one_on_the_same_global_batch(name, overrides, loss,
                                                         tmp_path):
  config = _config(name, batch_size=40, steps=1, overrides=overrides, **loss)
  one, one_metrics = _train(config, 1, tmp_path / 'one')
  two, two_metrics = _train(config, 2, tmp_path / 'two')
  assert two.strategy.num_replicas_in_sync == 2
  np.testing.assert_allclose(two_metrics['final_losses']['loss'],
                             one_metrics['final_losses']['loss'], rtol=1e-5)
  # Adam's first step is lr * g / (|g| + eps) per entry: for entries of g
  # near 0 it turns the replicas' float rounding into a visible move (1.5e-5
  # measured once on one of a tiny PIE's weights, 2026-12-07); 1e-4 is a
  # tenth of the step.
  for a, b in zip(one.model.weights, two.model.weights):
    np.testing.assert_allclose(np.asarray(b.value), np.asarray(a.value),
                               rtol=1e-5, atol=1e-4)
  assert one_metrics['final_losses']['grad_norm'] > 0
  assert two.optimizers['optimizer'].iterations.numpy() == 1


def test_xla_compiled_steps_train_like_the_plain_ones(tmp_path):
  # The second step's loss (13.5 against 15.4 at the first) shows that the
  # first update was applied alike. Weights are not compared one by one:
  # Adam's first steps move a weight by about the learning rate however
  # small its gradient, so where a gradient is near zero the two
  # compilations' rounding can send it the other way.
  config = _config('pie_mnist', batch_size=16, steps=2, overrides=TINY_PIE)
  _, plain_metrics = _train(config, 1, tmp_path / 'plain')
  xla, xla_metrics = _train(config, 1, tmp_path / 'xla', jit_compile=True)
  for name in ('loss', 'grad_norm'):
    np.testing.assert_allclose(xla_metrics['final_losses'][name],
                               plain_metrics['final_losses'][name], rtol=1e-3)
  assert xla.optimizers['optimizer'].iterations.numpy() == 2


def test_foreign_run_in_model_dir_is_refused_and_left_intact(tmp_path):
  _train(_config('pie_mnist', 8, 1, TINY_PIE), 1, tmp_path)
  files = {name: (tmp_path / 'checkpoints' / name).read_bytes()
           for name in os.listdir(tmp_path / 'checkpoints')}
  config = _config('revnet_ot_mnist', 20, 1, TINY_REVNET, init_examples=20)
  with pytest.raises(trainers.TrainingError,
                     match="holds a run of experiment 'pie_mnist', not "
                     "'revnet_ot_mnist'"):
    _train(config, 1, tmp_path)
  os.remove(tmp_path / 'experiment.json')
  with pytest.raises(trainers.TrainingError,
                     match='holds a checkpoint but no experiment.json'):
    _train(config, 1, tmp_path)
  assert files == {name: (tmp_path / 'checkpoints' / name).read_bytes()
                   for name in os.listdir(tmp_path / 'checkpoints')}


def test_adversarial_autoencoder_runs_both_phases_on_two_replicas(tmp_path):
  stages = tuple(models.RevNetStage(4, 1, k) for k in (3, 3, 3, 3, 3, 1))
  config = _config('revnet_aae_celeba64', batch_size=4, steps=3,
                   overrides={'stages': stages, 'num_prior_dims': 8},
                   reconstruction_steps=1, init_batches=2)
  with tfds.testing.mock_data(num_examples=16):
    trainer, metrics = _train(config, 2, tmp_path)
  assert set(metrics['final_losses']) >= {'l1', 'l2', 'encoder', 'critic'}
  assert all(np.isfinite(v) for v in metrics['final_losses'].values())
  critic = trainer.task.critic
  assert trainer.optimizers['critic_optimizer'].iterations.numpy() == 2
  assert trainer.optimizers['optimizer'].iterations.numpy() == 3
  assert len(critic.non_trainable_weights) == 3
  assert os.path.exists(tmp_path / 'samples.png')


def test_celeba_pipeline_crops_the_face_and_resizes(tmp_path):
  image = np.zeros((218, 178, 3), np.uint8)
  image[39:179, 19:159] = 255  # exactly the central 140x140
  out = pipelines.celeba_preprocess(tf.constant(image))
  assert out.shape == (64, 64, 3) and out.dtype == tf.float32
  np.testing.assert_allclose(out, 1., atol=1e-6)
  image[39:179, 19:89] = 0  # left half of the crop dark
  out = pipelines.celeba_preprocess(tf.constant(image)).numpy()
  assert out[:, :31].max() < 1e-6 and out[:, 33:].min() > 1 - 1e-6
  with tfds.testing.mock_data(num_examples=12):
    dataset = pipelines.make_dataset_fn(
        experiments.DataConfig('celeb_a'), seed=0, global_batch=4)(None)
    images, _ = next(iter(dataset))
  assert images.shape == (4, 64, 64, 3)
  assert 0. <= images.numpy().min() and images.numpy().max() <= 1.


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  config = _config('pie_mnist', batch_size=8, steps=5, overrides=TINY_PIE)
  task = trainers.build_task(config)
  train_step = task.train_step

  def poisoned(model, optimizers, batch, step, phase):
    images, labels = batch
    images = tf.where(step >= 2, images * np.nan, images)
    return train_step(model, optimizers, (images, labels), step, phase)

  task.train_step = poisoned
  trainer = trainers.Trainer(task, _strategy(1), str(tmp_path))
  with pytest.raises(trainers.TrainingError,
                     match=r'non-finite loss at step 2 .*ckpt-2 is kept'):
    trainer.run()
  assert tf.train.latest_checkpoint(str(tmp_path / 'checkpoints')).endswith(
      'ckpt-2')


def _final_state(model_dir):
  """Every value of the newest checkpoint (weights, Adam's moments, step)
  but the count of saves."""
  reader = tf.train.load_checkpoint(os.path.join(model_dir, 'checkpoints'))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.endswith('VARIABLE_VALUE') and not k.startswith('save_counter')}


@pytest.mark.parametrize('args, message', [
    (['--experiment=nope'], "unknown experiment 'nope'; valid names: pie,"),
    (['--experiment=revnet_ot_mnist', '--batch_size=1005'],
     'batch_size 1005 is not a multiple of the 10 classes'),
    (['--dataset=imagenet'], "unknown dataset 'imagenet'"),
    (['--dataset=mnist_bundled', '--data_dir=/nonexistent/mnist'],
     'data_dir does not exist: /nonexistent/mnist'),
    (['--model_dir=/etc/hostname/run'], 'model_dir is not writable'),
    (['--epsilon_sq=-1'], 'model.epsilon_sq must be positive, got -1.0'),
    (['--params_override=trainer.batch_size=0'],
     'trainer.batch_size must be positive, got 0'),
    (['--model_override=conv_hidden=wide'],
     'conv_hidden takes a value of type int'),
    (['--experiment=revnet_ot_mnist', '--jit_compile'],
     '--jit_compile is not available for revnet_ot_mnist'),
    (['--jit_compile', '--cpu_replicas=2'],
     'cannot be combined with --cpu_replicas above 1'),
    (['--params_override=runtime.strategy=tpu'],
     "runtime.strategy must be one of mirrored, multi_worker, one_device, "
     "got 'tpu'"),
])
def test_bad_command_lines_fail_in_one_line(args, message, tmp_path):
  command = [sys.executable, '-m', 'official.train', '--experiment=pie_mnist',
             f'--model_dir={tmp_path}/run', '--train_steps=1'] + args
  result = forked.run(command, cwd=REPO, capture_output=True, text=True,
                      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert result.returncode != 0
  lines = result.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), lines
  assert message in lines[0]
  assert not os.path.exists(tmp_path / 'run')  # a refused run leaves nothing


def test_a_config_file_sets_fields_and_the_flags_go_on_top(tmp_path):
  (tmp_path / 'tiny.yaml').write_text(
      '# PIE at toy size\n'
      'model: {conv_hidden: 8, dense_hidden: 16, steps: 1, epsilon_sq: 0.1}\n'
      'trainer:\n  train_steps: 1\n  batch_size: 8\n  image_every: 1000\n')
  command = [sys.executable, '-m', 'official.train', '--experiment=pie_mnist',
             f'--config_file={tmp_path / "tiny.yaml"}', '--batch_size=4']
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  forked.run(command + [f'--model_dir={tmp_path / "run"}'], cwd=REPO,
             env=env, check=True, capture_output=True)
  with open(tmp_path / 'run' / 'experiment.json') as f:
    recorded = json.load(f)
  recorded = recorded['config']
  assert recorded['model']['conv_hidden'] == 8
  assert recorded['model']['epsilon_sq'] == 0.1
  assert recorded['trainer']['train_steps'] == 1
  assert recorded['trainer']['batch_size'] == 4  # the flag, after the file
  assert recorded['runtime'] == {'class': 'RuntimeConfig',
                                 'strategy': 'mirrored', 'cpu_replicas': 1,
                                 'jit_compile': False, 'tf32': False,
                                 'mixed_precision': False,
                                 'deterministic': False, 'init_from': None}
  (tmp_path / 'list.json').write_text('[1, 2]')
  (tmp_path / 'typo.json').write_text('{"trainer": {"batch_sise": 4}}')
  for name, message in (
      ('list.json', 'list.json must map sections (task, model, data, '
                    'trainer, runtime) to their fields'),
      ('typo.json', "bad override 'trainer.batch_sise'"),
      ('missing.yaml', 'cannot read the config file '
                       f'{tmp_path / "missing.yaml"}: No such file')):
    refused = tmp_path / f'refused_{name}'
    done = forked.run(
        [a.replace('tiny.yaml', name) for a in command] + [
            f'--model_dir={refused}'], cwd=REPO, env=env,
        capture_output=True, text=True)
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert message in lines[0]
    assert not os.path.exists(refused)  # a refused run leaves nothing


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


_SMALL_PIE_RUN = ['--experiment=pie_mnist', '--train_steps=4', '--batch_size=16',
                  '--checkpoint_every=2', '--model_override=conv_hidden=8',
                  '--model_override=dense_hidden=16',
                  '--model_override=steps=1']


def _done(output):
  return json.loads(next(line for line in output.splitlines()
                         if line.startswith('done')).split(': ', 1)[1])


def test_each_worker_reads_its_own_rows_of_the_global_batch():
  data = experiments.DataConfig('mnist_bundled')
  fn = pipelines.make_dataset_fn(data, 5, 16)
  whole = next(iter(fn(None)))[0].numpy()
  parts = [next(iter(fn(tf.distribute.InputContext(
      num_input_pipelines=2, input_pipeline_id=k, num_replicas_in_sync=2))))[0]
           .numpy() for k in (0, 1)]
  assert [len(p) for p in parts] == [8, 8]
  np.testing.assert_array_equal(np.concatenate(parts), whole)
  flat = [p.reshape(len(p), -1) for p in parts]
  assert min(np.abs(a - b).max() for a in flat[0] for b in flat[1]) > 0


def test_two_workers_train_as_one_process_of_two_replicas_and_only_the_chief_writes(
    tmp_path):
  ports = [_free_port(), _free_port()]
  cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
  model_dir = tmp_path / 'run'
  workers = []
  for index in range(2):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO,
               TF_CONFIG=json.dumps({'cluster': cluster, 'task': {
                   'type': 'worker', 'index': index}}))
    workers.append(forked.Popen(
        [sys.executable, '-m', 'official.train', *_SMALL_PIE_RUN,
         f'--model_dir={model_dir}', '--strategy=multi_worker'], env=env,
        cwd=REPO, stdout=forked.PIPE, stderr=forked.STDOUT, text=True))
  outputs = [w.communicate(timeout=300)[0] for w in workers]
  assert [w.returncode for w in workers] == [0, 0], outputs
  done = [_done(out) for out in outputs]
  assert 'with 2 replica(s)' in outputs[0]
  assert done[0]['weights_fingerprint'] == done[1]['weights_fingerprint']
  assert done[0]['final_losses'] == done[1]['final_losses']
  # One process with the same two replicas on the same global batch.
  single = forked.run(
      [sys.executable, '-m', 'official.train', *_SMALL_PIE_RUN,
       f'--model_dir={tmp_path / "one"}', '--cpu_replicas=2'],
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO),
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert single.returncode == 0, single.stderr[-2000:]
  one = _done(single.stdout)
  assert one['weights_fingerprint'] == pytest.approx(
      done[0]['weights_fingerprint'], rel=1e-6)
  for key, value in one['final_losses'].items():
    assert value == pytest.approx(done[0]['final_losses'][key], rel=1e-5), key
  assert sorted(os.listdir(model_dir / 'checkpoints')) == [
      'checkpoint', 'ckpt-0.data-00000-of-00001', 'ckpt-0.index',
      'ckpt-2.data-00000-of-00001', 'ckpt-2.index',
      'ckpt-4.data-00000-of-00001', 'ckpt-4.index']
  assert len(os.listdir(model_dir / 'train')) == 1  # one events file
  assert not os.path.exists(model_dir / 'scratch')


def test_override_values_take_the_type_of_the_field():
  ot = experiments.get_experiment('revnet_ot_mnist')
  changed = experiments.override(ot, {
      'model.stages': '((4,1),(6,1,1))', 'trainer.batch_size': '20',
      'task.init_examples': 5, 'data.image_size': '32x30',
      'trainer.optimizer.learning_rate': 1})
  assert changed.model.stages == (models.RevNetStage(4, 1),
                                  models.RevNetStage(6, 1, 1))
  assert (changed.trainer.batch_size, changed.task.init_examples,
          changed.data.image_size) == (20, 5, (32, 30))
  assert isinstance(changed.trainer.optimizer.learning_rate, float)
  assert changed.model.num_classes == ot.model.num_classes  # the rest kept
  with pytest.raises(ValueError, match='give a tuple of RevNetStage fields'):
    experiments.override(ot, {'model.stages': '(4,1)'})
  with pytest.raises(ValueError, match='model.learn_g takes a value of type '
                     'bool'):
    experiments.override(experiments.get_experiment('pie'),
                         {'model.learn_g': 1})
  with pytest.raises(ValueError, match='RevNetConfig of revnet_ot_mnist has '
                     'the fields .*memory_saving'):
    experiments.override(ot, {'model.epsilon_sq': 0.1})
  with pytest.raises(ValueError, match='SECTION one of task, model, data, '
                     'trainer'):
    experiments.override(ot, {'loss.perturbation_std': 0.1})


@pytest.mark.parametrize('beta_1, dtype, tolerance', [
    (0., 'float64', 1e-12), (0.5, 'float64', 1e-12),
    # The fused op rounds 1 - beta_2 in float32, Keras in Python floats.
    (0.5, 'float32', 1e-6)])
def test_adam_matches_keras_adam_and_drops_the_momentum_slot_at_beta_1_zero(
    beta_1, dtype, tolerance):
  rng = np.random.default_rng(0)
  start = [rng.normal(size=(3, 4)).astype(dtype),
           rng.normal(size=(5,)).astype(dtype)]
  ours_vars = [tf.Variable(v) for v in start]
  keras_vars = [tf.Variable(v) for v in start]
  ours = trainers.adam.Adam(0.1, beta_1=beta_1, beta_2=0.9)
  reference = keras.optimizers.Adam(0.1, beta_1=beta_1, beta_2=0.9)
  for _ in range(5):
    grads = [rng.normal(size=v.shape).astype(dtype) for v in start]
    ours.apply_gradients(zip(grads, ours_vars))
    reference.apply_gradients(zip(grads, keras_vars))
  for a, b, s in zip(ours_vars, keras_vars, start):
    assert np.abs(a.numpy() - s).max() > 0.1  # the variables did move
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tolerance,
                               atol=tolerance)
  slots = 1 if beta_1 == 0 else 2
  assert (len(ours.variables) - len(reference.variables)
          == (slots - 2) * len(start))


# The adversarial autoencoder changes phase at step 5: loops of 4 steps stop
# there (0-3, 4, 5-8, 9), and the resumed run restarts inside the first phase.
_AAE_PHASES = {'task.reconstruction_steps': 5, 'task.init_batches': 2}


@pytest.mark.parametrize('name, items', [
    ('pie_mnist', None), ('revnet_ot_mnist', None),
    ('revnet_aae_mnist', _AAE_PHASES)])
def test_steps_per_loop_trains_exactly_as_one_step_per_call(name, items,
                                                             tmp_path):
  from tests.helpers import train_tiny_run  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(7)  # the same initial weights for both
  train_tiny_run(name, tmp_path / 'one', steps=10, items=items)
  keras.utils.set_random_seed(7)
  if items:  # stopped in the first phase, resumed across the second
    train_tiny_run(name, tmp_path / 'four', steps=3, steps_per_loop=4,
                   items=items)
  loops = train_tiny_run(name, tmp_path / 'four', steps=10, steps_per_loop=4,
                         items=items)
  assert int(loops.step.numpy()) == 10  # loops of 4, 4 and 2 steps
  a, b = _final_state(tmp_path / 'one'), _final_state(tmp_path / 'four')
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_allclose(b[key], a[key], rtol=1e-6, atol=1e-7,
                               err_msg=key)
  with open(tmp_path / 'four' / 'metrics.json') as f:
    four = json.load(f)
  with open(tmp_path / 'one' / 'metrics.json') as f:
    assert json.load(f)['final_losses'] == four['final_losses']


def test_a_resumed_run_names_each_setting_it_changes(tmp_path, capsys):
  from tests.helpers import train_tiny_run  # pylint: disable=g-import-not-at-top
  train_tiny_run('pie_mnist', tmp_path, steps=1, batch_size=8)
  capsys.readouterr()
  train_tiny_run('pie_mnist', tmp_path, steps=2, batch_size=16,
                 items={'trainer.optimizer.learning_rate': 1e-4})
  notes = [line for line in capsys.readouterr().out.splitlines()
           if line.startswith('note:')]
  # More steps is how a run is extended: no note for those.
  assert notes == [
      f'note: trainer.batch_size is 16; the run in {tmp_path} recorded 8',
      f'note: trainer.optimizer.learning_rate is 0.0001; the run in '
      f'{tmp_path} '
      'recorded 0.001'], notes


def test_each_optimizer_is_one_nested_config_reached_by_dotted_keys():
  aae = experiments.get_experiment('revnet_aae_mnist')
  changed = experiments.override(aae, {
      'trainer.critic_optimizer.learning_rate': '1e-3',
      'trainer.optimizer': {'beta_2': 0.99}})
  assert changed.trainer.critic_optimizer == dataclasses.replace(
      aae.trainer.critic_optimizer, learning_rate=1e-3)
  assert changed.trainer.optimizer == dataclasses.replace(
      aae.trainer.optimizer, beta_2=0.99)
  assert [name for name, _, _ in experiments.differences(
      aae.trainer, changed.trainer)] == ['optimizer.beta_2',
                                         'critic_optimizer.learning_rate']
  with pytest.warns(DeprecationWarning, match='now trainer.optimizer.beta_1'):
    moved = experiments.override(aae, {'trainer.beta_1': 0.5})
  assert moved.trainer.optimizer.beta_1 == 0.5
  pie = experiments.get_experiment('pie_mnist')
  with pytest.raises(ValueError, match='pie_mnist has no critic_optimizer'):
    experiments.override(pie, {'trainer.critic_optimizer.learning_rate': 1.})
  given = experiments.override(
      pie, {'trainer.critic_optimizer': "{'learning_rate': 1e-3}"})
  assert given.trainer.critic_optimizer == experiments.OptimizerConfig(1e-3)
  with pytest.raises(ValueError, match='must be positive'):
    experiments.override(aae, {'trainer.critic_optimizer.learning_rate': 0})
  with pytest.raises(ValueError, match='OptimizerConfig of revnet_aae_mnist '
                     'has the fields beta_1, beta_2, learning_rate'):
    experiments.override(aae, {'trainer.optimizer.lr': 1.})


def test_a_config_recorded_before_the_optimizers_were_nested_reads_as_now():
  aae = experiments.get_experiment('revnet_aae_mnist')
  recorded = experiments.to_json(aae)
  optimizer = recorded['trainer'].pop('optimizer')
  recorded['trainer'].update(optimizer)  # flat, as runs recorded it before
  recorded['task']['critic_learning_rate'] = recorded['trainer'].pop(
      'critic_optimizer')['learning_rate']
  assert experiments.from_json({'config': recorded}) == aae
