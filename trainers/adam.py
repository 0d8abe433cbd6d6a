"""Adam that keeps no first-moment slot when beta_1 = 0."""

import keras
from keras import ops


class Adam(keras.optimizers.Adam):
  """`keras.optimizers.Adam`, with one slot per variable instead of two when
  `beta_1 = 0`.

  With beta_1 = 0 (the generative RevNet's AAE setting, betas (0, 0.9)) Adam's
  first moment is the current gradient, m_t = g_t, and its bias correction
  1 - beta_1^t is 1, so the update (Kingma and Ba, 2015, Alg. 1) is

  ```none
  v_t = beta_2 v_{t-1} + (1 - beta_2) g_t^2
  theta_t = theta_{t-1} - lr sqrt(1 - beta_2^t) g_t / (sqrt(v_t) + epsilon)
  ```

  Keras' Adam still allocates the momentum slot and copies each gradient into
  it: one buffer the size of the model (230 MiB for the 60M-parameter CelebA
  RevNet). For any other beta_1 this class is Keras' Adam.

  #### Example

  ```python
  weights = tf.Variable([1., 2.])
  optimizer = Adam(0.1, beta_1=0., beta_2=0.9)
  optimizer.apply_gradients([(tf.constant([0.5, -0.5]), weights)])
  weights.numpy()  # [0.9, 2.1]: the first step moves each weight by lr
  [v.path for v in optimizer.variables]  # iteration, learning rate, velocity
  ```
  """

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

  def update_step(self, gradient, variable, learning_rate):
    if self._keeps_momentum:
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    gradient = ops.cast(gradient, dtype)
    step = ops.cast(self.iterations + 1, dtype)
    alpha = ops.cast(learning_rate, dtype) * ops.sqrt(
        1 - ops.power(ops.cast(self.beta_2, dtype), step))
    v = self._velocities[self._get_variable_index(variable)]
    self.assign_add(
        v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
    self.assign_sub(variable, ops.divide(ops.multiply(gradient, alpha),
                                         ops.add(ops.sqrt(v), self.epsilon)))
