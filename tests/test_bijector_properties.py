"""Properties every bijector of the library must have, checked case by case."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import bijectors
import layers
from bijectors import collect_keras_layers

tfb = tfp.bijectors
tfd = tfp.distributions


def _additive(dtype):
  return bijectors.AdditiveCoupling(
      layers.ConvStack(6, 2, dtype=dtype), layers.ConvStack(6, 2, dtype=dtype))


def _additive_1x1(dtype):
  return bijectors.AdditiveCoupling(
      layers.ConvStack(6, 2, kernel_size=1, dtype=dtype),
      layers.ConvStack(6, 2, kernel_size=1, dtype=dtype))


def _affine_images(dtype):
  return bijectors.AffineCoupling(
      layers.ShiftAndLogScale(6, 2, conv=True, dtype=dtype),
      layers.ShiftAndLogScale(6, 2, conv=True, dtype=dtype))


def _affine_vectors(dtype):
  return bijectors.AffineCoupling(
      layers.ShiftAndLogScale(8, 3, dtype=dtype),
      layers.ShiftAndLogScale(8, 3, dtype=dtype), event_ndims=1)


def _split_images(dtype):
  return bijectors.Split(2, layers.ConvStack(6, 2, dtype=dtype), epsilon=0.3,
                         event_ndims=3)


def _factor_out(dtype):
  inner = tfb.Chain([
      bijectors.AffineCoupling(
          layers.ShiftAndLogScale(6, 4, conv=True, dtype=dtype),
          layers.ShiftAndLogScale(6, 4, conv=True, dtype=dtype)),
      bijectors.CheckerboardSubsample(False)])
  return bijectors.FactorOut(inner, num_keep=2, event_shape=[4, 4, 3])


# name: (factory, event shape, event_ndims)
CASES = {
    'additive_coupling': (_additive, (4, 4, 4), 3),
    'additive_coupling_1x1': (_additive_1x1, (2, 2, 4), 3),
    'affine_coupling_images': (_affine_images, (4, 4, 4), 3),
    'affine_coupling_vectors': (_affine_vectors, (6,), 1),
    'subsample_streams': (
        lambda dtype: bijectors.CheckerboardSubsample(), (4, 4, 2), 3),
    'subsample_plain': (
        lambda dtype: bijectors.CheckerboardSubsample(False), (4, 6, 1), 3),
    'householder_images': (
        lambda dtype: bijectors.Householder(3, dtype=dtype), (3, 3, 3), 3),
    'householder_vectors': (
        lambda dtype: bijectors.Householder(7, 4, dtype=dtype), (7,), 1),
    'split_zero_mean': (
        lambda dtype: bijectors.Split(3, epsilon=0.5), (7,), 1),
    'split_dense_mean': (
        lambda dtype: bijectors.Split(
            2, layers.DenseStack(8, 4, dtype=dtype), epsilon=0.1), (6,), 1),
    'split_conv_mean': (_split_images, (4, 4, 4), 3),
    'factor_out': (_factor_out, (4, 4, 3), 3),
}
DTYPES = {'float32': 1e-5, 'float64': 1e-12}


def _build(name, dtype='float32', batch=3):
  """A bijector with all of its weights randomized, and an input batch."""
  factory, event_shape, event_ndims = CASES[name]
  bijector = factory(dtype)
  x = tf.random.normal((batch,) + event_shape, dtype=dtype)
  bijector.forward(x)  # builds the networks
  rng = np.random.default_rng(0)
  for layer in collect_keras_layers(bijector):
    for w in layer.weights:
      w.assign(0.3 * rng.standard_normal(w.shape))
  return bijector, x, event_ndims


def _fresh(t):
  """A new tensor with the same values: defeats the bijector cache."""
  return tf.constant(np.array(t))


@pytest.mark.parametrize('dtype', sorted(DTYPES))
@pytest.mark.parametrize('name', sorted(CASES))
def test_round_trip_without_cache(name, dtype):
  bijector, x, _ = _build(name, dtype)
  y = bijector.forward(x)
  x_back = bijector.inverse(_fresh(y))
  assert y.dtype == x.dtype == x_back.dtype
  assert np.max(np.abs(x_back - x)) <= DTYPES[dtype]
  if y.shape == x.shape:
    assert np.max(np.abs(y - x)) > 1e-3  # the map is not the identity
  y_again = bijector.forward(_fresh(x_back))
  assert np.max(np.abs(y_again - y)) <= 10 * DTYPES[dtype]


@pytest.mark.parametrize('name', sorted(CASES))
def test_log_det_matches_autodiff_jacobian(name):
  bijector, x, event_ndims = _build(name, 'float64', batch=2)
  event_shape = x.shape[1:]
  flat = tf.reshape(x, [x.shape[0], -1])
  with tf.GradientTape() as tape:
    tape.watch(flat)
    y = bijector.forward(tf.reshape(flat, x.shape))
    y_flat = tf.reshape(y, [x.shape[0], -1])
  jacobian = tape.batch_jacobian(y_flat, flat)
  _, expected = np.linalg.slogdet(jacobian.numpy())
  assert jacobian.shape[1] == jacobian.shape[2] == np.prod(event_shape)
  log_det = bijector.forward_log_det_jacobian(_fresh(x), event_ndims=len(
      event_shape))
  np.testing.assert_allclose(
      np.broadcast_to(log_det, expected.shape), expected, atol=1e-9)


@pytest.mark.parametrize('name', sorted(CASES))
def test_forward_log_det_is_minus_inverse_log_det(name):
  bijector, x, event_ndims = _build(name, 'float64')
  y = _fresh(bijector.forward(x))
  fldj = bijector.forward_log_det_jacobian(_fresh(x), event_ndims=event_ndims)
  ildj = bijector.inverse_log_det_jacobian(
      y, event_ndims=bijector.forward_event_ndims(event_ndims))
  np.testing.assert_allclose(
      np.broadcast_to(fldj, [x.shape[0]]),
      -np.broadcast_to(ildj, [x.shape[0]]), atol=1e-10)


@pytest.mark.parametrize('name', sorted(CASES))
def test_a_declared_constant_jacobian_is_constant(name):
  """`is_constant_jacobian` lets TFP reuse one log-det for every input, so
  it must hold exactly where the log-det does not depend on the input. Each
  input goes to its own bijector (the same weights): TFP would otherwise
  return the first one's cached log-det for the second."""
  first, x, event_ndims = _build(name, 'float64')
  second, _, _ = _build(name, 'float64')
  other = tf.random.stateless_normal(x.shape, [1, 2], mean=1., stddev=2.,
                                     dtype=x.dtype)
  log_dets = [np.broadcast_to(b.forward_log_det_jacobian(
      t, event_ndims=event_ndims), [x.shape[0]]) for b, t in ((first, x),
                                                             (second, other))]
  constant = np.allclose(*log_dets, rtol=0, atol=1e-10)
  assert first.is_constant_jacobian == constant, log_dets


