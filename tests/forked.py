"""`python -m official...` runs for the tests, forked from a process that has
already imported TensorFlow.

A fresh Python spends about 5.5 s of CPU (2-core AMD EPYC, Zen 4) importing
TensorFlow, Keras, TFP and this project before a program's first line; the
suite starts dozens of programs. `run` and `Popen` take the arguments of
their `subprocess` namesakes. A command `[sys.executable, '-m',
'official...', ...]`, or TensorFlow's `saved_model_cli` (as the module that
console script runs), is forked from a server process (one per test worker)
that has imported those packages, as installed, and nothing else: no program
module, no flag, no TensorFlow context or thread pool. The child then sets its
folder, environment, standard streams and `sys.argv` and runs MODULE as
`__main__`, as `python -m` does, and exits through the interpreter's normal
shutdown.
It is a process of its own: signals reach it by its pid and its exit status
comes back as a real one's (a negative number for a signal). The programs it
starts in turn with `subprocess.run([sys.executable, '-m', 'official...'])`
(the benchmarks, the GPU check) are forked from the same server.

Every other command (`python -c`, `pip`) goes to `subprocess`,
and so do the tests of what a fresh start itself does: TensorFlow's start-up
lines, the README's Python blocks (which also check where the package is
imported from), the installed wheel.
"""

import atexit
import json
import os
import runpy
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading

PIPE = subprocess.PIPE
STDOUT = subprocess.STDOUT
# What every program imports; none of it defines a flag.
_PRELOADED = ('tensorflow', 'keras', 'trainers', 'official.data.pipelines',
              'official.evaluation.metrics')
_server = None


def _serve(path):
  """The server: imports, then forks a runner for each request until its
  stdin closes (the test worker is gone)."""
  import importlib  # pylint: disable=g-import-not-at-top
  for module in _PRELOADED:
    importlib.import_module(module)
  signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # reaps the watchers
  listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
  listener.bind(path)
  listener.listen(8)
  print('ready', flush=True)
  while True:
    readable, _, _ = select.select([listener, sys.stdin], [], [])
    if sys.stdin in readable:
      return
    connection, _ = listener.accept()
    message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    if os.fork() == 0:
      listener.close()
      _watch(connection, json.loads(message), fds)
    connection.close()
    for fd in fds:
      os.close(fd)


def _watch(connection, request, fds):
  """In a fork of the server: forks the runner, reports its pid and then its
  exit status."""
  signal.signal(signal.SIGCHLD, signal.SIG_DFL)
  runner = os.fork()
  if runner == 0:
    connection.close()
    _become(request, fds)
  for fd in fds:
    os.close(fd)
  connection.send(str(runner).encode())
  _, status = os.waitpid(runner, 0)
  connection.send(str(os.waitstatus_to_exitcode(status)).encode())
  os._exit(0)  # pylint: disable=protected-access


def _become(request, fds):
  """Turns this fork into `python -m MODULE ARGS` in the request's folder and
  environment, whose own `python -m official...` children are forked too;
  exits as that program does."""
  global _server
  _server = (None, request['server'])
  subprocess.run = _run_forking
  for target, fd in enumerate(fds):
    os.dup2(fd, target)
  for fd in set(fds):
    if fd > 2:
      os.close(fd)
  os.chdir(request['cwd'])
  os.environ.clear()
  os.environ.update(request['env'])
  # As `python -m` sets it: the folder, then PYTHONPATH, then the site's.
  sys.path[:] = [os.getcwd()] + [
      entry for entry in os.environ.get('PYTHONPATH', '').split(os.pathsep)
      if entry] + sys.path[1:]
  sys.argv = [request['module']] + request['args']
  runpy.run_module(request['module'], run_name='__main__', alter_sys=True)
  sys.exit(0)


def _start_server():
  """The server of this test worker: from a folder of its own and without
  PYTHONPATH, so that it imports the installed package (`make` installs it,
  editable) as a user's `python -m` does."""
  global _server
  if _server is None:
    folder = tempfile.mkdtemp(prefix='forked-')
    path = os.path.join(folder, 'socket')
    log = tempfile.TemporaryFile()  # TensorFlow's start-up lines
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    process = subprocess.Popen(
        [sys.executable, '-c', 'import runpy, sys\n'
         'runpy.run_path(sys.argv[1])["_serve"](sys.argv[2])',
         os.path.abspath(__file__), path], cwd=folder,
        env=dict(env, TF_CPP_MIN_LOG_LEVEL='3'), stdin=PIPE, stdout=PIPE,
        stderr=log)
    if process.stdout.readline().strip() != b'ready':
      process.wait()
      log.seek(0)
      raise RuntimeError('the fork server did not start:\n' +
                         log.read().decode()[-2000:])
    _server = (process, path)  # the process: its stdin stays open
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
  return _server[1]


