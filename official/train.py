r"""Trains an experiment: `python -m official.train --experiment=NAME
--model_dir=DIR [flags]`. Run again with the same flags to resume.

Experiments: the papers' presets revnet_aae_celeba64, revnet_ot_mnist and
pie_mnist, and revnet_aae, revnet_ot and pie, which build their model for the
data's image size (see official/experiments.py). `--helpfull` lists every
flag.
"""

import json
import os
import sys

from official import cli  # pylint: disable=g-import-not-at-top

cli.quiet_tensorflow()  # before anything imports TensorFlow

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top

from official import config_flags  # pylint: disable=g-import-not-at-top
from official import errors  # pylint: disable=g-import-not-at-top
from official import experiments  # pylint: disable=g-import-not-at-top
from official.data import pipelines  # pylint: disable=g-import-not-at-top


# The warm-up of a run that starts from trained weights (--init_from),
# measured on the shipped PIE (docs/training.md).
INIT_FROM_WARMUP_STEPS = 100


def _defaults(key):
  """'default: the experiment's, NAME VALUE, ...' for the field at dotted
  `key` of the experiments that have it."""
  values = []
  for name in experiments.experiment_names():
    value = experiments.value_at(experiments.get_experiment(name), key)
    if value is not None:
      values.append(f'{name} {value:,}' if isinstance(value, int) and
                    not isinstance(value, bool) else f'{name} {value}')
  return f' (default: the experiment\'s: {", ".join(values)})'


config_flags.define('pie_mnist')
_MODEL_DIR = flags.DEFINE_string(
    'model_dir', None, 'Directory for checkpoints, TensorBoard events, sample '
    'grids and metrics.json. An existing run there is resumed.')
_TRAIN_STEPS = flags.DEFINE_integer(
    'train_steps', None,
    'Total training steps.' + _defaults('trainer.train_steps'))
_BATCH_SIZE = flags.DEFINE_integer(
    'batch_size', None, 'Global batch size, split evenly over the replicas.'
    + _defaults('trainer.batch_size'))
_LEARNING_RATE = flags.DEFINE_float(
    'learning_rate', None, 'Adam learning rate of the model.'
    + _defaults('trainer.optimizer.learning_rate'))
_WARMUP_STEPS = flags.DEFINE_integer(
    'warmup_steps', None, 'Raise every learning rate linearly from 0 over '
    'this many steps (default: 0; with --init_from, '
    f'{INIT_FROM_WARMUP_STEPS}: Adam\'s first steps at the full rate wreck '
    'trained weights).', lower_bound=0)
_CRITIC_LEARNING_RATE = flags.DEFINE_float(
    'critic_learning_rate', None, 'Adam learning rate of the AAE adversary.'
    + _defaults('trainer.critic_optimizer.learning_rate'))
_SEED = flags.DEFINE_integer(
    'seed', None, 'Seed of the weights, the data order and all noise.'
    + _defaults('trainer.seed'))
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    'checkpoint_every', None, 'Save a checkpoint every this many steps.'
    + _defaults('trainer.checkpoint_every'))
_LOG_EVERY = flags.DEFINE_integer(
    'log_every', None, 'Print progress and write scalars every N steps.'
    + _defaults('trainer.log_every'))
_STEPS_PER_LOOP = flags.DEFINE_integer(
    'steps_per_loop', None, 'Run this many steps in one compiled call, which '
    'saves the host\'s per-step overhead (fast GPU steps). Logs, summaries, '
    'sample grids, checkpoints and the stop on a signal happen between '
    'calls: at the first loop boundary at or after each multiple of '
    '--log_every, --image_every and --checkpoint_every.'
    + _defaults('trainer.steps_per_loop'))
_IMAGE_EVERY = flags.DEFINE_integer(
    'image_every', None, 'Write a sample grid every this many steps.'
    + _defaults('trainer.image_every'))