def test_split_by_default_keeps_one_entry_with_unit_epsilon():
  """Split(1): z is the first entry, r the rest with g = 0 and eps = 1, so
  the map is the identity and its log-det 0."""
  x = tf.random.stateless_normal([3, 5], [0, 1])
  split = bijectors.Split(1)
  np.testing.assert_array_equal(split.forward(x), x)
  np.testing.assert_array_equal(split.inverse(_fresh(x)), x)
  assert float(split.forward_log_det_jacobian(x, event_ndims=1)) == 0.


def test_householder_of_one_channel_is_the_sign_flip():
  """In one dimension every reflection is x -> -x (of log |det| 0), also a
  product of two: each flips once."""
  x = tf.random.stateless_normal([3, 2, 2, 1], [0, 2])
  for count in (1, 2):
    flip = bijectors.Householder(1, count).forward(x)
    np.testing.assert_allclose(flip, (-1)**count * x, rtol=1e-6)
  assert float(bijectors.Householder(1).forward_log_det_jacobian(
      x, event_ndims=3)) == 0.


@pytest.mark.parametrize('name', sorted(CASES))
def test_event_shapes(name):
  bijector, x, _ = _build(name)
  y = bijector.forward(x)
  assert bijector.forward_event_shape(x.shape[1:]) == y.shape[1:]
  assert bijector.inverse_event_shape(y.shape[1:]) == x.shape[1:]
  np.testing.assert_array_equal(
      bijector.forward_event_shape_tensor(x.shape[1:]), y.shape[1:])
  np.testing.assert_array_equal(
      bijector.inverse_event_shape_tensor(y.shape[1:]), x.shape[1:])
  assert np.prod(y.shape) == np.prod(x.shape)
  # With the batch's leading axis too, as TransformedDistribution asks.
  assert bijector.forward_event_shape(x.shape) == y.shape
  assert bijector.inverse_event_shape(y.shape) == x.shape
  np.testing.assert_array_equal(
      bijector.forward_event_shape_tensor(x.shape), y.shape)
  np.testing.assert_array_equal(
      bijector.inverse_event_shape_tensor(y.shape), x.shape)


