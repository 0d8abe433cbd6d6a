r"""Evaluates a training run: the papers' metrics and figures.

  python -m official.evaluate --model_dir=runs/pie [--experiment=pie_mnist] \
      [--inception=inception_2015_12_05_fid_weights.npz|GRAPH.pb|download]

writes MODEL_DIR/eval/metrics.json and PNG figures: samples, reconstructions
from the restricted and the full code (RevNet Fig. 6), interpolations in both
(Figs. 7, 8; PIE Fig. 7d), traversals of latent dimensions from -3 to +3 std
(Figs. 9, 12), per-class samples (OT), samples at std 1 and 0.5 (PIE Fig. 7),
both as the pseudo-inverse and as draws of the density (PIE), and for OT the
dimensions used per class over training (from its TensorBoard scalars).
"""

import json
import os
import sys
import time

from official import cli  # pylint: disable=g-import-not-at-top

cli.quiet_tensorflow()  # before anything imports TensorFlow

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from official import errors  # pylint: disable=g-import-not-at-top
from official import files  # pylint: disable=g-import-not-at-top
FLAGS = flags.FLAGS


def _define_flags():
  """Flags of the command line (defined only when run as a program)."""
  flags.DEFINE_string('experiment', None, 'Experiment name; default: the one '
                      'the run records in MODEL_DIR/experiment.json.')
  flags.DEFINE_string('model_dir', None, 'The run to evaluate.')
  flags.DEFINE_integer(
      'num_samples', 10_000, 'Samples for sharpness and FID (papers: 10,000).')
  flags.DEFINE_integer(
      'num_test', 10_000, 'Test images for inversion error, bits/dim, FID.')
  flags.DEFINE_string(
      'inception', None, 'The FID network: the Inception weights npz, TTUR\'s '
      'classify_image_graph_def.pb, or "download" (the official archive, '
      'checked against the bundled probe features). FID is computed when '
      'given.')
  flags.DEFINE_integer('seed', 0, 'Seed of the samples.')
  flags.DEFINE_float(
      'temperature', 1.0, 'Multiplies the prior\'s std for the samples of '
      'sharpness, FID and the sample figures (PIE Fig. 7c uses 0.5; PIE '
      'always also draws samples_std1.png and samples_std0.5.png).')


def _progress(stage, done, total, began):
  """One line on stderr: the stage, how far it is, and its ETA."""
  elapsed = time.time() - began
  eta = elapsed / done * (total - done) if done else float('nan')
  print(f'{stage}: {done:,}/{total:,} images, {elapsed:.0f} s'
        + (f', ETA {eta:.0f} s' if done < total else ''),
        file=sys.stderr, flush=True)


def _batched(fn, count, stage, batch=500):
  """`fn(n, start)` over `count` items in batches, concatenated, with
  progress lines for `stage`."""
  began, parts = time.time(), []
  for start in range(0, count, batch):
    parts.append(np.asarray(fn(min(batch, count - start), start)))
    _progress(stage, start + len(parts[-1]), count, began)
  return np.concatenate(parts)


def _interpolations(model, x, restricted, steps=10):
  """Rows: linear paths between consecutive pairs of `x` in code space."""
  codes = (model.encode if restricted else model.encode_full)(x).numpy()
  a, b = codes[0::2], codes[1::2]
  weights = np.linspace(0., 1., steps)[None, :, None]
  path = (a[:, None] * (1 - weights) + b[:, None] * weights).reshape(
      -1, codes.shape[1])
  return (model.decode if restricted else model.decode_full)(
      path.astype(np.float32))


def _traversal(model, base, dims, scales, steps=7):
  """Rows: one per (base code, dim); columns from -3 to +3 std of the dim."""
  rows = []
  for code in base:
    for dim in dims:
      grid = np.repeat(code[None], steps, axis=0)
      grid[:, dim] = code[dim] + np.linspace(-3., 3., steps) * scales[dim]
      rows.append(grid)
  return np.concatenate(rows).astype(np.float32)


