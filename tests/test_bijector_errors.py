"""Bad input to the bijectors: one ValueError naming the problem and the value."""

import pytest
import tensorflow as tf

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
    ((4, 4), r'expected NHWC images .* got shape \[4, 4\]'),
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


def test_couplings_reject_wrong_rank():
  with pytest.raises(ValueError, match=r'rank 4 .* got shape \[4, 4, 2\]'):
    _coupling().forward(tf.zeros([4, 4, 2]))
  with pytest.raises(ValueError, match=r'rank 2 .* got shape \[1, 4, 4, 2\]'):
    _coupling(event_ndims=1).forward(tf.zeros([1, 4, 4, 2]))


def test_householder_rejects_channel_mismatch():
  with pytest.raises(ValueError, match=r'expected 3 channels .* \[2, 4, 4, 5\]'):
    bijectors.Householder(3).forward(tf.zeros([2, 4, 4, 5]))
  with pytest.raises(ValueError, match='must be positive, got 0 and 3'):
    bijectors.Householder(0)


@pytest.mark.parametrize('epsilon', [0.0, -0.5])
def test_split_rejects_non_positive_epsilon(epsilon):
  with pytest.raises(ValueError, match=f'epsilon must be positive, got '
                     f'{epsilon}'):
    bijectors.Split(2, epsilon=epsilon)


def test_split_rejects_keeping_everything():
  with pytest.raises(ValueError, match=r'cannot keep 4 of 4 entries'):
    bijectors.Split(4).forward(tf.zeros([2, 4]))
  with pytest.raises(ValueError, match='num_keep must be a positive integer'):
    bijectors.Split(0)
