"""Bad input to the bijectors: one ValueError naming the problem and the value."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import bijectors
import layers


def _coupling(event_ndims=3):
  if event_ndims == 1:
    return bijectors.AffineCoupling(layers.ShiftAndLogScale(4, 2),
                                    layers.ShiftAndLogScale(4, 2),
                                    event_ndims=1)
  return bijectors.AdditiveCoupling(layers.ConvStack(4, 2),
                                    layers.ConvStack(4, 2))


@pytest.mark.parametrize('shape, message', [
    ((1, 5, 4, 2), r'height must be even, got 5 in shape \[1, 5, 4, 2\]'),
    ((1, 4, 7, 2), r'width must be even, got 7'),
    ((1, 4, 4, 3), r'channel count \(two streams\) must be even, got 3'),
    ((4, 4), r'expected NHWC images with at least 3 axes .* got shape '
             r'\[4, 4\]'),
])
def test_subsample_rejects_bad_images(shape, message):
  with pytest.raises(ValueError, match=message):
    bijectors.CheckerboardSubsample().forward(tf.zeros(shape))


def test_subsample_rejects_bad_event_shapes_both_ways():
  with pytest.raises(ValueError, match='height must be even, got 3'):
    bijectors.CheckerboardSubsample(False).forward_event_shape([3, 4, 1])
  with pytest.raises(ValueError, match='multiple of 8, got 12'):
    bijectors.CheckerboardSubsample().inverse(tf.zeros([1, 2, 2, 12]))


@pytest.mark.parametrize('bijector', ['additive', 'affine'])
def test_couplings_reject_odd_channels(bijector):
  coupling = (_coupling() if bijector == 'additive' else
              bijectors.AffineCoupling(
                  layers.ShiftAndLogScale(4, 2, conv=True),
                  layers.ShiftAndLogScale(4, 2, conv=True)))
  with pytest.raises(ValueError, match=r'must be even, got 5 in shape'):
    coupling.forward(tf.zeros([1, 4, 4, 5]))
  with pytest.raises(ValueError, match=r'must be even, got 5 in shape'):
    coupling.inverse(tf.zeros([1, 4, 4, 5]))


def test_couplings_reject_fewer_axes_than_their_event():
  with pytest.raises(ValueError,
                     match=r'at least 3 axes .* got shape \[4, 2\]'):
    _coupling().forward(tf.zeros([4, 2]))
  with pytest.raises(ValueError, match=r'at least 1 axis .* got shape \[\]'):
    _coupling(event_ndims=1).forward(tf.zeros([]))


def test_householder_rejects_channel_mismatch():
  with pytest.raises(ValueError, match=r'householder: the channel count must '
                     r'be 3, got 5 in shape \[2, 4, 4, 5\]'):
    bijectors.Householder(3).forward(tf.zeros([2, 4, 4, 5]))
  with pytest.raises(ValueError, match='must be positive, got 0 and 3'):
    bijectors.Householder(0)


@pytest.mark.parametrize('epsilon', [0.0, -0.5])
def test_split_rejects_non_positive_epsilon(epsilon):
  with pytest.raises(ValueError, match=f'epsilon must be positive, got '
                     f'{epsilon}'):
    bijectors.Split(2, epsilon=epsilon)


def test_split_rejects_keeping_everything():
  with pytest.raises(ValueError, match=r'to keep 4 entries, the last axis must '
                     r'be greater than 4, got 4 in shape \[2, 4\]'):
    bijectors.Split(4).forward(tf.zeros([2, 4]))
  with pytest.raises(ValueError, match='num_keep must be a positive integer'):
    bijectors.Split(0)


# validate_args=True: run-time assertions for what only the run knows.

def _run_with_unknown_shape(method, rank, x):
  return tf.function(method, input_signature=[
      tf.TensorSpec([None] * rank, x.dtype)])(x)


@pytest.mark.parametrize('make, method, x, message', [
    (lambda v: bijectors.Householder(3, validate_args=v), 'forward',
     tf.zeros([2, 4]), 'householder: the channel count must be 3, got'),
    (lambda v: bijectors.CheckerboardSubsample(validate_args=v), 'forward',
     tf.zeros([1, 3, 4, 2]), 'the height must be even, got'),
    (lambda v: bijectors.CheckerboardSubsample(validate_args=v), 'inverse',
     tf.zeros([1, 2, 2, 12]), 'the channel count must be a multiple of 8'),
    (lambda v: bijectors.Split(4, validate_args=v), 'forward',
     tf.zeros([2, 4]), 'the last axis must be greater than 4, got'),
    (lambda v: bijectors.FactorOut(tfp.bijectors.Identity(), 2, [4, 3],
                                   validate_args=v), 'forward',
     tf.zeros([2, 4, 5]), r'the event shape is \[4, 3\], so axis -1 must be 3'),
])
def test_validate_args_checks_sizes_unknown_until_run_time(make, method, x,
                                                           message):
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    _run_with_unknown_shape(getattr(make(True), method), len(x.shape), x)


def test_without_validate_args_unknown_sizes_are_not_checked():
  # Householder on 4 channels with 3-vectors: the arithmetic fails instead.
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    _run_with_unknown_shape(bijectors.Householder(3).forward, 2,
                            tf.zeros([2, 4]))
  assert 'channel count' not in str(raised.value)
  # Couplings (built on even channels) on odd ones: their networks fail.
  for event_ndims, even, odd in ((1, [2, 4], [2, 5]),
                                 (3, [1, 4, 4, 4], [1, 4, 4, 5])):
    coupling = _coupling(event_ndims)
    coupling.forward(tf.zeros(even))
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
      _run_with_unknown_shape(coupling.forward, len(odd), tf.zeros(odd))
    assert 'must be even' not in str(raised.value)
  # Subsampling an odd height: the reshape fails instead.
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    _run_with_unknown_shape(bijectors.CheckerboardSubsample().forward, 4,
                            tf.zeros([1, 3, 4, 2]))
  assert 'must be even' not in str(raised.value)
  # FactorOut on a wrong last axis: the wrong entries go through unchecked.
  out = _run_with_unknown_shape(bijectors.FactorOut(
      tfp.bijectors.Identity(), 2, [4, 3]).forward, 3, tf.zeros([2, 4, 5]))
  assert out.shape == (2, 20)


@pytest.mark.parametrize('num_keep', [0, 3, -1])
def test_factor_out_keeps_part_of_the_last_axis(num_keep):
  with pytest.raises(ValueError, match=rf'factor_out: num_keep must lie in '
                     rf'\(0, 3\), got {num_keep}'):
    bijectors.FactorOut(tfp.bijectors.Identity(), num_keep, [4, 4, 3])


def test_factor_out_may_keep_a_single_channel():
  kept_one = bijectors.FactorOut(tfp.bijectors.Identity(), 1, [4, 4, 3])
  x = tf.reshape(tf.range(96.), [2, 4, 4, 3])
  y = kept_one.forward(x)
  np.testing.assert_array_equal(y[:, :16], tf.reshape(x[..., :1], [2, 16]))
  np.testing.assert_array_equal(kept_one.inverse(y), x)


def test_static_checks_do_not_depend_on_validate_args():
  for validate_args in (False, True):
    with pytest.raises(ValueError, match='must be 3, got 4'):
      bijectors.Householder(3, validate_args=validate_args).forward(
          tf.zeros([2, 4]))


def test_validate_args_checks_a_variable_epsilon_at_every_use():
  epsilon = tf.Variable(0.5)
  checked = bijectors.Split(2, epsilon=epsilon, validate_args=True)
  unchecked = bijectors.Split(2, epsilon=epsilon)
  x = tf.ones([3, 5])
  np.testing.assert_allclose(checked.forward(x)[0], [1, 1, 2, 2, 2])
  epsilon.assign(-0.5)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='split: epsilon must be positive'):
    checked.forward(tf.ones([3, 5]))
  assert np.all(unchecked.forward(tf.ones([3, 5]))[:, 2:] < 0)


@pytest.mark.parametrize('epsilon', [0.0, -0.5])
def test_a_constant_tensor_epsilon_is_checked_when_built(epsilon):
  with pytest.raises(ValueError, match='epsilon must be positive'):
    bijectors.Split(2, epsilon=tf.constant(epsilon))


def test_validate_args_checks_an_epsilon_only_known_at_run_time():
  @tf.function
  def forward(epsilon):
    return bijectors.Split(2, epsilon=epsilon, validate_args=True).forward(
        tf.ones([3, 5]))
  assert forward(tf.constant(0.5)).shape == (3, 5)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='epsilon must be positive'):
    forward(tf.constant(-0.5))


def test_validate_args_rejects_a_zero_householder_vector():
  checked = bijectors.Householder(3, validate_args=True)
  unchecked = bijectors.Householder(3)
  for householder in (checked, unchecked):
    householder.vectors.assign([[1., 0., 0.], [0., 0., 0.], [0., 1., 1.]])
  assert np.all(np.isnan(unchecked.forward(tf.ones([2, 3]))))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='every reflection vector must be non-zero'):
    checked.forward(tf.ones([2, 3]))
