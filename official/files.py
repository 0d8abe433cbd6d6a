"""Writing files and folders so that nobody sees half of one.

Everything a run or an export leaves (checkpoints aside: `trainers/checkpoints.py`)
is written under a temporary name beside its target and renamed into place
once complete, so that a reader (TensorBoard, TF Serving polling an export's
base folder, `official.evaluate` beside a live run) sees either the whole file
or none, and a full disk or a missing permission leaves nothing half-written.

The temporary name is `.NAME.partial-PID@HOST`: hidden, and not a number, so
TF Serving never takes it for a model version. A process killed while writing
(SIGKILL, a lost machine) leaves it behind; the next write into the same folder
from this host removes those whose process no longer runs.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import sys

from official.errors import WriteError

__all__ = ['WriteError', 'write_json', 'writing', 'written_atomically']

_PARTIAL = re.compile(r'^\.(?P<name>.+)\.partial-(?P<pid>\d+)@(?P<host>.+)$')


def _reason(error):
  """The cause of a failed write in a few words ('No space left on device')."""
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  text = str(getattr(error, 'message', error)).strip().splitlines()
  text = text[0] if text else type(error).__name__
  # TensorFlow's messages: '{{function_node ...}} PATH; REASON [Op:NAME]'.
  text = re.sub(r'\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\]', '', text)
  return text.rsplit('; ', 1)[-1].strip() or type(error).__name__


def _is_write_failure(error):
  if isinstance(error, OSError):
    return True
  tf = sys.modules.get('tensorflow')  # TensorFlow's file system raises these
  return tf is not None and isinstance(error, tf.errors.OpError)


@contextlib.contextmanager
def writing(path):
  """Turns an `OSError` or a TensorFlow `OpError` raised in the block into a
  `WriteError` naming `path`: for writers that cannot write under a
  temporary name (TensorFlow's event files grow in place; a checkpoint
  cleans up after itself)."""
  try:
    yield
  except WriteError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    if not _is_write_failure(e):
      raise
    error = WriteError(f'cannot write {path}: {_reason(e)}')
    error.errno = getattr(e, 'errno', None)
    raise error from e


def _remove(path):
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
  else:
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _remove_stale_partials(directory):
  """Removes the temporary files and folders in `directory` that processes
  of this host, which no longer run, left unfinished."""
  host = socket.gethostname()
  for name in os.listdir(directory):
    match = _PARTIAL.match(name)
    if (match and match['host'] == host and int(match['pid']) != os.getpid()
        and not _alive(int(match['pid']))):
      _remove(os.path.join(directory, name))


@contextlib.contextmanager
def written_atomically(path):
  """Yields a temporary path beside `path`; what the block writes there
  (a file or a folder) becomes `path` when the block ends.

  An existing file at `path` is replaced in one step; an existing folder is
  not (the caller decides whether one may be). If the block fails, the
  temporary path is removed and an `OSError` or a TensorFlow `OpError`
  becomes a `WriteError` naming `path`.
  """
  directory, name = os.path.split(os.path.abspath(path))
  temp = os.path.join(directory,
                      f'.{name}.partial-{os.getpid()}@{socket.gethostname()}')
  try:
    with writing(path):
      os.makedirs(directory, exist_ok=True)
      _remove_stale_partials(directory)
      yield temp
      os.replace(temp, path)
  except BaseException:
    _remove(temp)
    raise


def write_json(path, value, **kwargs):
  """Writes `value` as indented JSON to `path`, atomically."""
  with written_atomically(path) as temp:
    with open(temp, 'w') as f:
      json.dump(value, f, indent=2, **kwargs)
