"""The one training loop that every experiment runs.

Compiled train steps under any `tf.distribute` strategy, checkpoints that
resume (model, optimizers, step; data position and random numbers are
functions of the step), TensorBoard scalars and images, a progress line, PNG
sample grids, and a stop on non-finite losses that keeps the last good
checkpoint.
"""

import functools
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

from official import allocator
from official import configs
from official import files
from official import run_dir
from official.data import pipelines
from official.errors import TrainingError
from official.evaluation import metrics as eval_metrics
from official.visualize import image_grid
from official.visualize import save_image_grid
from trainers import checkpoints
from trainers import preemption
from trainers import run_lock

__all__ = ['Trainer', 'TrainingError']


def _passes_a_multiple(step, done, every):
  """Whether the steps after `step` up to `done` reach a multiple of `every`."""
  return done // every > step // every


def training_batches(strategy, data, seed, global_batch, start_step=0,
                     balanced=False):
  """The loop's iterator of global batches from `start_step`
  (`pipelines.distributed_iterator`), with glibc's malloc thresholds set
  back after making it froze them: otherwise every step maps and unmaps its
  large tensors (`official/allocator.py`)."""
  iterator = pipelines.distributed_iterator(strategy, data, seed, global_batch,
                                            start_step, balanced)
  allocator.restore_malloc_thresholds()
  return iterator


def _is_chief(strategy):
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return True
  has_chief = 'chief' in resolver.cluster_spec().as_dict()
  return resolver.task_type == 'chief' or (
      not has_chief and resolver.task_type == 'worker' and
      resolver.task_id == 0)


def _format_seconds(seconds):
  seconds = int(seconds)
  return (f'{seconds // 3600}h{seconds % 3600 // 60:02d}m' if seconds >= 3600
          else f'{seconds // 60}m{seconds % 60:02d}s')


