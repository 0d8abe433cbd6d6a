r"""Where the seconds of a RevNet pass go: the F/G networks, stage by stage.

  python -m official.benchmarks.stage_profile --model=revnet_celeba64 \
      --batch_size=64 [--output=profile.json]

For each stage, one of its networks (conv -> ReLU -> conv) is timed on a
batch of the stage's half-tensors, forward and forward + backward (gradients
of the input and the weights), as convolutions and, where `ConvStack` uses
them, as matmuls with matrices gathered from the kernels; then multiplied by
the stage's number of networks (2 per block) to give the stage's share of one
pass through the flow. Medians of --repeats runs after a warm-up run.
"""

import json
import statistics
import time

from absl import flags

from official import cli

flags.DEFINE_string('model', 'revnet_celeba64', 'A RevNet model name.')
flags.DEFINE_integer('batch_size', 64, 'Batch size.')
flags.DEFINE_integer('repeats', 5, 'Timed runs per measurement.')
flags.DEFINE_string('output', None, 'Write the rows as JSON here.')
FLAGS = flags.FLAGS


def _median_seconds(fn, repeats):
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def profile(model_name, batch_size, repeats):
  """Rows of per-stage network timings (seconds for all the stage's nets)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import official  # pylint: disable=g-import-not-at-top
  model = official.build_model(model_name)
  height, width = model.flow_input_shape[:2]
  channels = model.flow_input_shape[2]
  # Each stage is a subsampling followed by its couplings.
  first_couplings = [model.steps[i + 1] for i, step in enumerate(model.steps)
                     if not hasattr(step, 'f')]
  rows = []
  for index, stage in enumerate(model.config.stages):
    height, width, channels = height // 2, width // 2, channels * 4
    network = first_couplings[index].f
    x = tf.random.normal((batch_size, height, width, channels // 2), seed=0)
    variables = network.trainable_variables
    paths = {'conv2d': lambda t, n=network: n.conv_out(n.conv_in(t))}
    if network.runs_as_matmul((height, width)):
      paths['matmul'] = network
    count = 2 * stage.blocks * model.config.block_multiplier
    for path, apply in paths.items():
      forward = tf.function(lambda apply=apply: apply(x))

      @tf.function
      def backward(apply=apply):
        with tf.GradientTape() as tape:
          tape.watch(x)
          y = apply(x)
        return tape.gradient(y, [x] + variables,
                             output_gradients=tf.ones_like(y))

      rows.append({
          'stage': index, 'shape': [height, width, channels // 2],
          'hidden': stage.hidden, 'kernel': stage.kernel_size,
          'networks': count, 'path': path,
          'forward_s': round(count * _median_seconds(
              lambda f=forward: f().numpy(), repeats), 4),
          'forward_backward_s': round(count * _median_seconds(
              lambda b=backward: [g.numpy() for g in b()], repeats), 4)})
      print(json.dumps(rows[-1]), flush=True)
  return rows


def main(argv):
  del argv
  rows = profile(FLAGS.model, FLAGS.batch_size, FLAGS.repeats)
  if FLAGS.output:
    with open(FLAGS.output, 'w') as f:
      json.dump(rows, f, indent=2)


if __name__ == '__main__':
  cli.run(main)
