"""Stopping a run on SIGTERM or Ctrl-C at a step boundary, with a checkpoint.

A preemptible cloud machine gets SIGTERM and some seconds of grace; a user
presses Ctrl-C (SIGINT). Either way the run finishes the step in flight,
saves a checkpoint at that step and ends with `Interrupted`, which
`official.train` turns into one line and exit status 128 + the signal's
number (143 for SIGTERM, 130 for SIGINT). The same command resumes there.

On one host (one device or `MirroredStrategy`) `SignalStop` records the
signal and the loop stops after its step. A second signal, during the save
or before it, is recorded too and changes nothing, so the save completes.
Under `MultiWorkerMirroredStrategy` every worker must save the same step
together; TensorFlow's `PreemptionCheckpointHandler` agrees on that step
across the workers (`WorkerPreemptionStop`).
"""

import signal
import threading

import tensorflow as tf

__all__ = ['Interrupted', 'SignalStop', 'WorkerPreemptionStop', 'for_strategy']


class Interrupted(Exception):
  """The run stopped on a signal after saving the step it had finished."""

  def __init__(self, signal_number, step, checkpoint):
    self.signal_number = signal_number
    self.step = step
    self.checkpoint = checkpoint
    super().__init__(
        f'stopped by {signal.Signals(signal_number).name} at step {step}: '
        f'saved {checkpoint}; the same command resumes from there')

  @property
  def exit_status(self):
    return 128 + self.signal_number


class SignalStop:
  """Records SIGTERM and SIGINT instead of ending the process; the loop
  calls `after_step` at each step boundary."""

  _SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, manager, before_stop):
    self._manager = manager
    self._before_stop = before_stop
    self._previous = {}
    self.received = None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for number in self._SIGNALS:
        self._previous[number] = signal.signal(number, self._record)
    return self

  def __exit__(self, exc_type, unused_exc, unused_traceback):
    # Stopping on a signal, the process is about to end: ignore further
    # ones, or one arriving while it ends (Python resets its own handlers
    # then) would kill it before its exit status.
    for number, handler in self._previous.items():
      signal.signal(number, signal.SIG_IGN if exc_type is Interrupted
                    else handler)
    self._previous = {}

  def _record(self, number, unused_frame):
    if self.received is None:
      self.received = number

  def after_step(self, step, saved):
    """Saves (unless the loop just `saved` this step) and raises
    `Interrupted` once a signal has come."""
    if self.received is None:
      return
    if not saved:
      self._manager.save(checkpoint_number=step)
    self._before_stop()
    raise Interrupted(self.received, step, self._manager.latest_checkpoint)


class WorkerPreemptionStop:
  """The same under `MultiWorkerMirroredStrategy`, through TensorFlow's
  `PreemptionCheckpointHandler` (SIGTERM on any worker)."""

  def __init__(self, strategy, manager, before_stop):
    self._manager = manager
    self._before_stop = before_stop
    self._step = None
    self._handler = tf.distribute.experimental.PreemptionCheckpointHandler(
        strategy.cluster_resolver, manager,
        termination_config=tf.distribute.experimental.TerminationConfig(
            exit_fn=self._stop))

  def __enter__(self):
    return self

  def __exit__(self, *unused_exc_info):
    pass

  def _stop(self):
    self._before_stop()
    raise Interrupted(signal.SIGTERM, self._step,
                      self._manager.latest_checkpoint)

  def after_step(self, step, saved):
    del saved  # the handler saves at the step all workers agree on
    self._step = step
    self._handler.save_checkpoint_if_preempted(checkpoint_number=step)


def for_strategy(strategy, manager, before_stop):
  """The stop for `strategy`: one host's, or the cluster's. `before_stop`
  runs after the save, before `Interrupted` is raised."""
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return WorkerPreemptionStop(strategy, manager, before_stop)
  return SignalStop(manager, before_stop)
