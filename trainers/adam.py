"""Adam as one fused op per variable, with no first-moment slot when
beta_1 = 0."""

import keras
from keras import ops
import tensorflow as tf


def _handle(variable):
  """The resource handle of a Keras or TF variable (under a distribution
  strategy's update: of this device's copy)."""
  return (variable.value if isinstance(variable, keras.Variable)
          else variable).handle


class Adam(keras.optimizers.Adam):
  """`keras.optimizers.Adam` as one fused `ResourceApplyAdam` per variable,
  and with one slot per variable instead of two when `beta_1 = 0`.

  Keras' Adam builds its update from about twenty element-wise ops per
  variable, a quarter of a PIE train step's graph: seconds of tracing before
  the first step and per-op overhead at every step of a small model. The
  fused op computes the same update (Kingma and Ba, 2015, Alg. 1, in the
  form of their Sec. 2's last paragraph, as Keras does):

  ```none
  m_t = m_{t-1} + (g_t - m_{t-1}) (1 - beta_1)
  v_t = v_{t-1} + (g_t^2 - v_{t-1}) (1 - beta_2)
  theta_t = theta_{t-1} - lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
                          m_t / (sqrt(v_t) + epsilon)
  ```

  The step's scalars (the powers beta^t, the learning rate in the variables'
  dtype) are computed once per step, not once per variable. AMSGrad and
  sparse gradients take Keras' own update.

  With beta_1 = 0 (the generative RevNet's AAE setting, betas (0, 0.9)) Adam's
  first moment is the current gradient, m_t = g_t, and its bias correction
  1 - beta_1^t is 1, so the update (Kingma and Ba, 2015, Alg. 1) is

  ```none
  v_t = beta_2 v_{t-1} + (1 - beta_2) g_t^2
  theta_t = theta_{t-1} - lr sqrt(1 - beta_2^t) g_t / (sqrt(v_t) + epsilon)
  ```

  Keras' Adam still allocates the momentum slot and copies each gradient into
  it: one buffer the size of the model (230 MiB for the 60M-parameter CelebA
  RevNet).

  With `warmup_steps` = W above 0, the learning rate rises linearly over the
  first W updates, lr min(1, t / W) at update t: Adam's first update moves
  every weight by about lr whatever its gradient (m_1 / sqrt(v_1) = sign(g_1)),
  which trained weights do not survive at a rate meant for training from
  scratch (`--init_from`); by the full rate the moments hold W gradients.

  #### Example

  ```python
  weights = tf.Variable([1., 2.])
  optimizer = Adam(0.1, beta_1=0., beta_2=0.9)
  optimizer.apply_gradients([(tf.constant([0.5, -0.5]), weights)])
  weights.numpy()  # [0.9, 2.1]: the first step moves each weight by lr
  [v.path for v in optimizer.variables]  # iteration, learning rate, velocity
  ```
  """

  def __init__(self, learning_rate=0.001, *args, warmup_steps=0, **kwargs):
    super().__init__(learning_rate, *args, **kwargs)
    self.warmup_steps = int(warmup_steps)

  def get_config(self):
    return {**super().get_config(), 'warmup_steps': self.warmup_steps}

  @property
  def _keeps_momentum(self):
    return self.amsgrad or not (isinstance(self.beta_1, (int, float))
                                and self.beta_1 == 0)

  def build(self, var_list):
    if self._keeps_momentum:
      return super().build(var_list)
    if self.built:
      return
    keras.optimizers.Optimizer.build(self, var_list)
    self._velocities = self.add_optimizer_variables(var_list, 'velocity')

  def _step_scalars(self, learning_rate, dtype):
    step = ops.cast(self.iterations + 1, dtype)
    # The powers as Keras computes them (beta cast from float32).
    beta_2_power = ops.power(ops.cast(self.beta_2, dtype), step)
    if not self._keeps_momentum:
      return {'alpha': ops.cast(learning_rate, dtype) * ops.sqrt(
          1 - beta_2_power)}
    return {'lr': ops.cast(learning_rate, dtype),
            'beta1_power': ops.power(ops.cast(self.beta_1, dtype), step),
            'beta2_power': beta_2_power,
            'beta1': tf.convert_to_tensor(self.beta_1, dtype),
            'beta2': tf.convert_to_tensor(self.beta_2, dtype),
            'epsilon': tf.convert_to_tensor(self.epsilon, dtype)}

  def _update(self, variable, gradient, scalars):
    if self._keeps_momentum and isinstance(gradient, tf.IndexedSlices):
      return super().update_step(gradient, variable, scalars['lr'])
    gradient = ops.cast(gradient, variable.dtype)
    index = self._get_variable_index(variable)
    if not self._keeps_momentum:
      v = self._velocities[index]
      self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v),
                                      1 - self.beta_2))
      return self.assign_sub(variable, ops.divide(
          ops.multiply(gradient, scalars['alpha']),
          ops.add(ops.sqrt(v), self.epsilon)))
    # The kernel takes 1 - beta in the variable's dtype (Keras: in Python
    # floats), which rounds differently in float32, by about 1e-7 relative.
    return tf.raw_ops.ResourceApplyAdam(
        var=_handle(variable), m=_handle(self._momentums[index]),
        v=_handle(self._velocities[index]), grad=gradient, **scalars)

  def _distributed_tf_update_step(self, distribution, grads_and_vars,
                                  learning_rate):
    """Keras' update of each variable on each of its devices, with the
    step's scalars computed once per dtype."""
    if self.warmup_steps > 0:
      learning_rate = learning_rate * ops.minimum(
          1., ops.cast(self.iterations + 1, 'float32') / self.warmup_steps)
    if self.amsgrad:
      return super()._distributed_tf_update_step(distribution, grads_and_vars,
                                                 learning_rate)
    scalars = {}
    for gradient, variable in grads_and_vars:
      if variable.dtype not in scalars:
        scalars[variable.dtype] = self._step_scalars(learning_rate,
                                                     variable.dtype)
      distribution.extended.update(
          variable, self._update, args=(gradient, scalars[variable.dtype]),
          group=False)
