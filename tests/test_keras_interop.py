"""The ways Keras 3 users reuse the models (docs/serving.md, "Keras users"): an
export as a `keras.layers.TFSMLayer`, and weights files."""

import os

import keras
import numpy as np
import pytest

import official
from tests.helpers import REPO

PIE = os.path.join(REPO, 'pretrained', 'pie_mnist', '1')


def _digits(count=3):
  return np.random.default_rng(0).uniform(
      size=(count, 28, 28, 1)).astype(np.float32)


@pytest.mark.parametrize('endpoint', ['encode', 'serving_default'])
def test_export_as_a_tfsm_layer_in_a_keras_model(endpoint, load_pretrained):
  layer = keras.layers.TFSMLayer(PIE, call_endpoint=endpoint)
  inputs = keras.Input((28, 28, 1))
  encoder = keras.Model(inputs, layer(inputs)['codes'])
  x = _digits()
  loaded = load_pretrained('pie_mnist')
  expected = loaded.encode(images=x)['codes']
  np.testing.assert_allclose(encoder(x), expected, rtol=1e-5, atol=1e-6)
  assert len(layer.weights) == len(loaded.weights)


@pytest.mark.parametrize('name', ['pie_mnist', 'revnet_ot_mnist'])
def test_a_frozen_export_under_a_trained_head_in_fit(name, tiny_export):
  """A frozen `TFSMLayer` runs under `fit`'s GradientTape (the RevNet export
  raised `LookupError` there before it kept its custom gradients; the
  shipped exports' gradients: tests/test_pretrained.py)."""
  layer = keras.layers.TFSMLayer(tiny_export(name)[1], call_endpoint='encode',
                                 trainable=False)
  inputs = keras.Input((28, 28, 1))
  head = keras.layers.Dense(10)
  model = keras.Model(inputs, head(layer(inputs)['codes']))
  model.compile('adam', keras.losses.SparseCategoricalCrossentropy(
      from_logits=True))
  frozen = [w.numpy().copy() for w in layer.weights]
  start = [w.numpy().copy() for w in head.weights]
  history = model.fit(_digits(8), np.arange(8) % 10, epochs=2, batch_size=4,
                      verbose=0)
  assert np.all(np.isfinite(history.history['loss']))
  assert all(np.array_equal(w.numpy(), v) for w, v in zip(layer.weights,
                                                          frozen))
  assert not np.allclose(head.weights[0].numpy(), start[0])


def test_weights_file_round_trip(tmp_path):
  small = dict(conv_hidden=8, dense_hidden=16, steps=1)
  model, other = (official.build_model('pie_mnist', **small)
                  for _ in range(2))
  x = _digits()
  for m in (model, other):
    m.encode_full(x)  # builds the weights
  model.save_weights(str(tmp_path / 'pie.weights.h5'))
  assert not np.allclose(other.encode_full(x), model.encode_full(x))
  other.load_weights(str(tmp_path / 'pie.weights.h5'))
  np.testing.assert_array_equal(other.encode_full(x), model.encode_full(x))


def test_keras_file_is_refused_before_any_file_is_written(tmp_path):
  model = official.build_model('pie_mnist', conv_hidden=8, dense_hidden=16,
                               steps=1)
  model.encode_full(_digits())
  with pytest.raises(NotImplementedError,
                     match=r'official\.serving\.save\(model, PATH\)'):
    model.save(str(tmp_path / 'm.keras'))
  assert os.listdir(tmp_path) == []


def test_load_model_on_an_export_points_to_tfsm_layer():
  with pytest.raises(ValueError, match='TFSMLayer'):
    keras.models.load_model(PIE)
