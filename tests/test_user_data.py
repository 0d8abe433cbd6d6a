"""Users' own images: folders, .npz files and TFDS datasets, at any size."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from official import experiments
from official.data import image_folder
from official.data import load_mnist
from official.data import pipelines
from tests import forked
from tests.helpers import REPO
from tests.helpers import tiny_overrides

_PER_CLASS = 20


def write_digit_folder(root, per_class=_PER_CLASS, classes=10):
  """The first `per_class` training digits of each class as PNGs under
  ROOT/<digit>/, as a user would keep them."""
  images, labels = load_mnist('train')
  for digit in range(classes):
    os.makedirs(root / str(digit), exist_ok=True)
    for i, index in enumerate(np.flatnonzero(labels == digit)[:per_class]):
      Image.fromarray(images[index]).save(root / str(digit) / f'{i:03d}.png')
  return images, labels


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
  root = tmp_path_factory.mktemp('digits')
  write_digit_folder(root)
  (root / 'README.txt').write_text('digits')
  (root / '3' / '.DS_Store').write_bytes(b'\0')
  # One digit saved in colour and one as JPEG and BMP: all are read.
  Image.open(root / '4' / '000.png').convert('RGB').save(root / '4' / '000.png')
  Image.open(root / '5' / '000.png').save(root / '5' / '000.jpg')
  Image.open(root / '6' / '000.png').save(root / '6' / '000.bmp')
  return root


def test_a_class_per_folder_gives_labels_a_held_out_tenth_and_skips_others(
    digits):
  info = pipelines.describe(experiments.DataConfig('image_folder',
                                                   str(digits)))
  assert info.class_names == tuple(str(d) for d in range(10))
  assert info.num_classes == 10 and info.image_shape == (28, 28, 3)
  assert info.num_examples == {'train': 182, 'test': 20}
  assert info.notes == ('skipped 2 files that are not PNG, JPEG or BMP '
                        'images (README.txt, .DS_Store)',)
  scan = image_folder.scan(str(digits))
  test_paths, test_labels = scan.splits['test']
  assert os.path.basename(test_paths[0]) == '009.png'  # 10th of class 0
  np.testing.assert_array_equal(test_labels, np.repeat(np.arange(10), 2))
  assert scan.channels == {1: 201, 3: 1}
  assert info.conversions(1) == 'converting 1 of 202 images to grayscale'
  assert info.conversions(3) == 'converting 201 of 202 images to RGB'
  assert not set(test_paths) & set(scan.splits['train'][0])


def test_folder_batches_are_the_digits_resume_at_the_step_and_balance(digits):
  data = experiments.DataConfig('image_folder', str(digits), (28, 28), 1)
  fn = pipelines.make_dataset_fn(data, 3, 20, balanced=True)
  batches = [(i.numpy(), l.numpy()) for i, l in fn(None).take(3)]
  for images, labels in batches:
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 2))
    assert images.shape == (20, 28, 28, 1) and images.dtype == np.float32
  resumed = pipelines.make_dataset_fn(data, 3, 20, start_step=2,
                                      balanced=True)(None)
  np.testing.assert_array_equal(next(iter(resumed))[0], batches[2][0])
  # The pixels are those of PNGs of the labelled class.
  paths, labels = image_folder.scan(str(digits)).splits['train']
  pngs = [(np.asarray(Image.open(p).convert('L'), np.float32) / 255., c)
          for p, c in zip(paths, labels)]
  for image, label in zip(*(np.concatenate(t) for t in zip(*batches))):
    assert any(c == label and np.array_equal(image[..., 0], png)
               for png, c in pngs)
  assert pipelines.held_out(data, 1000)[0].shape == (20, 28, 28, 1)


def test_images_are_centre_cropped_resized_and_converted(tmp_path):
  image = np.zeros((40, 60, 3), np.uint8)
  image[:, 10:50] = (255, 0, 0)  # the central 40x40 square is red
  Image.fromarray(image).save(tmp_path / 'wide.png')
  for i in range(9):
    Image.fromarray(image).save(tmp_path / f'copy{i}.png')
  data = experiments.DataConfig('image_folder', str(tmp_path), (16, 16), 1)
  images, labels = next(iter(pipelines.make_dataset_fn(data, 0, 2)(None)))
  assert images.shape == (2, 16, 16, 1) and (labels.numpy() == -1).all()
  np.testing.assert_allclose(images, 0.2989, atol=2e-3)  # red's luma
  rgb = pipelines.fit_images(tf.constant(image[None, :, :, :1]), (20, 20), 3)
  assert rgb.shape == (1, 20, 20, 3)


@pytest.mark.parametrize('make, message', [
    (lambda root: None, 'no PNG, JPEG or BMP images in'),
    (lambda root: (root / 'cats').mkdir() or (root / 'cats' / 'a.txt')
     .write_text(''), 'class folder .*cats holds no PNG, JPEG or BMP images'),
    (lambda root: [(root / f'x{i}.png').write_bytes(b'not a png')
                   for i in range(10)],
     r'x0.png is not a readable PNG, JPEG or BMP image'),
    (lambda root: (root / 'x.png').write_bytes(b'not a png'),
     'fewer than 10 images per class: too few to hold out every 10th'),
])
def test_bad_folders_fail_in_one_line(make, message, tmp_path):
  root = tmp_path / 'data'
  root.mkdir()
  make(root)
  with pytest.raises(pipelines.DataError, match=message):
    pipelines.describe(experiments.DataConfig('image_folder', str(root)))


def test_a_truncated_image_stops_the_pipeline_naming_its_path(tmp_path):
  rng = np.random.default_rng(0)
  for i in range(10):
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(
        tmp_path / f'{i}.png')
  data = (tmp_path / '3.png').read_bytes()
  (tmp_path / '3.png').write_bytes(data[:len(data) // 2])
  fn = pipelines.make_dataset_fn(
      experiments.DataConfig('image_folder', str(tmp_path)), 0, 9)
  with pytest.raises(tf.errors.OpError) as raised:
    next(iter(fn(None)))
  problem = pipelines.data_error_in(raised.value)
  assert f'{tmp_path}/3.png is truncated or does not decode' in str(problem)


def test_npz_arrays_with_and_without_labels_and_their_errors(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (30, 12, 10), dtype=np.uint8)
  path = str(tmp_path / 'a.npz')
  np.savez(path, images=images, labels=np.arange(30) % 3)
  info = pipelines.describe(experiments.DataConfig('npz', path))
  assert (info.image_shape, info.num_classes) == ((12, 10, 1), 3)
  assert info.num_examples == {'train': 27, 'test': 3}
  test_images, test_labels = pipelines.held_out(
      experiments.DataConfig('npz', path), 10)
  assert sorted(test_labels) == [0, 1, 2]  # images 9, 19 and 29
  assert sorted(np.round(test_images[..., 0] * 255).astype(np.uint8).sum(
      axis=(1, 2))) == sorted(images[9::10].sum(axis=(1, 2)))
  np.savez(path, images=images, labels=np.arange(29))
  with pytest.raises(pipelines.DataError, match='labels must be 30 '
                     'non-negative integers, one per image'):
    pipelines.describe(experiments.DataConfig('npz', path))
  np.savez(path, images=images.astype(np.float32))
  with pytest.raises(pipelines.DataError, match='images must be uint8'):
    pipelines.describe(experiments.DataConfig('npz', path))


@pytest.mark.parametrize('name, shape', [('fashion_mnist', (28, 28, 1)),
                                         ('cifar10', (32, 32, 3))])
def test_any_tfds_image_dataset_by_its_name(name, shape):
  with tfds.testing.mock_data(num_examples=200):
    data = experiments.DataConfig(name)
    info = pipelines.describe(data)
    assert (info.image_shape, info.num_classes) == (shape, 10)
    config = experiments.resolve(experiments.override(
        experiments.get_experiment('pie'), {'data.dataset': name}), info)
    assert config.model.image_shape == shape
    batch, labels = next(iter(pipelines.make_dataset_fn(
        config.data, 0, 10, balanced=True)(None)))
    assert batch.shape == (10,) + shape
    np.testing.assert_array_equal(labels, np.arange(10))


def test_the_generic_recipes_fit_their_model_to_the_data():
  info = pipelines.DatasetInfo('rgb', (32, 32, 3), 0)
  pie = experiments.resolve(experiments.get_experiment('pie'), info).model
  assert (pie.conv_blocks, pie.linear_sizes) == (3, (64, 10, None))
  aae = experiments.resolve(experiments.get_experiment('revnet_aae'),
                            info).model
  assert (len(aae.stages), aae.pad_to, aae.num_prior_dims) == (4, None, 64)
  with pytest.raises(ValueError, match='revnet_ot needs class labels'):
    experiments.resolve(experiments.get_experiment('revnet_ot'), info)
  with pytest.raises(ValueError, match='pie_mnist takes 28x28x1 images, not '
                     '32x32x3; --experiment=pie builds its model for any '
                     'size'):
    experiments.resolve(experiments.override(
        experiments.get_experiment('pie_mnist'),
        {'data.image_size': 32, 'data.channels': 3}), info)
  with pytest.raises(ValueError, match='a RevNet needs images of at least '
                     '4x4'):
    experiments.resolve(experiments.get_experiment('revnet_aae'),
                        pipelines.DatasetInfo('tiny', (2, 2, 3), 0))
  with pytest.raises(ValueError, match='differ in size .*give --image_size'):
    experiments.resolve(experiments.get_experiment('pie'), pipelines.DatasetInfo(
        'mixed', (None, None, 3), 0, sizes_seen='30x20, 20x30'))
  # The papers' presets come out as they are.
  for name in ('pie_mnist', 'revnet_ot_mnist', 'revnet_aae_celeba64'):
    preset = experiments.get_experiment(name)
    fitted = experiments.resolve(preset, pipelines.describe(preset.data))
    assert fitted.model == preset.model


def _run(module, *args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=REPO)
  return forked.run([sys.executable, '-m', module] + list(args), cwd=REPO,
                    env=env, capture_output=True, text=True, timeout=600)


def test_each_recipe_trains_evaluates_and_exports_on_a_users_images(
    digits, tmp_path):
  rng = np.random.default_rng(0)
  rgb = str(tmp_path / 'rgb.npz')
  np.savez(rgb, images=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8))
  tiny = {name: [f'--model_override={k}={v}' for k, v in
                 tiny_overrides(name).items()] for name in ('pie', 'revnet')}
  tiny['revnet'] = ['--model_override=stages=((4,1),(6,1))']
  runs = {
      'revnet_ot': ['--dataset=image_folder', f'--data_dir={digits}',
                    '--batch_size=20', '--params_override=task.init_examples=20',
                    '--channels=1'] + tiny['revnet'],
      'pie': ['--dataset=npz', f'--data_dir={rgb}', '--batch_size=8'] +
             tiny['pie'],
  }
  for name, args in runs.items():
    model_dir = str(tmp_path / name)
    trained = _run('official.train', f'--experiment={name}',
                   f'--model_dir={model_dir}', '--train_steps=2', *args)
    assert trained.returncode == 0, trained.stderr
    shape = '28x28x1, 10 classes' if name == 'revnet_ot' else '32x32x3'
    assert f'({shape}; held out: ' in trained.stdout
    evaluated = _run('official.evaluate', f'--experiment={name}',
                     f'--model_dir={model_dir}', '--num_samples=20',
                     '--num_test=20')
    assert evaluated.returncode == 0, evaluated.stderr
    exported = _run('official.export', f'--experiment={name}',
                    f'--model_dir={model_dir}',
                    f'--export_dir={tmp_path / "export"}')
    assert exported.returncode == 0, exported.stderr
  served = tf.saved_model.load(str(tmp_path / 'export' / 'pie' / '1'))
  codes = served.encode(images=tf.zeros((2, 32, 32, 3)))['codes']
  assert codes.shape == (2, 10)
  with pytest.raises(Exception, match=r'images must have shape \(N, 32, 32, '
                     r'3\)'):
    served.encode(images=tf.zeros((2, 28, 28, 1)))


def test_a_shipped_mnist_model_fine_tunes_on_a_users_digits(digits, tmp_path):
  trained = _run('official.train', '--experiment=pie_mnist',
                 f'--model_dir={tmp_path / "run"}', '--train_steps=1',
                 '--batch_size=8', '--dataset=image_folder',
                 f'--data_dir={digits}', '--init_from=pretrained/pie_mnist/1')
  assert trained.returncode == 0, trained.stderr
  assert 'weights from pretrained/pie_mnist/1' in trained.stdout
  assert '28x28x1, 10 classes' in trained.stdout
  assert 'converting 1 of 202 images to grayscale' in trained.stdout
  # The shipped weights, not a fresh model: the shipped PIE scores 1.634
  # bits/dim on MNIST's test digits, an untrained one above 5.
  with open(tmp_path / 'run' / 'metrics.json') as f:
    check = json.load(f)['final_evaluation']
  assert check['test_bits_per_dim'] < 2.2, check