def figures(model, images, labels, out_dir, seed, temperature=1.0):
  """Writes the figures; returns their file names."""
  from official.visualize import save_image_grid  # pylint: disable=g-import-not-at-top
  written = {}

  def save(name, pictures, columns=10):
    written[name] = save_image_grid(np.asarray(pictures),
                                    os.path.join(out_dir, name), columns)

  x = images[:10].astype(np.float32)
  full = model.decode_full(model.encode_full(x))
  save('reconstructions.png', np.concatenate(
      [x, model.decode(model.encode(x)), full]))
  # Pairs not among the reconstructed ten, while the held-out split has them.
  pairs = (images[10:26] if len(images) >= 26 else
           images[:len(images) // 2 * 2][:16]).astype(np.float32)
  save('interpolations_restricted.png', _interpolations(model, pairs, True))
  save('interpolations_full.png', _interpolations(model, pairs, False))
  if model.has_density:  # PIE
    save('samples_std1.png', model.sample(100, seed=seed))
    save('samples_std0.5.png', model.sample(100, seed=seed, temperature=0.5))
    save('density_samples_std1.png', model.sample(100, seed=seed,
                                                  density=True))
    save('density_samples_std0.5.png', model.sample(
        100, seed=seed, temperature=0.5, density=True))
    dims = list(range(min(5, model.latent_size)))
    base = np.zeros((1, model.latent_size), np.float32)
    save('traversals.png', model.decode(_traversal(
        model, base, dims, np.ones(model.latent_size))), columns=7)
  elif model.num_classes:  # OT RevNet: class-conditional Gaussians
    classes = model.num_classes
    labels_grid = np.repeat(np.arange(classes), 10)
    save('class_samples.png', model.sample(len(labels_grid), labels_grid,
                                           seed=seed, temperature=temperature))
    # Fig. 12 as the authors' Plots notebook draws it: each class's mean
    # varied over +-2 of its own std along the 3 dims of largest average std.
    means, stds = model.class_means.numpy(), model.class_stds.numpy()
    dims = np.argsort(-stds.mean(axis=0), kind='stable')[:3]
    steps = np.linspace(-2., 2., 9)
    grid = np.repeat(means[:, None, None], len(dims), 1).repeat(9, 2)
    for i, d in enumerate(dims):
      grid[:, i, :, d] = means[:, None, d] + steps * stds[:, None, d]
    save('traversals.png', model.decode_full(
        grid.reshape(-1, means.shape[1]).astype(np.float32)), columns=9)
  else:  # AAE RevNet: standard normal on the prior dims
    save('samples.png', model.sample(100, seed=seed, temperature=temperature))
    rng = np.random.default_rng(seed)
    dims = rng.choice(model.latent_size, 5, replace=False)
    base = model.encode(x[:2]).numpy()
    save('traversals.png', model.decode(_traversal(
        model, base, dims, np.ones(model.latent_size))), columns=7)
  del labels
  return written


def _plot_per_class(curves, out_dir, name, title):
  """Draws the logged `curves` (tag `NAME/class_C`: (steps, values)) as
  OUT_DIR/NAME_over_training.png, one line per class; returns its path."""
  from official.visualize import save_line_plot  # pylint: disable=g-import-not-at-top
  return save_line_plot(
      {tag.split('_')[-1]: curve for tag, curve in curves.items()},
      os.path.join(out_dir, f'{name}_over_training.png'), f'{title}, per class',
      'training step', 'dimensions')


def evaluate(experiment, model_dir, num_samples, num_test, inception=None,
             seed=0, temperature=1.0):
  """Computes metrics and figures of the run in `model_dir` (`experiment`:
  its experiment, checked, or `None` for the one it records)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official import run_dir  # pylint: disable=g-import-not-at-top
  from official.data import pipelines  # pylint: disable=g-import-not-at-top
  from official.data import pixels  # pylint: disable=g-import-not-at-top
  from official.evaluation import fid  # pylint: disable=g-import-not-at-top
  from official.evaluation import metrics  # pylint: disable=g-import-not-at-top
  from official import experiments  # pylint: disable=g-import-not-at-top
  info = run_dir.read_experiment_info(experiment, model_dir)
  experiment, config = info['experiment'], experiments.from_json(info)
  data = config.data
  model = run_dir.restore_model(experiment, model_dir)
  print(f'reading {num_test:,} held-out images of {data.dataset}',
        file=sys.stderr, flush=True)
  images, labels = pipelines.held_out(data, num_test, seed)
  out_dir = os.path.join(model_dir, 'eval')
  with files.writing(out_dir):
    os.makedirs(out_dir, exist_ok=True)

  samples = _batched(lambda n, i: model.sample(
      n, seed=seed + i, temperature=temperature), num_samples, 'sampling')
  results = {'experiment': experiment, 'split': 'test', 'seed': seed,
             'num_samples': num_samples, 'sample_temperature': temperature,
             'num_test_images': len(images),
             'sharpness_samples': metrics.sharpness(samples)[0],
             'sharpness_test_images': metrics.sharpness(images)[0],
             **metrics.round_trip(model, images)[0]}
  density_samples = None
  if model.has_density:  # PIE draws its density too
    density_samples = _batched(lambda n, i: model.sample(
        n, seed=seed + i, temperature=temperature, density=True),
                               num_samples, 'sampling the density')
    results['sharpness_density_samples'] = metrics.sharpness(
        density_samples)[0]
  if model.has_density:
    results['test_bits_per_dim'] = float(np.mean(_batched(
        lambda n, i: model.bits_per_dim(pixels.to_levels(
            images[i:i + n]), tf.random.stateless_uniform(
                (n,) + model.image_shape, [seed, i])), len(images),
        'test bits/dim')))
  import trainers  # pylint: disable=g-import-not-at-top
  results.update(trainers.build_task(config).latent_metrics(
      model, labels, lambda encode: _batched(
          lambda n, i: encode(images[i:i + n]), len(images),
          'encoding the test images')))
  if inception:
    extractor = fid.InceptionExtractor.from_source(inception)
    features = lambda pictures, stage: _batched(
        lambda n, i: extractor(pixels.to_levels(
            pictures[i:i + n], exact=False)), len(pictures),
        f'FID, Inception features of the {stage}', batch=100)
    shape = 'x'.join(map(str, data.image_shape))
    stats_path = os.path.join(out_dir, f'fid_stats_{data.dataset}_{shape}_'
                              f'test_{len(images)}.npz')
    if os.path.exists(stats_path):
      data_stats = fid.load_statistics(stats_path)
    else:
      data_stats = fid.statistics(features(images, 'test images'))
      fid.save_statistics(stats_path, data_stats)
    results['fid'] = fid.frechet_distance(
        fid.statistics(features(samples, 'samples')), data_stats)
    if density_samples is not None:
      results['fid_density_samples'] = fid.frechet_distance(
          fid.statistics(features(density_samples, 'density samples')),
          data_stats)
  print('figures', file=sys.stderr, flush=True)
  results['figures'] = figures(model, images, labels, out_dir, seed,
                               temperature)
  curves = run_dir.read_scalars(model_dir, 'used_dims/class_')
  if curves:
    results.update(metrics.plateau(
        {int(tag.split('_')[-1]): curve for tag, curve in curves.items()},
        window=50))
    results['figures']['used_dims_over_training.png'] = _plot_per_class(
        curves, out_dir, 'used_dims',
        'dimensions in use (class std above the threshold)')
  visible = run_dir.read_scalars(model_dir, 'visible_dims/class_')
  if visible:
    results['figures']['visible_dims_over_training.png'] = _plot_per_class(
        visible, out_dir, 'visible_dims',
        'dimensions that visibly change the class mean')
  files.write_json(os.path.join(out_dir, 'metrics.json'), results)
  return results


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  cli.require(FLAGS, 'model_dir')
  try:
    results = evaluate(FLAGS.experiment, FLAGS.model_dir, FLAGS.num_samples,
                       FLAGS.num_test, FLAGS.inception, FLAGS.seed,
                       FLAGS.temperature)
  except errors.Error as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print(json.dumps(results, indent=2))


if __name__ == '__main__':
  _define_flags()
  cli.run(main)
