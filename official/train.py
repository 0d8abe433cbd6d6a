r"""Trains an experiment: `python -m official.train --experiment=NAME
--model_dir=DIR [flags]`. Run again with the same flags to resume.

Experiments: revnet_aae_celeba64, revnet_ot_mnist, pie_mnist (see
official/experiments.py for their recipes). `--helpfull` lists every flag.
"""

import dataclasses
import json
import os
import sys

from official import cli  # pylint: disable=g-import-not-at-top

cli.quiet_tensorflow()  # before anything imports TensorFlow

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top

from official import experiments  # pylint: disable=g-import-not-at-top
from official import models  # pylint: disable=g-import-not-at-top
from official.data import pipelines  # pylint: disable=g-import-not-at-top


def _defaults(field, section='train'):
  """'default: the experiment's, NAME VALUE, ...' for a field of its config."""
  values = []
  for name, experiment in sorted(experiments.EXPERIMENTS.items()):
    config = getattr(experiment, section) if section else experiment
    if hasattr(config, field):
      values.append(f'{name} {getattr(config, field):,}'
                    if isinstance(getattr(config, field), int) else
                    f'{name} {getattr(config, field)}')
  return f' (default: the experiment\'s: {", ".join(values)})'


_EXPERIMENT = flags.DEFINE_enum(
    'experiment', 'pie_mnist', sorted(experiments.EXPERIMENTS),
    'Which experiment to train.')
_MODEL_DIR = flags.DEFINE_string(
    'model_dir', None, 'Directory for checkpoints, TensorBoard events, sample '
    'grids and metrics.json. An existing run there is resumed.')
_TRAIN_STEPS = flags.DEFINE_integer(
    'train_steps', None, 'Total training steps.' + _defaults('train_steps'))
_BATCH_SIZE = flags.DEFINE_integer(
    'batch_size', None, 'Global batch size, split evenly over the replicas.'
    + _defaults('batch_size'))
_LEARNING_RATE = flags.DEFINE_float(
    'learning_rate', None, 'Adam learning rate of the flow.'
    + _defaults('learning_rate'))
_CRITIC_LEARNING_RATE = flags.DEFINE_float(
    'critic_learning_rate', None, 'Adam learning rate of the AAE adversary.'
    + _defaults('critic_learning_rate', 'loss'))
_SEED = flags.DEFINE_integer(
    'seed', None, 'Seed of the weights, the data order and all noise.'
    + _defaults('seed'))
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    'checkpoint_every', None, 'Save a checkpoint every this many steps.'
    + _defaults('checkpoint_every'))
_LOG_EVERY = flags.DEFINE_integer(
    'log_every', None, 'Print progress and write scalars every N steps.'
    + _defaults('log_every'))
_STEPS_PER_LOOP = flags.DEFINE_integer(
    'steps_per_loop', None, 'Run this many steps in one compiled call, which '
    'saves the host\'s per-step overhead (fast GPU steps). Logs, summaries, '
    'sample grids, checkpoints and the stop on a signal happen between '
    'calls: at the first loop boundary at or after each multiple of '
    '--log_every, --image_every and --checkpoint_every.'
    + _defaults('steps_per_loop'))
_IMAGE_EVERY = flags.DEFINE_integer(
    'image_every', None, 'Write a sample grid every this many steps.'
    + _defaults('image_every'))
_DATASET = flags.DEFINE_string(
    'dataset', None, 'Data: mnist_bundled (the offline copy in the package), '
    'celeb_a_files (the official CelebA release files in --data_dir), or the '
    'TFDS names mnist and celeb_a.' + _defaults('dataset', None))
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'TFDS data directory; a folder with the four MNIST IDX '
    'files for mnist_bundled; for celeb_a_files the folder holding '
    'img_align_celeba.zip (or its extracted folder) and '
    'list_eval_partition.txt.')
_STRATEGY = flags.DEFINE_enum(
    'strategy', 'mirrored', ['mirrored', 'multi_worker', 'one_device'],
    'mirrored: all visible GPUs, else the CPU (split by --cpu_replicas); '
    'multi_worker: MultiWorkerMirroredStrategy from TF_CONFIG; one_device: '
    'the first GPU, else the CPU.')
_CPU_REPLICAS = flags.DEFINE_integer(
    'cpu_replicas', 1, 'Split the CPU into this many logical devices, so that '
    '--strategy=mirrored runs that many replicas without a GPU.')
_JIT_COMPILE = flags.DEFINE_bool(
    'jit_compile', False, 'Compile the train steps with XLA.')
_TF32 = flags.DEFINE_bool(
    'tf32', False, 'Let NVIDIA GPUs (Ampere and newer) run float32 matmuls '
    'and convolutions in TF32 (about 1e-3 relative error per op). Off: '
    'inversion is the point of these models, and TF32 loosens the round trip '
    '(official.benchmark --tf32 reports it). No effect on CPUs.')
_DETERMINISTIC = flags.DEFINE_bool(
    'deterministic', False, 'Use deterministic TensorFlow ops (slower).')
_EPSILON_SQ = flags.DEFINE_float(
    'epsilon_sq', None, 'PIE: eps^2 of N(r | g(z), eps^2 I) (default: the '
    f'model config\'s, {models.model_config("pie_mnist").epsilon_sq}).')
_RECONSTRUCTION_STEPS = flags.DEFINE_integer(
    'reconstruction_steps', None, 'AAE: steps of the reconstruction phase.'
    + _defaults('reconstruction_steps', 'loss'))
