"""What every experiment's task provides, and the replica-side helpers."""

import tensorflow as tf

from official import models
from official.evaluation import metrics
from trainers.adam import Adam


class Task:
  """Owns `build_model`, `build_networks`, `build_optimizers`, `initialize`
  and `train_step` of
  one experiment (Model Garden style); the shared loop in `trainers.loop` runs
  it under any `tf.distribute` strategy.

  `train_step` runs in replica context on the replica's rows of the global
  batch and returns losses already divided by the global batch size (or
  otherwise scaled so that their sum over replicas is the global value).
  """

  # Whether the train step can be compiled with XLA (`--jit_compile`).
  supports_jit = True
  # Whether a new run calls `initialize` before its first step.
  initializes = False
  # Whether every batch holds equally many examples of each class.
  balanced_batches = False
  # The names `phase` returns, in the order a run meets them.
  phases = ('train',)

  def __init__(self, config):
    self.config = config
    self.train = config.trainer
    self.task_config = config.task

  # -- building ------------------------------------------------------------

  def build_model(self):
    """The model; with `mixed_precision` its coupling networks compute in
    bfloat16 (float32 weights), the flow's own arithmetic in float32."""
    return models.build_model(
        self.config.model,
        network_dtype=('mixed_bfloat16' if self.config.runtime.mixed_precision
                       else None))

  def _adam(self, config, variables):
    """Adam of `config` (an `OptimizerConfig`) over `variables`."""
    optimizer = Adam(config.learning_rate, beta_1=config.beta_1,
                     beta_2=config.beta_2,
                     warmup_steps=self.train.warmup_steps)
    optimizer.build(variables)  # inside the strategy scope, never lazily
    return optimizer

  def build_networks(self, model):
    """The networks the task trains besides `model` (the AAE's critic), by
    name: built in the strategy's scope right after `build_model`, and
    checkpointed beside the model under those names."""
    del model
    return {}

  def build_optimizers(self, model, networks):
    """The optimizers by name (checkpointed under those names)."""
    del networks
    return {'optimizer': self._adam(self.train.optimizer,
                                    model.trainable_variables)}

  def initialize(self, model, dataset):
    """Data-dependent initialization of a new run (not of a resumed one),
    from as many (images, labels) global batches of `dataset` (endless,
    shuffled) as it needs."""
    del model, dataset

  def phase(self, step):
    """The name of the train step used at `step` (one compiled step each)."""
    return 'train'

  # -- replica-side helpers ------------------------------------------------

  def noise(self, kind, shape, step, uniform=False):
    """Random numbers that depend only on (seed, step, kind): the same on
    every replica, so each replica can take its rows of a global draw."""
    seed = tf.stack([tf.cast(self.train.seed, tf.int64),
                     tf.cast(step, tf.int64) * 16 + kind])
    if uniform:
      return tf.random.stateless_uniform(shape, seed)
    return tf.random.stateless_normal(shape, seed)

  def local_rows(self, global_tensor):
    """This replica's rows of a tensor that has one row per global example."""
    context = tf.distribute.get_replica_context()
    local = self.train.batch_size // context.num_replicas_in_sync
    start = context.replica_id_in_sync_group * local
    return global_tensor[start:start + local]

  def apply_gradients(self, optimizer, tape, loss, variables, clip_norm=None):
    """Sums gradients over replicas, clips the global norm, applies them.

    Keras 3 optimizers sum gradients over replicas inside `apply_gradients`,
    after clipping each replica's share on its own. Clipping the global
    gradient needs it first, so it is summed here and every replica passes
    its 1/num_replicas share of the clipped gradient.
    """
    grads = [tf.convert_to_tensor(g)  # gathers give IndexedSlices
             for g in tape.gradient(loss, variables)]
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync
    if replicas > 1:
      grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    norm = tf.linalg.global_norm(grads)
    if clip_norm:
      grads, _ = tf.clip_by_global_norm(grads, clip_norm, use_norm=norm)
    if replicas > 1:
      grads = [g / replicas for g in grads]
    optimizer.apply_gradients(zip(grads, variables))
    return norm

  def after_step(self, model):
    """Runs in cross-replica context after every step (projections)."""
    del model

  def write_summaries(self, model):
    """TensorBoard summaries of the model's state, at every progress line
    (inside the loop's writer and step)."""
    del model

  # -- pictures and metrics ------------------------------------------------

  def sample_images(self, model, count, seed):
    return model.sample(count, seed=seed)

  def latent_metrics(self, model, labels, encode_test_images):
    """Metrics of the codes of the held-out images (`official.evaluate`):
    for a prior of N(0, I), how well their prior dimensions match it.
    `encode_test_images(fn)` applies an encoding function to all of them,
    in batches."""
    del labels
    return metrics.prior_match(encode_test_images(model.encode))

  def evaluate(self, model, images, labels):
    """Metrics of the trained model on held-out `images` in [0, 1], and the
    images' reconstructions from the prior dimensions (`metrics.round_trip`).
    """
    del labels
    return metrics.round_trip(model, images)
