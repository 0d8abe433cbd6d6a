"""glibc malloc thresholds that TensorFlow's `tf.data` freezes, set back.

Creating the iterator of a distributed dataset (a generator dataset op) makes
TensorFlow 2.21 call `mallopt(M_TRIM_THRESHOLD, 128 KiB)`. Any such call also
switches off glibc's adaptive mmap threshold, which stays at 128 KiB: every
tensor larger than that is then `mmap`ed and `munmap`ed by each op, and the
kernel faults its pages in again on every step. On a 2-core AVX2 machine that
made `official.train` spend most of its time in the kernel (PIE, batch 128:
0.66-0.80 steps/s against 1.80 with the thresholds restored).

`restore_malloc_thresholds` sets them to where glibc's adaptive rule ends up
by itself on 64-bit Linux: mmap threshold 32 MiB (its maximum) and trim
threshold twice that. Only the allocation pattern changes, never a value, so
training is bit-for-bit the same. Set `RESTORE_MALLOC_THRESHOLDS=0` in the
environment to keep TensorFlow's setting.
"""

import ctypes
import ctypes.util
import os

__all__ = ['MMAP_THRESHOLD', 'TRIM_THRESHOLD', 'restore_malloc_thresholds']

MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _glibc():
  name = ctypes.util.find_library('c')
  if not name:
    return None
  libc = ctypes.CDLL(name)
  return libc if hasattr(libc, 'mallopt') else None


def restore_malloc_thresholds():
  """Sets glibc's mmap and trim thresholds back after TensorFlow froze them.

  Returns whether they were set: False where the C library is not glibc or
  `RESTORE_MALLOC_THRESHOLDS=0` is set.
  """
  if os.environ.get('RESTORE_MALLOC_THRESHOLDS', '1') == '0':
    return False
  libc = _glibc()
  if libc is None:
    return False
  return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and
              libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