_DATASET = flags.DEFINE_string(
    'dataset', None, 'Data: ' + '; '.join(
        f'{name} ({entry.help})' for name, entry in
        pipelines.DATASETS.items()) + '; or any TFDS image dataset by its '
    'name (fashion_mnist, cifar10, ...).' + _defaults('data.dataset'))
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'image_folder: the folder of images (a subfolder per '
    'class, or flat; test/ holds the held-out images, else every 10th image '
    'is held out); npz: the file; TFDS names: a prepared TFDS data '
    'directory; mnist_bundled: a folder with the four MNIST IDX files; '
    'celeb_a_files: the folder holding img_align_celeba.zip (or its '
    'extracted folder) and list_eval_partition.txt.')
_IMAGE_SIZE = flags.DEFINE_string(
    'image_size', None, 'N or HxW: images are centre-cropped to that aspect '
    'ratio and area-resized (default: the model\'s for the papers\' '
    'presets, else the data\'s own when all images share it).')
_CHANNELS = flags.DEFINE_enum(
    'channels', None, ['1', '3'], 'Grayscale (1) or RGB (3); images are '
    'converted (default: as --image_size; 3 when any image is in colour).')
_STRATEGY = flags.DEFINE_enum(
    'strategy', None, list(experiments.STRATEGIES),
    'mirrored (the default): all visible GPUs, else the CPU (split by '
    '--cpu_replicas); multi_worker: MultiWorkerMirroredStrategy from '
    'TF_CONFIG; one_device: the first GPU, else the CPU.')
_CPU_REPLICAS = flags.DEFINE_integer(
    'cpu_replicas', None, 'Split the CPU into this many logical devices, so '
    'that --strategy=mirrored runs that many replicas without a GPU '
    '(default: 1).')
_JIT_COMPILE = flags.DEFINE_bool(
    'jit_compile', None, 'Compile the train steps with XLA (default: off).')
_TF32 = flags.DEFINE_bool(
    'tf32', None, 'Let NVIDIA GPUs (Ampere and newer) run float32 matmuls '
    'and convolutions in TF32 (about 1e-3 relative error per op). Off by '
    'default: inversion is the point of these models, and TF32 loosens the '
    'round trip (official.benchmark --tf32 reports it). No effect on CPUs.')
_MIXED_PRECISION = flags.DEFINE_bool(
    'mixed_precision', None, 'Run the coupling networks in bfloat16 with '
    'float32 weights (Keras\' mixed_bfloat16 policy); the couplings\' '
    'additions and scalings, the log-determinants and the losses stay in '
    'float32. Faster where bfloat16 matmuls are (GPUs from Ampere on, CPUs '
    'with AVX512_BF16 or AMX); the round trip loosens for PIE '
    '(docs/training.md; default: off).')
_DETERMINISTIC = flags.DEFINE_bool(
    'deterministic', None, 'Use deterministic TensorFlow ops (slower; '
    'default: off).')
_EPSILON_SQ = flags.DEFINE_float(
    'epsilon_sq', None, 'PIE: eps^2 of N(r | g(z), eps^2 I); the same as '
    '--params_override=model.epsilon_sq=X.' + _defaults('model.epsilon_sq'))
_RECONSTRUCTION_STEPS = flags.DEFINE_integer(
    'reconstruction_steps', None, 'AAE: steps of the reconstruction phase.'
    + _defaults('task.reconstruction_steps'))
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
    'model_override', [], 'KEY=VALUE: the same as '
    '--params_override=model.KEY=VALUE, e.g. conv_hidden=32 or learn_g=False. '
    'Repeatable.')

