"""One live training run per model_dir.

A run holds `MODEL_DIR/run.lock`, a small JSON record of its holder (host,
process id and start time, since when), created atomically and refreshed
by a heartbeat while the run lives. A second `official.train` on the same
folder is refused in one line that names the holder. A lock is stale, and
is taken over with one line saying so, when its holder is a process of this
host that no longer runs (killed with SIGKILL, say), or when another
host's holder has not refreshed it for `STALE_AFTER_S` seconds (a dead
host). Reading a live run's checkpoints (`official.evaluate`,
`official.export`) takes no lock.
"""

import datetime
import json
import os
import socket
import threading
import time

from official import files
from official.errors import Error

__all__ = ['LockedError', 'RunLock', 'STALE_AFTER_S']

HEARTBEAT_S = 30.
STALE_AFTER_S = 300.
_NAME = 'run.lock'


class LockedError(Error):
  """Another live run holds the model_dir."""


def _start_time(pid):
  """The process's start time in clock ticks since boot (Linux), else None:
  with the pid it names one process, even after the pid is reused."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      return int(f.read().rsplit(')', 1)[1].split()[19])
  except (OSError, IndexError, ValueError):
    return None


def _alive_here(holder):
  try:
    os.kill(holder['pid'], 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  started = _start_time(holder['pid'])
  return started is None or started == holder.get('start_time')


class RunLock:
  """`with RunLock(model_dir):` holds the model_dir's lock for the block."""

  def __init__(self, model_dir):
    self.path = os.path.join(model_dir, _NAME)
    self._stop = threading.Event()
    self._heartbeat = None

  def _holder_record(self):
    return {'host': socket.gethostname(), 'pid': os.getpid(),
            'start_time': _start_time(os.getpid()),
            'since': datetime.datetime.now().astimezone().isoformat(
                timespec='seconds')}

  def _read(self):
    try:
      with open(self.path) as f:
        return json.load(f)
    except (OSError, ValueError):
      return None  # vanished, or half written by a holder that died

  def _stale_reason(self, holder):
    if holder is None:
      return 'an unreadable lock'
    if holder.get('host') == socket.gethostname():
      if not _alive_here(holder):
        return f'process {holder.get("pid")} no longer runs'
      return None
    age = time.time() - os.path.getmtime(self.path)
    if age > STALE_AFTER_S:
      return (f'{holder.get("host")} has not refreshed it for '
              f'{age:.0f} s')
    return None

  def acquire(self):
    record = json.dumps(self._holder_record())
    while True:
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = self._read()
        reason = self._stale_reason(holder)
        if reason is None:
          raise LockedError(
              f'{os.path.dirname(self.path)} is in use by a live run '
              f'(host {holder["host"]}, pid {holder["pid"]}, since '
              f'{holder["since"]}); use another --model_dir') from None
        print(f'taking over the stale lock {self.path} ({reason})',
              flush=True)
        try:
          os.remove(self.path)
        except FileNotFoundError:
          pass
        continue
      try:
        with files.writing(self.path), os.fdopen(fd, 'w') as f:
          f.write(record)
      except files.WriteError:
        os.remove(self.path)
        raise
      break
    self._heartbeat = threading.Thread(target=self._beat, daemon=True)
    self._heartbeat.start()

  def _beat(self):
    while not self._stop.wait(HEARTBEAT_S):
      try:
        os.utime(self.path)
      except OSError:
        return

  def release(self):
    self._stop.set()
    if self._heartbeat is not None:
      self._heartbeat.join()
    holder = self._read()
    if holder and holder.get('pid') == os.getpid() and (
        holder.get('host') == socket.gethostname()):
      os.remove(self.path)

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *unused_exc_info):
    self.release()
