r"""Images per second of the FID Inception extractor.

  python -m official.benchmarks.inception_throughput \
      --weights=inception_2015_12_05_fid_weights.npz [--images=500]

Times the extractor (resize to 299, scale, pool_3) on random 64x64 RGB images
after one warm-up batch, on the GPU when TensorFlow sees one.
"""

import json
import os
import time

from official import cli  # pylint: disable=g-import-not-at-top

cli.quiet_tensorflow()  # before anything imports TensorFlow

from absl import flags  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

flags.DEFINE_string('weights', None, 'Inception weights npz.', required=True)
flags.DEFINE_integer('images', 500, 'Images to time.')
flags.DEFINE_integer('batch_size', 50, 'Extractor batch size.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.evaluation import fid  # pylint: disable=g-import-not-at-top
  extractor = fid.InceptionExtractor.from_weights(
      FLAGS.weights, batch_size=FLAGS.batch_size)
  images = np.random.default_rng(0).integers(
      0, 256, (FLAGS.images, 64, 64, 3), np.uint8)
  extractor(images[:FLAGS.batch_size])  # warm-up: tracing
  start = time.perf_counter()
  extractor(images)
  seconds = time.perf_counter() - start
  devices = [d.name for d in tf.config.list_logical_devices('GPU')] or ['CPU']
  print(json.dumps({'images': FLAGS.images, 'batch_size': FLAGS.batch_size,
                    'seconds': round(seconds, 2),
                    'images_per_s': round(FLAGS.images / seconds, 1),
                    'devices': devices, 'cpu_count': os.cpu_count()}))


if __name__ == '__main__':
  cli.run(main)