# The short flags and the config fields they set.
_ALIASES = (
    (_TRAIN_STEPS, 'trainer.train_steps'), (_BATCH_SIZE, 'trainer.batch_size'),
    (_LEARNING_RATE, 'trainer.optimizer.learning_rate'),
    (_CRITIC_LEARNING_RATE, 'trainer.critic_optimizer.learning_rate'),
    (_SEED, 'trainer.seed'), (_CHECKPOINT_EVERY, 'trainer.checkpoint_every'),
    (_LOG_EVERY, 'trainer.log_every'), (_IMAGE_EVERY, 'trainer.image_every'),
    (_STEPS_PER_LOOP, 'trainer.steps_per_loop'),
    (_WARMUP_STEPS, 'trainer.warmup_steps'),
    (_RECONSTRUCTION_STEPS, 'task.reconstruction_steps'),
    (_EPSILON_SQ, 'model.epsilon_sq'), (_DATASET, 'data.dataset'),
    (_DATA_DIR, 'data.data_dir'), (_IMAGE_SIZE, 'data.image_size'),
    (_CHANNELS, 'data.channels'), (_STRATEGY, 'runtime.strategy'),
    (_CPU_REPLICAS, 'runtime.cpu_replicas'),
    (_JIT_COMPILE, 'runtime.jit_compile'), (_TF32, 'runtime.tf32'),
    (_MIXED_PRECISION, 'runtime.mixed_precision'),
    (_DETERMINISTIC, 'runtime.deterministic'),
    (_INIT_FROM, 'runtime.init_from'))


def _aliases(config):
  """The short flags that were given, as `experiments.override` items."""
  items = {}
  for flag, key in _ALIASES:
    if flag.value is None:
      continue
    parent, _, field = key.rpartition('.')
    if not hasattr(experiments.value_at(config, parent), field):
      raise errors.ConfigError(
          f'--{flag.name} does not apply to {config.name}')
    items[key] = flag.value
  if items.get('runtime.init_from') and 'trainer.warmup_steps' not in items:
    items['trainer.warmup_steps'] = INIT_FROM_WARMUP_STEPS
  if _ADVERSARIAL_STEPS.value is not None:
    if not hasattr(config.task, 'reconstruction_steps'):
      raise errors.ConfigError(
          f'--adversarial_steps does not apply to {config.name}')
    items['trainer.train_steps'] = int(items.get(
        'task.reconstruction_steps', config.task.reconstruction_steps)) + (
            _ADVERSARIAL_STEPS.value)
  if 'data.channels' in items:
    items['data.channels'] = int(items['data.channels'])
  items.update(config_flags.pairs(_MODEL_OVERRIDE.value, 'model_override',
                                  'model.'))
  return items


def experiment_from_flags():
  """The experiment config with every flag that was given applied."""
  return config_flags.experiment(_aliases)


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
    runtime = config.runtime
    dataset = pipelines.describe(config.data)
    for note in dataset.notes:
      print(note, flush=True)
    config = experiments.resolve(config, dataset)
    if dataset.conversions(config.data.channels):
      print(dataset.conversions(config.data.channels), flush=True)
    strategy = make_strategy(runtime.strategy, runtime.cpu_replicas)
    tf.config.experimental.enable_tensor_float_32_execution(runtime.tf32)
    if runtime.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.trainer.seed)
    shape = 'x'.join(map(str, config.data.image_shape))
    classes = (f', {dataset.num_classes} classes' if dataset.num_classes
               else '')
    print(f'training {config.name} on {dataset.name} ({shape}{classes}; '
          f'held out: {dataset.held_out}) with '
          f'{strategy.num_replicas_in_sync} replica(s) of '
          f'{type(strategy).__name__}, global batch '
          f'{config.trainer.batch_size}', flush=True)
    trainer = trainers.Trainer(trainers.build_task(config), strategy,
                               _MODEL_DIR.value)
    metrics = trainer.run()
  except trainers.Interrupted as e:
    print(e, flush=True)
    sys.exit(e.exit_status)
  except errors.Error as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  where = (os.path.join(_MODEL_DIR.value, 'metrics.json') if trainer.is_chief
           else 'worker')
  print(f'done ({where}): {json.dumps(metrics)}', flush=True)


if __name__ == '__main__':
  cli.run(main)
