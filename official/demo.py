"""Round-trips real MNIST digits through the untrained MNIST RevNet.

Writes a PNG with the digits, their reconstructions from the full code and
from the code with all but the 32 largest-std dimensions clamped to 0, and
prints the round-trip error.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

import official
from official.data import load_mnist
from official.visualize import save_image_grid

flags.DEFINE_string('output_dir', 'runs/demo', 'Where the PNG and JSON go.')
flags.DEFINE_integer('num_images', 10, 'How many test digits to round-trip.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  images, _ = load_mnist('test')
  x = tf.constant(images[:FLAGS.num_images, ..., None] / 255., tf.float32)
  model = official.build_model('revnet_mnist', num_prior_dims=32)
  codes = model.encode_full(x)
  model.set_prior_dims_from_codes(model.encode_full(
      tf.constant(images[:500, ..., None] / 255., tf.float32)))
  full = model.decode_full(codes)
  restricted = model.decode(model.encode(x))
  error = np.abs(full.numpy() - x.numpy())
  path = save_image_grid(np.concatenate([x, full, restricted]),
                         os.path.join(FLAGS.output_dir, 'round_trip.png'),
                         columns=FLAGS.num_images)
  metrics = {'round_trip_max_abs_error': float(error.max()),
             'round_trip_mean_abs_error': float(error.mean()),
             'flow_parameters': int(sum(
                 np.prod(v.shape) for v in model.flow.trainable_variables))}
  with open(os.path.join(FLAGS.output_dir, 'metrics.json'), 'w') as f:
    json.dump(metrics, f, indent=2)
  print(f'wrote {path}: rows are digits, full-code and 32-dim reconstructions')
  print(json.dumps(metrics))


if __name__ == '__main__':
  app.run(main)
