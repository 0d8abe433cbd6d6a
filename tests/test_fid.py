"""FID: the TF2 Inception against the reference features of the TF graph
(where they lie beside the checkout), and the Frechet distance everywhere."""

import os

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from official import errors
from official.evaluation import fid
from tests.helpers import FID_DATA
from tests.helpers import needs_fid_data

_WEIGHTS = os.path.join(FID_DATA, 'inception_2015_12_05_fid_weights.npz')
_LAST_UNIT = 'net.layers.mixed_10.tower_2_conv.weight'


@pytest.fixture(scope='module')
def extractor():
  return fid.InceptionExtractor.from_weights(_WEIGHTS, batch_size=8)


@pytest.fixture(scope='module')
def weights():
  """The weights npz's arrays."""
  with np.load(_WEIGHTS) as data:
    return {k: data[k] for k in data.files}


@pytest.fixture(scope='module')
def reference():
  with np.load(os.path.join(FID_DATA, 'reference_features.npz')) as data:
    return {k: data[k] for k in data.files}


def _features(extractor, scaled):
  return np.concatenate([extractor.features_of_scaled(scaled[i:i + 8])
                         for i in range(0, len(scaled), 8)])


@needs_fid_data
def test_features_and_fid_match_the_reference(extractor, reference):
  a = _features(extractor, reference['inputs'])
  b = _features(extractor, reference['set_b_inputs'])
  assert np.max(np.abs(a - reference['features'])) <= 1e-4
  assert np.max(np.abs(b - reference['set_b_features'])) <= 1e-4
  distance = fid.frechet_distance(fid.statistics(a), fid.statistics(b))
  assert abs(distance - float(reference['fid_ab'])) <= 1e-3


@needs_fid_data
def test_block_outputs_match_the_reference_intermediates(extractor):
  with np.load(os.path.join(FID_DATA, 'reference_intermediates.npz')) as data:
    blocks = dict(extractor.blocks(tf.constant(data['input'])))
    for name in ('pool1', 'mixed_2', 'mixed_3', 'mixed_7', 'mixed_8',
                 'mixed_9', 'mixed_10'):
      assert np.max(np.abs(blocks[name] - data[name])) <= 1e-4, name


@needs_fid_data
def test_preprocessing_pixels_of_any_size_and_channels(extractor, reference):
  scaled = reference['inputs'][:2]
  pixels = np.round(scaled * 128. + 128.).astype(np.uint8)  # exact
  np.testing.assert_array_equal(extractor.preprocess(pixels), scaled)
  np.testing.assert_allclose(extractor(pixels), reference['features'][:2],
                             atol=1e-4)
  np.testing.assert_allclose(extractor(pixels.astype(np.float32)),
                             extractor(pixels), atol=1e-6)
  small = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), np.uint8)
  resized = extractor.preprocess(small).numpy()
  expected = tf.compat.v1.image.resize_bilinear(
      np.tile(small, [1, 1, 1, 3]).astype(np.float32), [299, 299],
      align_corners=False, half_pixel_centers=False).numpy()
  np.testing.assert_allclose(resized, (expected - 128.) / 128., atol=1e-6)
  assert extractor(small).shape == (3, 2048)
  assert extractor(small[:0]).shape == (0, 2048)  # no images, no features
  with pytest.raises(ValueError, match=r'1 or 3 channels, got shape '
                     r'\[2, 8, 8, 2\]'):
    extractor(np.zeros((2, 8, 8, 2), np.uint8))