_ADVERSARIAL_STEPS = flags.DEFINE_integer(
    'adversarial_steps', None, 'AAE: steps of the adversarial phase that '
    'follow; sets --train_steps to the sum of both phases.')
_INIT_FROM = flags.DEFINE_string(
    'init_from', None, 'Start a new run from the weights at this path: a '
    'training run\'s folder (its newest readable checkpoint), one of its '
    'checkpoints (RUN/checkpoints/ckpt-N) or an export (NAME/VERSION, e.g. '
    'pretrained/pie_mnist/1). The step and the optimizers start fresh and the '
    'model config must be the same. Ignored when --model_dir already holds a '
    'checkpoint: the run resumes.')
_MODEL_OVERRIDE = flags.DEFINE_multi_string(
    'model_override', [], 'KEY=VALUE replacing a field of the model config, '
    'e.g. conv_hidden=32 or learn_g=False. Repeatable.')


def _model_overrides(model_name):
  overrides = dict(models.parse_overrides(model_name, _MODEL_OVERRIDE.value))
  if _EPSILON_SQ.value is not None:
    if not hasattr(models.model_config(model_name), 'epsilon_sq'):
      raise ValueError(f'--epsilon_sq applies to PIE, not to {model_name}')
    if not _EPSILON_SQ.value > 0:
      raise ValueError(f'--epsilon_sq must be positive, got '
                       f'{_EPSILON_SQ.value}')
    overrides['epsilon_sq'] = _EPSILON_SQ.value
  return tuple(sorted(overrides.items()))


def experiment_from_flags():
  """The experiment config with every flag that was given applied."""
  config = experiments.get_experiment(_EXPERIMENT.value)
  train = {name: flag.value for name, flag in (
      ('train_steps', _TRAIN_STEPS), ('batch_size', _BATCH_SIZE),
      ('learning_rate', _LEARNING_RATE), ('seed', _SEED),
      ('checkpoint_every', _CHECKPOINT_EVERY), ('log_every', _LOG_EVERY),
      ('image_every', _IMAGE_EVERY), ('steps_per_loop', _STEPS_PER_LOOP))
                                   if flag.value is not None}
  loss = {}
  if isinstance(config.loss, experiments.AdversarialConfig):
    if _CRITIC_LEARNING_RATE.value is not None:
      loss['critic_learning_rate'] = _CRITIC_LEARNING_RATE.value
    if _RECONSTRUCTION_STEPS.value is not None:
      loss['reconstruction_steps'] = _RECONSTRUCTION_STEPS.value
    if _ADVERSARIAL_STEPS.value is not None:
      train['train_steps'] = loss.get(
          'reconstruction_steps',
          config.loss.reconstruction_steps) + _ADVERSARIAL_STEPS.value
  elif (_CRITIC_LEARNING_RATE.value, _RECONSTRUCTION_STEPS.value,
        _ADVERSARIAL_STEPS.value) != (None, None, None):
    raise ValueError(f'--critic_learning_rate, --reconstruction_steps and '
                     f'--adversarial_steps apply to revnet_aae_celeba64, not '
                     f'to {config.name}')
  for name, value in train.items():
    if name != 'learning_rate' and name != 'seed' and value <= 0:
      raise ValueError(f'--{name} must be positive, got {value}')
  return dataclasses.replace(
      config, train=dataclasses.replace(config.train, **train),
      loss=dataclasses.replace(config.loss, **loss),
      dataset=_DATASET.value or config.dataset,
      model_overrides=_model_overrides(config.model))


def make_strategy(name, cpu_replicas):
  """The tf.distribute strategy named by --strategy (call before TF starts)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if cpu_replicas > 1:
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
  if name == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  gpus = [d.name for d in tf.config.list_logical_devices('GPU')]
  if name == 'one_device':
    return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else '/cpu:0')
  if gpus:
    return tf.distribute.MirroredStrategy(gpus)
  return tf.distribute.MirroredStrategy(
      [d.name for d in tf.config.list_logical_devices('CPU')])


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.require(flags.FLAGS, 'model_dir')
  logging.set_verbosity(logging.WARNING)
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import trainers  # pylint: disable=g-import-not-at-top
  try:
    config = experiment_from_flags()
    if _JIT_COMPILE.value and _CPU_REPLICAS.value > 1:
      raise ValueError('--jit_compile runs one replica per device: it cannot '
                       'be combined with --cpu_replicas above 1')
    spec = pipelines.InputSpec(config.dataset, _DATA_DIR.value)
    pipelines.check_input_spec(spec)
    strategy = make_strategy(_STRATEGY.value, _CPU_REPLICAS.value)
    tf.config.experimental.enable_tensor_float_32_execution(_TF32.value)
    if _DETERMINISTIC.value:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.train.seed)
    print(f'training {config.name} on {config.dataset} with '
          f'{strategy.num_replicas_in_sync} replica(s) of '
          f'{type(strategy).__name__}, global batch {config.train.batch_size}',
          flush=True)
    trainer = trainers.Trainer(trainers.build_task(config), strategy,
                               _MODEL_DIR.value, spec, _JIT_COMPILE.value,
                               _INIT_FROM.value)
    metrics = trainer.run()
  except trainers.Interrupted as e:
    print(e, flush=True)
    sys.exit(e.exit_status)
  except (trainers.TrainingError, pipelines.DataError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  where = (os.path.join(_MODEL_DIR.value, 'metrics.json') if trainer.is_chief
           else 'worker')
  print(f'done ({where}): {json.dumps(metrics)}', flush=True)


if __name__ == '__main__':
  app.run(main)
