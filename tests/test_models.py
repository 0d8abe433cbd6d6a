"""The three models: architecture, round trips, the autoencoder API, gradients."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import layers
import official
from official import models


def _flow_parameter_count(model):
  return sum(int(np.prod(v.shape)) for v in model.flow.trainable_variables)


def _randomize_pie(model, scale=0.02, seed=0):
  """Moves PIE off its identity initialization (zero-initialized outputs)."""
  rng = np.random.default_rng(seed)
  for v in model.trainable_variables:
    v.assign(v + scale * rng.standard_normal(v.shape).astype(v.dtype))


@pytest.fixture(scope='module')
def revnet_mnist():
  return official.build_model('revnet_mnist')


@pytest.fixture(scope='module')
def pie():
  model = official.build_model('pie_mnist')
  _randomize_pie(model)
  return model


def test_revnet_parameter_counts_match_the_reference():
  celeba = official.build_model('revnet_celeba64')
  assert _flow_parameter_count(celeba) == 60_409_572
  assert celeba.code_size == 64 * 64 * 3
  x = tf.random.uniform((2, 64, 64, 3), seed=1)
  x_back = celeba.decode_full(tf.constant(celeba.encode_full(x).numpy()))
  assert np.max(np.abs(x_back - x)) <= 5e-6
  assert celeba.encode(x).shape == (2, 64)
  assert celeba.sample(2, seed=3).shape == (2, 64, 64, 3)


def test_revnet_mnist_round_trip_and_prior(revnet_mnist):
  model = revnet_mnist
  assert _flow_parameter_count(model) == 2_108_180
  x = tf.random.uniform((8, 28, 28, 1), seed=2)
  u = model.encode_full(x)
  assert u.shape == (8, 1024)
  x_back = model.decode_full(tf.constant(u.numpy()))
  assert np.max(np.abs(x_back - x)) <= 5e-6
  samples = model.sample(10, seed=4)
  assert samples.shape == (10, 28, 28, 1)
  np.testing.assert_allclose(samples, model.sample(10, seed=4))


def test_revnet_prior_dims_are_the_largest_std_dims():
  model = official.build_model('revnet_celeba64')
  codes = np.random.default_rng(0).standard_normal((50, model.code_size))
  codes[:, [7, 300, 9000]] *= 10.
  model.config = dataclasses.replace(model.config, num_prior_dims=64)
  model.set_prior_dims_from_codes(codes)
  dims = model.prior_dims.numpy()
  assert {7, 300, 9000} <= set(dims) and len(set(dims)) == 64
  u = tf.constant(codes[:3], tf.float32)
  z = model.restrict(u)
  np.testing.assert_array_equal(z, codes[:3][:, dims].astype(np.float32))
  extended = model.extend(z).numpy()
  np.testing.assert_array_equal(extended[:, dims], z)
  assert np.count_nonzero(extended) == 3 * 64


def test_class_gaussians_are_set_from_codes(revnet_mnist):
  codes = np.random.default_rng(1).standard_normal((40, 1024))
  labels = np.arange(40) % 10
  revnet_mnist.set_class_gaussians_from_codes(codes, labels)
  np.testing.assert_allclose(revnet_mnist.class_means.numpy()[3],
                             codes[labels == 3].mean(0), rtol=1e-5)
  np.testing.assert_allclose(revnet_mnist.class_stds.numpy()[3],
                             codes[labels == 3].std(0), rtol=1e-5)
  revnet_mnist.set_class_gaussians_from_codes(codes[labels < 9],
                                              labels[labels < 9])
  np.testing.assert_allclose(revnet_mnist.class_means.numpy()[9],
                             codes[labels < 9].mean(0), rtol=1e-5)


def test_pie_architecture_and_round_trips(pie):
  assert pie.code_size == 784 and pie.latent_size == 10
  splits = [m for m in pie.flow.submodules if type(m).__name__ == 'Split']
  assert sorted(s.num_keep for s in splits) == [2, 4, 10, 64]
  assert all(abs(s.epsilon ** 2 - 0.01) < 1e-12 for s in splits)
  x = tf.random.uniform((6, 28, 28, 1), seed=5)
  u = pie.encode_full(x)
  x_back = pie.decode_full(tf.constant(u.numpy()))
  assert np.max(np.abs(x_back - x)) <= 1e-4
  z = tf.random.normal((6, 10), seed=6)
  np.testing.assert_allclose(pie.encode(tf.constant(pie.decode(z).numpy())),
                             z, atol=1e-4)
  assert pie.sample(4, seed=1, temperature=0.5).shape == (4, 28, 28, 1)


def test_pie_log_prob_is_base_density_plus_log_det(pie):
  x = tf.random.uniform((4, 28, 28, 1), seed=7)
  u = pie.encode_full(tf.constant(x.numpy()))
  base = -0.5 * tf.reduce_sum(u ** 2, -1) - 0.5 * 784 * np.log(2 * np.pi)
  log_det = pie.flow.forward_log_det_jacobian(tf.constant(x.numpy()),
                                              event_ndims=3)
  np.testing.assert_allclose(pie.log_prob(x), base + log_det, rtol=1e-5)
  # Eq. 17's eps term: each dropped dimension contributes -log(eps) = log 10.
  dropped = 784 - 10
  assert np.all(log_det.numpy() > dropped * np.log(10.) - 500)
  bpd = pie.bits_per_dim(tf.cast(x * 255., tf.int32))
  assert bpd.shape == (4,) and np.all(np.isfinite(bpd))


def _op_counts(fn, x):
  graph = tf.function(fn).get_concrete_function(x).graph.as_graph_def()
  nodes = list(graph.node) + [n for f in graph.library.function
                              for n in f.node_def]
  return {op: sum(n.op == op for n in nodes) for op in ('MatMul', 'Conv2D')}


def test_pie_log_prob_runs_each_network_once(pie):
  x = tf.random.uniform((2, 28, 28, 1), seed=8)
  forward = _op_counts(pie.encode_full, x)
  assert forward['MatMul'] > 0 and forward['Conv2D'] > 0
  assert _op_counts(pie.log_prob, x) == forward
  # Both directions' log-dets agree when each is computed alone.
  u = pie.encode_full(tf.identity(x))
  np.testing.assert_allclose(
      pie.flow.inverse_log_det_jacobian(tf.constant(u.numpy()), event_ndims=1),
      -pie.flow.forward_log_det_jacobian(tf.identity(x), event_ndims=3),
      rtol=1e-5)


def test_pie_options():
  model = official.build_model('pie_mnist', epsilon_sq=1.0, learn_g=False,
                               conv_hidden=8, dense_hidden=16)
  splits = [m for m in model.flow.submodules if type(m).__name__ == 'Split']
  assert all(s.epsilon == 1.0 and not s.keras_layers for s in splits)


@pytest.mark.parametrize('name', ['revnet_mnist', 'pie_mnist'])
def test_variables_are_complete_from_both_sides(name, revnet_mnist, pie):
  model = revnet_mnist if name == 'revnet_mnist' else pie
  flow_refs = {v.ref() for v in model.flow.trainable_variables}
  model_refs = {v.value.ref() for v in model.trainable_variables}
  assert flow_refs <= model_refs
  flow_layer_vars = [w for layer in model.flow_layers
                     for w in layer.trainable_weights]
  assert len(flow_refs) == len(flow_layer_vars) == len(
      model.flow.trainable_variables)
  x = tf.random.uniform((2, 28, 28, 1), seed=8)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model.encode_full(x) ** 2)
  grads = tape.gradient(loss, model.flow.trainable_variables)
  assert all(g is not None and np.any(g != 0) for g in grads)


def test_memory_saving_gradients_equal_plain_autodiff():
  """Two small stages: both kinds of step (subsampling with and without
  streams, couplings) in both directions, as the full RevNet has them."""
  model = official.build_model(dataclasses.replace(
      models.model_config('revnet_mnist'), num_classes=0,
      stages=(models.RevNetStage(8, 2), models.RevNetStage(12, 2))))
  x = tf.random.uniform((4, 28, 28, 1), seed=9)
  results, default = {}, model.config
  for memory_saving in (True, False):
    model.config = dataclasses.replace(default, memory_saving=memory_saving)

    @tf.function
    def step(x):
      with tf.GradientTape() as tape:
        codes = model.encode(x)  # encoding direction
        clamped = tf.clip_by_value(codes, -0.1, 0.1)
        decoded = model.decode(clamped)  # decoding direction
        loss = tf.reduce_sum(codes ** 2) + tf.reduce_sum(tf.abs(decoded - x))
      return loss, tape.gradient(loss, model.trainable_variables)

    results[memory_saving] = step(x)
  model.config = default
  np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-6)
  checked = 0
  for saved, plain in zip(results[True][1], results[False][1]):
    if plain is None:
      continue
    error = np.linalg.norm(saved - plain) / np.linalg.norm(plain)
    assert error <= 1e-5
    checked += 1
  assert checked == 32  # 4 blocks x (F, G) x (kernel, bias) x 2 convolutions


def test_automatic_memory_saving_keeps_activations_within_the_budget():
  model = official.build_model('revnet_celeba64', memory_saving='auto',
                               stages=(models.RevNetStage(4, 1),))
  # 32x32x12 after the subsampling; one block: F and G keep 12 + 2 x 4
  # values per pixel each, beside the subsampling's 12.
  per_image = 32 * 32 * (12 + 2 * (12 + 2 * 4)) * 4 / 2**20
  np.testing.assert_allclose(model.activation_mib(10), 10 * per_image)
  budget = model.config.activation_budget_mib
  fits = int(budget / per_image)
  assert not model.uses_memory_saving(fits)
  assert model.uses_memory_saving(fits + 1)
  assert model.uses_memory_saving(None)  # batch unknown: the safe mode
  with pytest.raises(ValueError, match="memory_saving must be True, False "
                     "or 'auto', got 'yes'"):
    from official import experiments  # pylint: disable=g-import-not-at-top
    experiments.override(experiments.get_experiment('revnet_aae_celeba64'),
                         {'model.memory_saving': 'yes'})


@pytest.mark.parametrize('name', ['revnet_mnist', 'pie_mnist', 'critic'])
def test_checkpoint_of_the_model_alone_restores_every_weight_once(
    name, tmp_path):
  def build():
    if name == 'critic':
      critic = layers.Discriminator()
      critic.build((None, 64))
      return critic
    if name == 'pie_mnist':
      return official.build_model(name, conv_hidden=8, dense_hidden=16,
                                  steps=1)
    return official.build_model(name, stages=(models.RevNetStage(4, 1),))
  keras.utils.set_random_seed(1)
  source = build()
  path = tf.train.Checkpoint(model=source).write(str(tmp_path / 'ckpt'))
  saved = [n for n, _ in tf.train.list_variables(path)
           if n.endswith('VARIABLE_VALUE')]
  assert len(saved) == len(source.weights)
  keras.utils.set_random_seed(2)
  target = build()
  differ = [w.path for w, v in zip(target.weights, source.weights)
            if not np.array_equal(w.numpy(), v.numpy())]
  assert differ  # fresh weights, before the restore
  tf.train.Checkpoint(model=target).read(path).assert_consumed()
  for restored, original in zip(target.weights, source.weights):
    np.testing.assert_array_equal(restored.numpy(), original.numpy(),
                                  err_msg=restored.path)


def test_float64_end_to_end():
  model = official.build_model(
      'revnet_mnist', dtype='float64',
      stages=(models.RevNetStage(4, 1), models.RevNetStage(8, 1)),
      num_prior_dims=16)
  x = tf.random.uniform((3, 28, 28, 1), dtype=tf.float64, seed=10)
  u = model.encode_full(x)
  assert u.dtype == tf.float64 and u.shape == (3, 1024)
  assert np.max(np.abs(model.decode_full(tf.constant(u.numpy())) - x)) < 1e-12
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model.decode(model.encode(x)) ** 2)
  assert all(g.dtype == tf.float64
             for g in tape.gradient(loss, model.flow.trainable_variables))
  pie = official.build_model('pie_mnist', dtype='float64', conv_hidden=8,
                             dense_hidden=16)
  _randomize_pie(pie)
  u = pie.encode_full(x)
  assert np.max(np.abs(pie.decode_full(tf.constant(u.numpy())) - x)) < 1e-12
  assert pie.log_prob(x).dtype == tf.float64


def test_unknown_model_and_bad_shapes(revnet_mnist):
  with pytest.raises(ValueError, match="unknown model 'revnet'; valid names: "
                     'conv_autoencoder_mnist, pie_mnist, revnet_celeba64, '
                     'revnet_mnist'):
    official.build_model('revnet')
  with pytest.raises(ValueError, match=r'expected images of shape \(N,\) \+ '
                     r'\(28, 28, 1\), got \[2, 32, 32, 1\]'):
    revnet_mnist.encode(tf.zeros([2, 32, 32, 1]))
  with pytest.raises(ValueError, match=r'expected codes of shape \(N, 1024\)'):
    revnet_mnist.decode_full(tf.zeros([2, 10]))


def test_pie_log_prob_equals_base_density_plus_autodiff_log_det():
  """All of `log_prob` on a small PIE (8x8 images, 64 -> 4 dimensions, a
  learned g and eps^2 = 0.1) against the flow's Jacobian from autodiff:
  log p(x) = log N(F(x); 0, I) + log |det dF/dx| (PIE Eq. 17)."""
  from official import models  # pylint: disable=g-import-not-at-top
  config = models.PieConfig(
      image_shape=None, conv_blocks=None, linear_sizes=None, steps=1,
      conv_hidden=8, dense_hidden=16, latent_dims=4,
      epsilon_sq=0.1).for_data((8, 8, 1))
  pie = official.build_model(config, dtype='float64')
  _randomize_pie(pie, scale=0.05)
  x = tf.random.stateless_uniform((3, 8, 8, 1), [3, 4], dtype=tf.float64)
  with tf.GradientTape() as tape:
    tape.watch(x)
    u = pie.encode_full(x)
  jacobian = tf.reshape(tape.batch_jacobian(u, x), (3, 64, 64))
  _, log_det = tf.linalg.slogdet(jacobian)
  base = -0.5 * tf.reduce_sum(u ** 2, -1) - 32. * np.log(2. * np.pi)
  np.testing.assert_allclose(pie.log_prob(x), base + log_det, rtol=1e-10)
  # Each of the 60 dropped dimensions contributes about -log(eps).
  assert np.all(log_det.numpy() > 60 * 0.5 * np.log(10.) - 20.)


@pytest.mark.parametrize('temperature', [1.0, 0.5])
def test_pie_density_samples_draw_the_dropped_parts_pseudo_inverse_ones_not(
    tmp_path, temperature):
  """Encoding a sample gives back its u = [z, r']: the standardized dropped
  parts r' = (r - g(z)) / eps are N(0, temperature^2) for density samples
  and 0 for pseudo-inverse ones; both share z for one seed."""
  from tests.helpers import train_tiny_run  # pylint: disable=g-import-not-at-top
  model = train_tiny_run('pie_mnist', tmp_path, steps=10).model
  density = model.sample(64, seed=3, temperature=temperature, density=True)
  mean = model.sample(64, seed=3, temperature=temperature)
  u_density = model.encode_full(density).numpy()
  u_mean = model.encode_full(mean).numpy()
  latent = model.latent_size
  dropped = u_density[:, latent:]
  assert abs(dropped.std() - temperature) < 0.01 * temperature + 0.005
  assert abs(dropped.mean()) < 0.01
  assert np.abs(u_mean[:, latent:]).max() < 1e-3
  np.testing.assert_allclose(u_density[:, :latent], u_mean[:, :latent],
                             atol=1e-3)
  assert abs(u_mean[:, :latent].std() - temperature) < 0.15 * temperature
  assert np.abs(density - mean).max() > 0.01  # the dropped parts show


def test_the_authors_coupling_order_computes_their_block():
  """'authors': each block is their ReversibleBlockOld, [x1, x2] ->
  [x2 + F(x1), x1 + G(x2 + F(x1))]; with the same weights the RevNet
  computes another function than the library's order, both exactly
  invertible, and memory-saving gradients still equal plain autodiff."""
  stages = (models.RevNetStage(4, 2), models.RevNetStage(6, 2))
  config = dataclasses.replace(models.model_config('revnet_mnist'),
                               stages=stages, num_classes=0)
  ours = official.build_model(config)
  theirs = official.build_model(dataclasses.replace(
      config, coupling_order='authors'))
  assert len(ours.trainable_variables) == len(theirs.trainable_variables)
  for a, b in zip(theirs.trainable_variables, ours.trainable_variables):
    a.assign(b)
  x = tf.random.uniform((3, 28, 28, 1), seed=2)
  # One block by hand, after the first subsampling.
  swap, block = theirs.steps[1], theirs.steps[2]
  h = theirs.steps[0].forward(theirs._pad(x))  # pylint: disable=protected-access
  x1, x2 = tf.split(h, 2, axis=-1)
  y1 = x2 + block.f(x1)
  np.testing.assert_allclose(block.forward(swap.forward(h)),
                             tf.concat([y1, x1 + block.g(y1)], -1),
                             atol=1e-6)
  u_ours, u_theirs = ours.encode_full(x), theirs.encode_full(x)
  assert np.abs(u_ours - u_theirs).max() > 0.01
  np.testing.assert_allclose(theirs.decode_full(u_theirs), x, atol=1e-5)
  saving = official.build_model(dataclasses.replace(
      config, coupling_order='authors', memory_saving=True))
  for a, b in zip(saving.trainable_variables, theirs.trainable_variables):
    a.assign(b)
  grads = []
  for model in (theirs, saving):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(model.encode_full(x) ** 2)
    grads.append(tape.gradient(loss, model.trainable_variables))
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="coupling_order must be 'library' or "
                     "'authors'"):
    official.build_model(dataclasses.replace(config, coupling_order='theirs'))


def test_xavier_initializer_draws_glorot_uniform_kernels_and_zero_biases():
  keras.utils.set_random_seed(0)
  stack = layers.ConvStack(hidden=200, channels=128, initializer='xavier')
  stack.build((None, 2, 2, 128))
  kernel = stack.conv_in.kernel.numpy()
  limit = np.sqrt(6. / (9 * 128 + 9 * 200))  # fan_in + fan_out, 3x3 taps
  assert np.abs(kernel).max() <= limit
  np.testing.assert_allclose(kernel.std(), limit / np.sqrt(3.), rtol=0.02)
  assert not stack.conv_in.bias.numpy().any()
  torch_like = layers.ConvStack(hidden=200, channels=128)
  torch_like.build((None, 2, 2, 128))
  assert np.abs(torch_like.conv_in.kernel.numpy()).max() <= 1. / np.sqrt(
      9 * 128)
  with pytest.raises(ValueError, match="unknown initializer 'he'"):
    layers.ConvStack(8, 2, initializer='he')


@pytest.mark.parametrize('name, density, classes', [
    ('pie_mnist', True, 0), ('revnet_ot_mnist', False, 10),
    ('revnet_aae_mnist', False, 0)])
def test_each_model_says_what_it_has(name, density, classes):
  """What evaluation, export and the benchmarks ask instead of the type."""
  from tests.helpers import tiny_config  # pylint: disable=g-import-not-at-top
  model = models.build_model(tiny_config(name).model)
  assert model.has_density == density == hasattr(model, 'log_prob')
  assert model.num_classes == classes
  codes = model.encode(tf.zeros((2,) + model.image_shape))
  assert codes.shape == (2, model.latent_size)
  # The RevNets estimate their activations and choose a gradient mode.
  assert (model.activation_mib(8) is None) == density
  assert (model.uses_memory_saving(8) is None) == density