# TensorFlow's console script beside this Python, and the module whose
# `main` it runs.
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable),
                               'saved_model_cli')
_SAVED_MODEL_CLI_MODULE = 'tensorflow.python.tools.saved_model_cli'


def _module_and_args(args):
  """(MODULE, ARGS) of a command that forks, else None."""
  args = [str(a) for a in args]
  if (len(args) > 2 and args[0] == sys.executable and args[1] == '-m'
      and args[2].startswith('official')):
    return args[2], args[3:]
  if args[:1] == [SAVED_MODEL_CLI]:
    return _SAVED_MODEL_CLI_MODULE, args[1:]
  return None


class Popen:
  """`subprocess.Popen` for `[sys.executable, '-m', MODULE, ...]`: `pid`,
  `stdout`, `stderr`, `poll`, `wait`, `communicate`, `send_signal`,
  `terminate`, `kill` and `returncode` as there."""

  def __new__(cls, args, **kwargs):
    if _module_and_args(args) is None:
      return subprocess.Popen(args, **kwargs)
    return super().__new__(cls)

  def __init__(self, args, cwd=None, env=None, stdout=None, stderr=None,
               text=False):
    self.args = [str(a) for a in args]
    self.returncode = None
    self.stdout = self.stderr = None
    stdin = os.open(os.devnull, os.O_RDONLY)
    child_ends, to_close = [stdin], [stdin]
    for name, where in (('stdout', stdout), ('stderr', stderr)):
      if where == PIPE:
        read_end, write_end = os.pipe()
        setattr(self, name, open(read_end, 'r' if text else 'rb'))
        child_ends.append(write_end)
        to_close.append(write_end)
      elif where == STDOUT:
        child_ends.append(child_ends[1])
      elif where is None:
        child_ends.append(len(child_ends))  # this process's own stream
      else:
        raise ValueError(f'unsupported {name}={where!r}')
    module, module_args = _module_and_args(self.args)
    request = {'module': module, 'args': module_args,
               'server': _start_server(),
               'cwd': os.path.abspath(cwd or os.getcwd()),
               'env': dict(os.environ if env is None else env)}
    self._connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    self._connection.connect(request['server'])
    socket.send_fds(self._connection, [json.dumps(request).encode()],
                    child_ends)
    for fd in to_close:
      os.close(fd)
    self.pid = int(self._connection.recv(64))

  def poll(self):
    if self.returncode is None:
      readable, _, _ = select.select([self._connection], [], [], 0)
      if readable:
        self._read_status()
    return self.returncode

  def _read_status(self):
    status = self._connection.recv(64)
    self._connection.close()
    if not status:
      raise RuntimeError(f'the fork server lost {self.args}')
    self.returncode = int(status)

  def wait(self, timeout=None):
    if self.returncode is None:
      readable, _, _ = select.select([self._connection], [], [], timeout)
      if not readable:
        raise subprocess.TimeoutExpired(self.args, timeout)
      self._read_status()
    return self.returncode

  def communicate(self, timeout=None):
    """Reads both streams to their end, then waits for the exit."""
    outputs = {}

    def read(name):
      stream = getattr(self, name)
      outputs[name] = stream.read() if stream else None

    readers = [threading.Thread(target=read, args=(name,), daemon=True)
               for name in ('stdout', 'stderr')]
    for reader in readers:
      reader.start()
    for reader in readers:
      reader.join(timeout)
      if reader.is_alive():
        raise subprocess.TimeoutExpired(self.args, timeout)
    self.wait(timeout)
    for name in ('stdout', 'stderr'):
      if getattr(self, name):
        getattr(self, name).close()
    return outputs['stdout'], outputs['stderr']

  def send_signal(self, number):
    if self.poll() is None:
      os.kill(self.pid, number)

  def terminate(self):
    self.send_signal(signal.SIGTERM)

  def kill(self):
    self.send_signal(signal.SIGKILL)


def run(args, check=False, capture_output=False, timeout=None, **kwargs):
  """`subprocess.run`, forking `[sys.executable, '-m', MODULE, ...]`."""
  if capture_output:
    kwargs.update(stdout=PIPE, stderr=PIPE)
  process = Popen(args, **kwargs)
  try:
    out, err = process.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()
    raise
  if check and process.returncode:
    raise subprocess.CalledProcessError(process.returncode, args, out, err)
  return subprocess.CompletedProcess(args, process.returncode, out, err)


_subprocess_run = subprocess.run


def _run_forking(args, *positional, **kwargs):
  """`subprocess.run` in a forked program: `run` for what forks."""
  if _module_and_args(args) is not None:
    return run(args, *positional, **kwargs)
  return _subprocess_run(args, *positional, **kwargs)
