r"""Runs training steps of an experiment in this (fresh) process and prints
one JSON line with the peak resident memory and the step times.

`peak_rss_mib` is the process's peak once its first step has run: the
memory one step needs, tracing included. `peak_rss_mib_at_exit` adds the
timed steps and the encode and decode functions. `step_gflop` is the
arithmetic of one traced step (forward, backward and update), counted by
TensorFlow's profiler from the static shapes of its graph.

  python -m official.benchmarks.one_step --experiment=revnet_aae_celeba64 \
      --phase=reconstruction --batch_size=64 \
      --params_override=model.num_prior_dims=32

Random images stand in for the data: the cost of a step does not depend on
pixel values.
"""

import json
import resource
import sys
import time

from absl import flags
from absl import logging

from official import cli
from official import config_flags
from official import errors

config_flags.define('revnet_aae_celeba64')
flags.DEFINE_string('phase', None, 'Train-step phase (default: the first).')
flags.DEFINE_integer('batch_size', 64, 'Global batch size.')
flags.DEFINE_integer('steps', 1, 'How many steps to time after the first.')
flags.DEFINE_multi_string('override', [], 'KEY=VALUE: the same as '
                          '--params_override=model.KEY=VALUE.')
flags.DEFINE_string('image_size', None, 'N or HxW (default: the model\'s; '
                    'needed for pie, revnet_ot and revnet_aae).')
flags.DEFINE_integer('channels', 3, 'Channels when --image_size is given.')
flags.DEFINE_bool('jit_compile', False, 'Compile the step with XLA.')
flags.DEFINE_bool('tf32', False, 'TF32 matmuls and convolutions on NVIDIA '
                  'GPUs (see official.train --tf32).')
flags.DEFINE_bool('mixed_precision', False, 'Coupling networks in bfloat16 '
                  '(see official.train --mixed_precision).')
FLAGS = flags.FLAGS


def _peak_rss_mib():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


def graph_flops(graph):
  """Floating-point operations of one run of `graph`, by TF's per-op
  registry (a multiply-add counts 2; ops without an entry count 0)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  builder = tf.compat.v1.profiler.ProfileOptionBuilder
  options = builder(builder.float_operation()).with_empty_output().build()
  return tf.compat.v1.profiler.profile(
      graph=graph, options=options).total_float_ops


def measure(experiment, phase, batch_size, steps, overrides, jit_compile,
            tf32=False, image_shape=None, mixed_precision=False):
  """Builds the experiment's model and optimizers for images of
  `image_shape` (default: the model's) and runs `1 + steps` train steps on
  random images; returns peak RSS, timings and the round-trip error.
  `experiment`: a name or an `ExperimentConfig`; `overrides`: its fields to
  replace, as `experiments.override` takes them ({'model.steps': 1});
  `mixed_precision` runs the coupling networks in bfloat16."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.experimental.enable_tensor_float_32_execution(tf32)
  import trainers  # pylint: disable=g-import-not-at-top
  from official import experiments  # pylint: disable=g-import-not-at-top
  from official.data import pipelines  # pylint: disable=g-import-not-at-top
  if isinstance(experiment, str):
    experiment = experiments.get_experiment(experiment)
  config = experiments.override(experiment, {
      **overrides, 'trainer.batch_size': batch_size,
      'runtime.mixed_precision': mixed_precision})
  experiment = config.name
  # The model fields that differ from the experiment's preset.
  overridden = {name: repr(now) for name, _, now in experiments.differences(
      experiments.get_experiment(experiment).model, config.model)}
  image_shape = image_shape or config.model.image_shape
  if image_shape is None:
    raise errors.ConfigError(
        f'{experiment} builds its model for the data: give --image_size')
  config = experiments.resolve(config, pipelines.DatasetInfo(
      'random images', tuple(image_shape), 10))
  if tuple(image_shape) != config.data.image_shape:
    raise errors.ConfigError(
        f'{experiment} takes {config.data.image_shape} images')
  task = trainers.build_task(config)
  gpus = tf.config.list_logical_devices('GPU')
  strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus
                                             else '/cpu:0')
  with strategy.scope():
    model = task.build_model()
    optimizers = task.build_optimizers(model, task.build_networks(model))
  phase = phase or task.phase(0)
  shape = (batch_size,) + model.image_shape
  images = tf.random.uniform(shape, seed=0)
  labels = tf.range(batch_size) % 10

  @tf.function(jit_compile=jit_compile)
  def step_fn(step):
    return strategy.run(task.train_step, args=(
        model, optimizers, (images, labels), step, phase))

  built_rss = _peak_rss_mib()
  start = time.perf_counter()
  step_fn(tf.constant(0, tf.int64))
  first = time.perf_counter() - start
  after_first = _peak_rss_mib()
  flops = graph_flops(
      step_fn.get_concrete_function(tf.constant(0, tf.int64)).graph)
  times = []
  for step in range(1, steps + 1):
    start = time.perf_counter()
    losses, _ = step_fn(tf.constant(step, tf.int64))
    float(losses['loss'])
    times.append(time.perf_counter() - start)
  encode = tf.function(model.encode_full, jit_compile=jit_compile)
  decode = tf.function(model.decode_full, jit_compile=jit_compile)
  codes = encode(images)
  round_trip = float(tf.reduce_max(tf.abs(decode(codes) - images)))
  start = time.perf_counter()
  codes = encode(images)
  float(codes[0, 0])
  encode_s = time.perf_counter() - start
  start = time.perf_counter()
  float(decode(codes)[0, 0, 0, 0])
  decode_s = time.perf_counter() - start
  activations = model.activation_mib(batch_size)
  return {'experiment': experiment, 'phase': phase, 'batch_size': batch_size,
          'image_shape': list(model.image_shape),
          'memory_saving_used': model.uses_memory_saving(batch_size),
          'activation_mib_estimate': (None if activations is None else
                                      round(activations, 1)),
          'round_trip_max_abs_error': round_trip,
          'encode_images_per_s': round(batch_size / encode_s, 1),
          'decode_images_per_s': round(batch_size / decode_s, 1),
          'overrides': overridden,
          'jit_compile': jit_compile,
          'tf32': tf.config.experimental.tensor_float_32_execution_enabled(),
          'mixed_precision': mixed_precision,
          'peak_rss_mib_before_step': round(built_rss, 1),
          'peak_rss_mib': round(after_first, 1),
          'peak_rss_mib_at_exit': round(_peak_rss_mib(), 1),
          'first_step_s': round(first, 3),
          'step_gflop': round(flops / 1e9, 3),
          'device': gpus[0].name if gpus else 'CPU',
          'gpu_peak_mib': (round(tf.config.experimental.get_memory_info(
              'GPU:0')['peak'] / 2**20, 1) if gpus else None),
          'step_s': [round(t, 4) for t in times]}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from official import experiments  # pylint: disable=g-import-not-at-top
  try:
    shape = (experiments.parse_image_size(FLAGS.image_size)
             + (FLAGS.channels,) if FLAGS.image_size else None)
    config = config_flags.experiment(lambda _: config_flags.pairs(
        FLAGS.override, 'override', 'model.'))
    result = measure(config, FLAGS.phase, FLAGS.batch_size, FLAGS.steps, {},
                     FLAGS.jit_compile, FLAGS.tf32, shape,
                     FLAGS.mixed_precision)
  except errors.Error as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print(json.dumps(result), flush=True)


if __name__ == '__main__':
  cli.run(main)
