import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPUs, before TensorFlow initializes, so that MirroredStrategy
# can run two replicas on this machine (the distributed tests need them).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices('CPU')[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(REPO, '..', 'shared', 'data')


@pytest.fixture(autouse=True)
def _seed():
  import keras
  keras.utils.set_random_seed(1234)