@pytest.mark.parametrize('name', sorted(CASES))
def test_gradient_reaches_every_variable_also_inside_chain(name):
  bijector, x, event_ndims = _build(name)
  expected = sum(len(layer.trainable_weights)
                 for layer in collect_keras_layers(bijector))
  chain = tfb.Chain([tfb.Identity(), bijector])
  assert len(bijector.trainable_variables) == expected
  assert len(chain.trainable_variables) == expected
  y = chain.forward(x)
  for direction, inputs in (('forward', x), ('inverse', y)):
    with tf.GradientTape() as tape:
      out = getattr(chain, direction)(_fresh(inputs))
      loss = tf.reduce_sum(out ** 2) + tf.reduce_sum(
          chain.forward_log_det_jacobian(_fresh(x), event_ndims=event_ndims))
    grads = tape.gradient(loss, chain.trainable_variables)
    for var, grad in zip(chain.trainable_variables, grads):
      assert grad is not None, var.name
      assert np.all(np.isfinite(grad)) and np.any(grad != 0), var.name


@pytest.mark.parametrize('name', sorted(CASES))
def test_transformed_distribution(name):
  bijector, x, _ = _build(name)
  base = tfd.Sample(tfd.Normal(tf.constant(0., x.dtype), 1.),
                    bijector.forward_event_shape(x.shape[1:]))
  flow = tfd.TransformedDistribution(base, tfb.Invert(bijector))
  samples = flow.sample(4, seed=1)
  assert samples.shape == (4,) + tuple(x.shape[1:])
  log_prob = flow.log_prob(_fresh(x))
  expected = base.log_prob(bijector.forward(_fresh(x))) + (
      bijector.forward_log_det_jacobian(_fresh(x),
                                        event_ndims=len(x.shape) - 1))
  np.testing.assert_allclose(log_prob, expected, rtol=1e-5)
  assert len(flow.trainable_variables) == len(bijector.trainable_variables)


