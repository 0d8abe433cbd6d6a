r"""Milliseconds per request of an export's `encode` signature, side by side.

  python -m official.benchmarks.serving_latency \
      --export=pretrained/pie_mnist/1 --export=/tmp/old/pie_mnist/1 \
      [--batch_sizes=1,256] [--repeats=50]

Loads each export with TensorFlow alone, as a model server does, and calls
its `encode` signature on uniform random images in [0, 1]: warm-up calls
first, then the exports in turn, `--repeats` rounds of one call each, so
that a machine that drifts slows all of them alike. Prints one JSON line per
export and batch size with the median and the 10th and 90th percentiles.
"""

import json
import os
import time

from official import cli  # pylint: disable=g-import-not-at-top

cli.quiet_tensorflow()  # before anything imports TensorFlow

from absl import flags  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

flags.DEFINE_multi_string('export', None, 'An export (NAME/VERSION folder); '
                          'repeat to compare.', required=True)
flags.DEFINE_list('batch_sizes', ['1', '256'], 'Images per request.')
flags.DEFINE_integer('repeats', 50, 'Timed calls per export and batch size.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  encoders = [tf.saved_model.load(path).signatures['encode']
              for path in FLAGS.export]
  shape = encoders[0].structured_input_signature[1]['images'].shape[1:]
  rng = np.random.default_rng(0)
  for batch in map(int, FLAGS.batch_sizes):
    images = tf.constant(rng.uniform(size=(batch,) + tuple(shape)),
                         tf.float32)
    for encode in encoders:
      for _ in range(3):
        encode(images=images)['codes'].numpy()
    times = [[] for _ in encoders]
    for _ in range(FLAGS.repeats):
      for encode, seconds in zip(encoders, times):
        start = time.perf_counter()
        encode(images=images)['codes'].numpy()
        seconds.append(time.perf_counter() - start)
    for path, seconds in zip(FLAGS.export, times):
      ms = np.percentile(np.array(seconds) * 1e3, [10, 50, 90])
      print(json.dumps({'export': path, 'batch_size': batch,
                        'ms_p10': round(ms[0], 3), 'ms_median': round(ms[1], 3),
                        'ms_p90': round(ms[2], 3), 'repeats': FLAGS.repeats,
                        'cpu_count': os.cpu_count()}), flush=True)


if __name__ == '__main__':
  cli.run(main)