class Trainer:
  """Runs `task` in `model_dir` under `strategy`.

  Args:
    task: a `trainers.task.Task`.
    strategy: a `tf.distribute.Strategy`.
    model_dir: where checkpoints, `experiment.json`, TensorBoard events,
      sample grids and `metrics.json` go.

  The experiment's `runtime` section says whether the train steps are
  compiled with XLA (`jit_compile`) and where a new run's weights come from
  (`init_from`: a run folder, checkpoint or export, `run_dir.init_weights`,
  instead of the task's initialization).
  """

  def __init__(self, task, strategy, model_dir):
    self.task = task
    self.init_from = task.config.runtime.init_from
    self.train = task.train
    self.strategy = strategy
    self.model_dir = model_dir
    self.data = task.config.data
    self.jit_compile = task.config.runtime.jit_compile
    self.is_chief = _is_chief(strategy)
    self._per_step = (None, {})  # (step, outputs): `_once_per_step`

  # -- set-up ----------------------------------------------------------------

  def _prepare_model_dir(self):
    try:
      os.makedirs(self.model_dir, exist_ok=True)
      probe = tempfile.NamedTemporaryFile(dir=self.model_dir)
      probe.close()
    except OSError as e:
      raise TrainingError(f'model_dir is not writable: {self.model_dir} '
                          f'({e.strerror})') from e
    info_path = os.path.join(self.model_dir, 'experiment.json')
    has_checkpoint = bool(run_dir.checkpoint_prefixes(
        os.path.join(self.model_dir, 'checkpoints')))
    config = self.task.config
    if os.path.exists(info_path):
      try:
        info = run_dir.read_experiment_info(config.name, self.model_dir)
      except run_dir.RunDirError as e:
        raise TrainingError(f'{e}; use another --model_dir') from None
      recorded = configs.from_json(info)
      difference = configs.first_difference(recorded.model, config.model)
      if difference:
        raise TrainingError(
            f'model_dir {self.model_dir} holds a run of another model config '
            f'({difference}); use another --model_dir')
      self._say_what_changed(recorded, config)
    elif has_checkpoint:
      raise TrainingError(f'model_dir {self.model_dir} holds a checkpoint but '
                          f'no experiment.json; use another --model_dir')
    return info_path

  def _say_what_changed(self, recorded, config):
    """One line per setting this start changes from the run's record, the
    run's length and the weights of its start aside (a batch size or
    learning rate left at the preset's default by mistake shows here)."""
    if not self.is_chief:
      return
    for section in ('task', 'data', 'trainer', 'runtime'):
      theirs, ours = getattr(recorded, section), getattr(config, section)
      if type(theirs) is not type(ours):
        continue
      for name, before, now in configs.differences(theirs, ours):
        if name in ('train_steps', 'init_from'):
          continue
        print(f'note: {section}.{name} is {now!r}; the run in '
              f'{self.model_dir} recorded {before!r}', flush=True)

  def _write_experiment_info(self, info_path):
    if not self.is_chief:
      return
    config = self.task.config
    info = {'experiment': config.name, 'init_from': self.init_from,
            'config': configs.to_json(config)}
    files.write_json(info_path, info, default=repr)

  def _checkpoint_dir(self):
    if self.is_chief:
      return os.path.join(self.model_dir, 'checkpoints')
    # Non-chief workers take part in the collective save, into a scratch dir.
    resolver = self.strategy.cluster_resolver
    return os.path.join(self.model_dir, 'scratch',
                        f'{resolver.task_type}_{resolver.task_id}')

  def _build(self):
    with self.strategy.scope():
      self.model = self.task.build_model()
      networks = self.task.build_networks(self.model)
      self.optimizers = self.task.build_optimizers(self.model, networks)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    self.checkpoint = tf.train.Checkpoint(
        model=self.model, step=self.step, **self.optimizers, **networks)

  def _set_aside(self, directory, restored, skipped):
    """Moves the unreadable checkpoints (all newer than `restored`, which
    `restore_newest` reached after them) into `unreadable/`, where a new save
    of the same step cannot overwrite them, and makes `restored` the latest in
    the state file."""
    aside = os.path.join(directory, 'unreadable')
    unreadable = [prefix for prefix, _ in skipped]
    if self.is_chief:
      os.makedirs(aside, exist_ok=True)
      for prefix in unreadable:
        for name in os.listdir(directory):
          if name.startswith(os.path.basename(prefix) + '.'):
            os.replace(os.path.join(directory, name),
                       os.path.join(aside, name))
        print(f'moved the unreadable checkpoint {prefix} to {aside}/',
              flush=True)
    kept = [p for p in reversed(run_dir.checkpoint_prefixes(directory))
            if p not in unreadable]
    tf.compat.v1.train.update_checkpoint_state(
        directory, os.path.basename(restored),
        [os.path.basename(p) for p in kept])

  def _restore_or_initialize(self, info_path):
    directory = self._checkpoint_dir()
    restored, skipped = run_dir.restore_newest(
        self.checkpoint, directory,
        lambda status: status.assert_existing_objects_matched())
    if restored is None and skipped:
      raise TrainingError(run_dir.unreadable_error(directory, skipped))
    if skipped:
      self._set_aside(directory, restored, skipped)
    self.manager = checkpoints.CheckpointManager(self.checkpoint, directory,
                                                 max_to_keep=3)
    if restored:
      print(f'resumed from {restored} at step {int(self.step.numpy())}'
            + (' (--init_from applies to a new run only)' if self.init_from
               else ''), flush=True)
      return
    if self.init_from:
      config = self.task.config
      run_dir.init_weights(self.model, config.model, self.init_from)
      print(f'weights from {self.init_from}; the step and the optimizers '
            'start fresh', flush=True)
    elif self.task.initializes:
      self.task.initialize(self.model, pipelines.make_dataset_fn(
          self.data, self.train.seed + 1, self.train.batch_size)(None))
    self._write_experiment_info(info_path)
    self.manager.save(checkpoint_number=0)

  def _step_function(self, phase):
    task, model, optimizers = self.task, self.model, self.optimizers

    def replica_step(batch, step):
      return task.train_step(model, optimizers, batch, step, phase)

    if self.jit_compile:
      # XLA compiles the replica's step only: fetching the next batch
      # (`IteratorGetNext`) has no XLA kernel.
      replica_step = tf.function(replica_step, jit_compile=True,
                                 autograph=False)

    # The steps branch on Python values only; autograph would rewrite the
    # model's, TFP's and Keras' code at every trace for nothing (0.7 s of a
    # tiny PIE run's 11 s before step 1).
    @tf.autograph.experimental.do_not_convert
    def one_step(iterator, step):
      sums, same = self.strategy.run(replica_step, args=(next(iterator), step))
      reduce = self.strategy.reduce
      out = {k: reduce(tf.distribute.ReduceOp.SUM, v, None)
             for k, v in sums.items()}
      out.update({k: reduce(tf.distribute.ReduceOp.MEAN, v, None)
                  for k, v in same.items()})
      task.after_step(model)
      return out

    if self.train.steps_per_loop == 1:
      # The loop below traces the step twice (before and inside the loop);
      # one step per call needs one trace, seconds less before step 1.
      @tf.function
      def single_step_fn(iterator, first_step, count):
        del count  # always 1
        return one_step(iterator, first_step)

      return single_step_fn

    @tf.function
    def loop_fn(iterator, first_step, count):
      """`count` steps from `first_step`; the last one's losses."""
      out = one_step(iterator, first_step)
      for i in tf.range(1, count):
        # Each step reads the weights the one before it wrote.
        tf.autograph.experimental.set_loop_options(parallel_iterations=1)
        out = one_step(iterator, first_step + tf.cast(i, tf.int64))
      return out

    return loop_fn

  # -- outputs ---------------------------------------------------------------

  def _held_out(self):
    """500 held-out images and labels (the same ones every time)."""
    if not hasattr(self, '_held_out_batch'):
      self._held_out_batch = pipelines.held_out(self.data, 500)
    return self._held_out_batch

  def _once_per_step(self, name, compute):
    """`compute()`, computed once for the model at this step: a run whose
    last step is a multiple of `image_every` would otherwise draw its samples
    and run its quick check twice on the same weights (the periodic ones and
    the final ones)."""
    step = int(self.step.numpy())
    if self._per_step[0] != step:
      self._per_step = (step, {})
    outputs = self._per_step[1]
    if name not in outputs:
      outputs[name] = compute()
    return outputs[name]

  def _quick_check(self):
    """`task.evaluate` on the held-out images: (metrics, reconstructions)."""
    return self._once_per_step(
        'quick_check', lambda: self.task.evaluate(self.model,
                                                  *self._held_out()))

  def _write_images(self, writer, step, final=False):
    """The sample grid and, during training, the quick check on held-out
    images as `eval/...` scalars (curves over training)."""
    if not self.is_chief:
      return
    samples = self._once_per_step('samples', lambda: self.task.sample_images(
        self.model, 100, seed=self.train.seed))
    name = 'samples.png' if final else f'samples/step_{step:07d}.png'
    save_image_grid(samples, os.path.join(self.model_dir, name))
    with files.writing(self._events_dir()), writer.as_default(step=step):
      grid = image_grid(samples, 10).astype(np.float32) / 255.
      grid = grid[..., None] if grid.ndim == 2 else grid
      tf.summary.image('samples', grid[None])
      if not final:
        tf.summary.scalar('eval/sharpness_samples',
                          eval_metrics.sharpness(samples)[0])
        quick_check, _ = self._quick_check()
        for key, value in quick_check.items():
          if isinstance(value, (int, float)):
            tf.summary.scalar(f'eval/{key}', value)

  def _finish(self, losses, seconds, step_seconds):
    images, _ = self._held_out()
    quick_check, reconstructions = self._quick_check()
    # Equal on every worker of a run whose replicas stayed in sync.
    fingerprint = sum(float(np.sum(np.square(np.asarray(w.value, np.float64))))
                      for w in self.model.weights)
    metrics = {'experiment': self.task.config.name,
               'step': int(self.step.numpy()),
               'train_seconds_this_process': round(seconds, 1),
               # From the end of one step to the end of the next: the step
               # plus all the loop adds (data, syncs, logs, checkpoints).
               'step_s_median': (round(float(np.median(step_seconds)), 4)
                                 if step_seconds else None),
               'step_s_mean': (round(float(np.mean(step_seconds)), 4)
                               if step_seconds else None),
               'weights_fingerprint': fingerprint,
               'final_losses': {k: float(v) for k, v in losses.items()},
               # A quick check on a few test images; `official.evaluate`
               # computes the reported metrics, under top-level names.
               'final_evaluation': {
                   'split': 'test', 'num_test_images': len(images),
                   **quick_check}}
    if self.is_chief:
      x = images[:50]
      pairs = np.stack([x, reconstructions[:50]], 1).reshape(
          (-1,) + x.shape[1:])
      save_image_grid(pairs, os.path.join(self.model_dir,
                                          'reconstructions.png'))
      files.write_json(os.path.join(self.model_dir, 'metrics.json'), metrics)
    return metrics

  # -- the loop --------------------------------------------------------------

  def run(self):
    """Trains to `train_steps`; returns the final metrics.

    Raises:
      TrainingError: on bad input, a non-finite loss, a file that cannot be
        written (a full disk: naming the file and the checkpoint that the
        same command resumes from), or a model_dir that another live run
        holds (`trainers/run_lock.py`).
      preemption.Interrupted: on SIGTERM or SIGINT, after saving the step.
    """
    if self.jit_compile and not self.task.supports_jit:
      raise TrainingError(
          f'--jit_compile is not available for {self.task.config.name}: its '
          f'optimal-transport plans are computed by POT outside TensorFlow')
    # Before anything is built or written: a refused run leaves nothing.
    pipelines.check_batches(self.data, self.train.batch_size,
                            self.strategy.num_replicas_in_sync,
                            self.task.balanced_batches)
    info_path = self._prepare_model_dir()
    # The chief writes the folder; the other workers only their scratch.
    lock = run_lock.RunLock(self.model_dir) if self.is_chief else None
    try:
      if lock:
        lock.acquire()
      try:
        return self._train(info_path)
      finally:
        if lock:
          lock.release()
    except run_lock.LockedError as e:
      raise TrainingError(str(e)) from None
    except files.WriteError as e:
      newest = run_dir.complete_checkpoints(self._checkpoint_dir())
      raise TrainingError(
          f'{e}; ' + (f'the newest complete checkpoint is {newest[0]}, which '
                      'the same command resumes from' if newest else
                      'no checkpoint was written yet')) from e

  def _loop_length(self, step, phase):
    """Steps of the compiled call from `step`: up to `steps_per_loop`, within
    the run and within one phase."""
    count, limit = 1, min(self.train.steps_per_loop,
                          self.train.train_steps - step)
    while count < limit and self.task.phase(step + count) == phase:
      count += 1
    return count

  def _events_dir(self):
    return os.path.join(self.model_dir, 'train')

  def _flush(self, writer):
    with files.writing(self._events_dir()):
      writer.flush()

  def _log(self, writer, done, phase, losses, rate):
    """The progress line and the scalars of step `done`."""
    total = self.train.train_steps
    eta = (total - done) / rate if rate else float('nan')
    shown = ' '.join(f'{k} {v:.4g}' for k, v in losses.items())
    print(f'step {done}/{total} [{phase}] {shown} | {rate:.2f} steps/s, '
          f'{rate * self.train.batch_size:.0f} img/s | ETA '
          f'{_format_seconds(eta) if rate else "?"}', flush=True)
    with files.writing(self._events_dir()), writer.as_default(step=done):
      for k, v in losses.items():
        tf.summary.scalar(f'{phase}/{k}', v)
      self.task.write_summaries(self.model)

  def _train(self, info_path):
    self._build()
    self._restore_or_initialize(info_path)
    start_step = int(self.step.numpy())
    record = os.path.join(self.model_dir, 'metrics.json')
    if start_step >= self.train.train_steps and os.path.exists(record):
      print(f'already trained to step {start_step} of '
            f'{self.train.train_steps}: nothing to do, {record} is kept',
            flush=True)
      with open(record) as f:
        return json.load(f)
    iterator = training_batches(
        self.strategy, self.data, self.train.seed, self.train.batch_size,
        start_step, balanced=self.task.balanced_batches)
    with files.writing(self._events_dir()):
      writer = (tf.summary.create_file_writer(self._events_dir())
                if self.is_chief else tf.summary.create_noop_writer())
    flush = functools.partial(self._flush, writer)
    step_fns, losses = {}, {}
    total = self.train.train_steps
    began = time.time()
    step_seconds = []  # every step of this process after its first (tracing)
    last, timed = None, 0.
    with preemption.for_strategy(self.strategy, self.manager,
                                 flush) as stop:
      step = start_step
      while step < total:
        phase = self.task.phase(step)
        count = self._loop_length(step, phase)
        if phase not in step_fns:
          step_fns[phase] = self._step_function(phase)
        try:
          values = step_fns[phase](iterator, tf.constant(step, tf.int64),
                                   tf.constant(count))
        except tf.errors.OpError as e:
          problem = pipelines.data_error_in(e)
          if problem is None:
            raise
          raise pipelines.DataError(
              f'{problem} (at step {step}; the last checkpoint '
              f'{self.manager.latest_checkpoint} is kept)') from e
        losses = {k: float(v) for k, v in values.items()}
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad:
          where = (f'at step {step}' if count == 1 else
                   f'in steps {step}-{step + count - 1}')
          raise TrainingError(
              f'non-finite loss {where} ({bad}); stopped without saving, '
              f'the last good checkpoint {self.manager.latest_checkpoint} '
              f'is kept')
        done = step + count
        self.step.assign(done)
        now = time.perf_counter()
        if last is not None:
          step_seconds += [(now - last) / count] * count
          timed += now - last
        last = now
        passed = functools.partial(_passes_a_multiple, step, done)
        if passed(self.train.log_every) or done == total:
          self._log(writer, done, phase, losses,
                    len(step_seconds) / max(timed, 1e-9))
        saved = passed(self.train.checkpoint_every) or done == total
        if saved:
          self.manager.save(checkpoint_number=done)
        stop.after_step(done, saved)
        if passed(self.train.image_every):
          self._write_images(writer, done)
        step = done
    self._write_images(writer, total, final=True)
    flush()
    metrics = self._finish(losses, time.time() - began, step_seconds)
    if not self.is_chief:
      shutil.rmtree(os.path.dirname(self._checkpoint_dir()), ignore_errors=True)
    return metrics