@pytest.mark.parametrize('name', sorted(CASES))
def test_tf_function_and_saved_model_round_trip(name, tmp_path):
  bijector, x, _ = _build(name)
  y = bijector.forward(x)
  spec = tf.TensorSpec([None] + x.shape[1:], x.dtype)
  out_spec = tf.TensorSpec([None] + y.shape[1:], y.dtype)
  module = tf.Module()
  module.bijector = bijector
  module.forward = tf.function(bijector.forward, input_signature=[spec])
  module.inverse = tf.function(bijector.inverse, input_signature=[out_spec])
  np.testing.assert_allclose(module.forward(x), y, atol=1e-6)
  tf.saved_model.save(module, str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  np.testing.assert_allclose(loaded.forward(_fresh(x)), y, atol=1e-6)
  np.testing.assert_allclose(loaded.inverse(_fresh(y)), x, atol=1e-5)


@pytest.mark.parametrize('inverse', [False, True])
@pytest.mark.parametrize('name', ['additive_coupling', 'additive_coupling_1x1',
                                  'subsample_streams', 'subsample_plain'])
def test_rebuild_and_backprop_equals_autodiff(name, inverse):
  bijector, x, _ = _build(name, 'float64')
  if inverse:  # start from a valid output
    x = _fresh(bijector.forward(x))
  apply = bijector.inverse if inverse else bijector.forward
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = apply(x)
  d_y = tf.random.stateless_normal(y.shape, [3, 4], dtype=tf.float64)
  variables = list(bijector.trainable_variables)
  d_x, *d_vars = tape.gradient(y, [x] + variables, output_gradients=d_y)
  # The forward direction by default.
  x_again, d_x_again, pairs = bijector.rebuild_and_backprop(
      _fresh(y), d_y, **({'inverse': True} if inverse else {}))
  np.testing.assert_allclose(x_again, x, atol=1e-12)
  np.testing.assert_allclose(d_x_again, d_x, atol=1e-12)
  rebuilt = {var.ref(): grad for var, grad in pairs}
  assert len(rebuilt) == len(variables) == (8 if 'coupling' in name else 0)
  for var, grad in zip(variables, d_vars):
    np.testing.assert_allclose(rebuilt[var.ref()], grad, atol=1e-12)


def _distribution(bijector, x):
  """The bijector's inverse pushing a standard normal onto x's event shape."""
  base = tfd.Sample(tfd.Normal(tf.constant(0., x.dtype), 1.),
                    bijector.forward_event_shape(x.shape[1:]))
  return tfd.TransformedDistribution(base, tfb.Invert(bijector))


@pytest.mark.parametrize('sample_shape', [(), (3,), (2, 3)])
@pytest.mark.parametrize('name', sorted(CASES))
def test_any_sample_shape_in_a_distribution(name, sample_shape):
  bijector, x, _ = _build(name)
  dist = _distribution(bijector, x)
  samples = dist.sample(sample_shape, seed=5)
  assert samples.shape == sample_shape + tuple(x.shape[1:])
  log_prob = dist.log_prob(_fresh(samples))
  assert log_prob.shape == sample_shape
  assert np.all(np.isfinite(log_prob))


@pytest.mark.parametrize('name', sorted(CASES))
def test_two_leading_axes_equal_the_same_items_in_one(name):
  bijector, x, event_ndims = _build(name, 'float64', batch=6)
  event = tuple(x.shape[1:])
  grid = lambda t: tf.reshape(t, (2, 3) + tuple(t.shape[1:]))
  y = bijector.forward(_fresh(x))
  np.testing.assert_allclose(bijector.forward(_fresh(grid(x))), grid(y),
                             atol=1e-12)
  np.testing.assert_allclose(bijector.inverse(_fresh(grid(y))), grid(x),
                             atol=1e-10)
  out_ndims = bijector.forward_event_ndims(event_ndims)
  for method, inputs, ndims in (('forward_log_det_jacobian', x, event_ndims),
                                ('inverse_log_det_jacobian', y, out_ndims)):
    flat = getattr(bijector, method)(_fresh(inputs), event_ndims=ndims)
    grid_ldj = getattr(bijector, method)(_fresh(grid(inputs)),
                                         event_ndims=ndims)
    np.testing.assert_allclose(np.broadcast_to(grid_ldj, (2, 3)),
                               np.broadcast_to(flat, (6,)).reshape(2, 3),
                               atol=1e-10)
  dist = _distribution(bijector, x)
  np.testing.assert_allclose(dist.log_prob(_fresh(grid(x))),
                             np.reshape(dist.log_prob(_fresh(x)), (2, 3)),
                             atol=1e-10)
  assert dist.event_shape == event


@pytest.mark.parametrize('name', sorted(CASES))
def test_unknown_leading_shape_and_xla(name):
  bijector, x, _ = _build(name)
  dist = _distribution(bijector, x)
  expected = dist.log_prob(_fresh(x))
  grid = tf.reshape(x, (1,) + tuple(x.shape))
  for leading in ([None], [None, None]):
    log_prob = tf.function(dist.log_prob, input_signature=[
        tf.TensorSpec(leading + x.shape[1:], x.dtype)])
    inputs = x if len(leading) == 1 else grid
    np.testing.assert_allclose(np.reshape(log_prob(_fresh(inputs)), [-1]),
                               expected, rtol=1e-5, atol=1e-4)
  compiled = tf.function(dist.log_prob, jit_compile=True)
  np.testing.assert_allclose(compiled(_fresh(grid)), [expected], rtol=1e-5,
                             atol=1e-4)