def test_frechet_distance_known_values_and_singular_covariances(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((500, 4))
  stats = fid.statistics(x)
  assert abs(fid.frechet_distance(stats, stats)) < 1e-8
  shifted = (stats[0] + 2., stats[1])
  assert abs(fid.frechet_distance(stats, shifted) - 16.) < 1e-8
  # Two Gaussians with diagonal covariances: closed form.
  a = (np.zeros(3), np.diag([1., 4., 9.]))
  b = (np.ones(3), np.diag([4., 1., 1.]))
  expected = 3. + sum((np.sqrt(p) - np.sqrt(q)) ** 2
                      for p, q in zip([1, 4, 9], [4, 1, 1]))
  assert abs(fid.frechet_distance(a, b) - expected) < 1e-10
  # Full rank: scipy's root of the product, as TTUR computes it.
  c = fid.statistics(rng.standard_normal((200, 64)) @ rng.uniform(
      size=(64, 64)))
  d = fid.statistics(rng.standard_normal((200, 64)) ** 2)
  root = np.real(scipy.linalg.sqrtm(c[1] @ d[1]))
  ttur = (np.sum((c[0] - d[0]) ** 2) + np.trace(c[1]) + np.trace(d[1]) -
          2. * np.trace(root))
  np.testing.assert_allclose(fid.frechet_distance(c, d), ttur, rtol=1e-9)
  few = fid.statistics(rng.standard_normal((5, 50)))  # rank 4 of 50
  other = fid.statistics(rng.standard_normal((6, 50)))
  assert np.isfinite(fid.frechet_distance(few, other))
  path = tmp_path / 'stats.npz'
  fid.save_statistics(path, few)
  loaded = fid.load_statistics(path)
  np.testing.assert_array_equal(loaded[0], few[0])
  np.testing.assert_array_equal(loaded[1], few[1])
  with pytest.raises(ValueError, match='statistics of different sizes'):
    fid.frechet_distance(stats, few)
  with pytest.raises(ValueError, match='statistics of different sizes'):
    fid.frechet_distance(stats, (stats[0], np.eye(5)))  # one covariance


def test_the_probe_check_holds_the_network_to_its_tolerance():
  """The probe features within `atol` pass, beyond it fail (by default
  1e-4, the agreement with the reference TF graph)."""
  expected = np.load(fid._PROBE_FEATURES)['features']  # pylint: disable=protected-access
  off_by = lambda delta: lambda images: expected + np.float32(delta)
  error = fid.check_extractor(off_by(5e-5))
  assert 4e-5 < error < 6e-5
  assert fid.check_extractor(off_by(5e-5), atol=error) == error
  with pytest.raises(errors.DataError, match='differ by 0.00015'):
    fid.check_extractor(off_by(1.5e-4))


def _graph_def_file(path, features_of_scaled):
  """Writes a graph def with TTUR's tensor names (`ExpandDims`, `pool_3`)
  around `features_of_scaled`, called while the graph is built."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.compat.v1.placeholder(tf.float32, [None, 299, 299, 3],
                                      name='ExpandDims')
    tf.reshape(features_of_scaled(images), [-1, 1, 1, 2048], name='pool_3')
  path.write_bytes(graph.as_graph_def().SerializeToString())
  return path


@pytest.fixture(scope='module')
def graph_def(tmp_path_factory, weights):
  return _graph_def_file(
      tmp_path_factory.mktemp('graph') / 'classify_image_graph_def.pb',
      lambda x: fid.InceptionExtractor(weights).features_of_scaled(x))


@needs_fid_data
def test_graph_def_loading_path(graph_def, reference):
  from_graph = fid.InceptionExtractor.from_source(str(graph_def))
  pixels = np.round(reference['inputs'][:2] * 128. + 128.)
  np.testing.assert_allclose(from_graph(pixels), reference['features'][:2],
                             atol=1e-4)


def _archive(tmp_path, graph_def_path):
  import tarfile  # pylint: disable=g-import-not-at-top
  archive = tmp_path / 'inception-2015-12-05.tgz'
  # The fastest gzip level: the reader is what is tested, not the packing.
  with tarfile.open(archive, 'w:gz', compresslevel=1) as tar:
    tar.add(graph_def_path, arcname='classify_image_graph_def.pb')
  return archive.as_uri()


@needs_fid_data
def test_probe_features_identify_the_network(extractor, weights, graph_def,
                                            tmp_path):
  assert fid.check_extractor(extractor) <= 1e-4
  altered = fid.InceptionExtractor(
      {**weights, _LAST_UNIT: weights[_LAST_UNIT] * 1.01})
  with pytest.raises(ValueError, match='not the FID network: its features '
                     'of the probe images differ by'):
    fid.check_extractor(altered)
  cache = tmp_path / 'cache'
  cache.mkdir()  # an existing, empty cache folder
  path = fid.download_graph_def(str(cache), _archive(tmp_path, graph_def))
  assert path == str(cache / 'classify_image_graph_def.pb')
  assert os.listdir(cache) == ['classify_image_graph_def.pb']
  # A graph with the right tensor names that computes something else.
  other = _graph_def_file(
      tmp_path / 'other.pb',
      lambda x: tf.tile(tf.reduce_mean(x, [1, 2]), [1, 683])[:, :2048])
  with pytest.raises(ValueError, match='not the FID network'):
    fid.download_graph_def(str(tmp_path / 'other'), _archive(tmp_path, other))
  assert os.listdir(tmp_path / 'other') == []
