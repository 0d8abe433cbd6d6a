r"""Times training steps of an experiment, with and without XLA and
memory-saving gradients:

  python -m official.benchmark --experiment=revnet_aae_celeba64 \
      --phase=reconstruction --batch_size=64 --steps=5 --output=bench.json

Every configuration runs in a fresh process (`official.benchmarks.one_step`)
on random images: S steps are timed after a warm-up step. Reported per
configuration: `step_s_median`, `images_per_s`, `step_gflop` (the step's
arithmetic, from its graph) and `gflop_per_s` (that over the median step),
`peak_rss_mib` (the process's peak after its first step), encode and decode
throughput, and the float32 round-trip error.

`--end_to_end` times the command users run instead: `official.train` for
1 + S steps on real data (the bundled MNIST; for CelebA a synthetic release of
178x218 JPEGs read by `--dataset=celeb_a_files`), beside the isolated step of
the same (default) configuration. The trainer's `step_s_median` runs from the
end of one step to the end of the next: the step plus everything the loop
adds (input pipeline, host syncs, logs).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

from official import cli  # pylint: disable=g-import-not-at-top

cli.quiet_tensorflow()  # before anything imports TensorFlow

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

from official import config_flags  # pylint: disable=g-import-not-at-top
from official import errors  # pylint: disable=g-import-not-at-top

# Names of the one-phase tasks' step in earlier releases.
_OLD_PHASE_NAMES = ('mle', 'ot')

config_flags.define('revnet_aae_celeba64')
flags.DEFINE_string('phase', None, 'Which train step to time: a phase of the '
                    'experiment\'s task (train; reconstruction or adversarial '
                    'for the adversarial autoencoder; default: the first). '
                    '"mle" and "ot" are accepted for train.')
flags.DEFINE_integer('batch_size', 64, 'Global batch size.')
flags.DEFINE_integer('steps', 5, 'Timed steps after the warm-up step.')
flags.DEFINE_string('output', None, 'Write the results as JSON here.')
flags.DEFINE_list('xla', ['false', 'true'], 'XLA settings to run.')
flags.DEFINE_list('tf32', ['false'], 'TF32 settings to run (NVIDIA GPUs; '
                  'each result has its round-trip error beside its speed).')
flags.DEFINE_list('mixed_precision', ['false'], 'Mixed-precision settings to '
                  'run (coupling networks in bfloat16; each result has its '
                  'round-trip error beside its speed).')
flags.DEFINE_bool('end_to_end', False, 'Time official.train on real data '
                  'beside the isolated step (default configuration only).')
flags.DEFINE_integer('release_images', 1000, 'End to end on CelebA: images '
                     'in the synthetic release.')
flags.DEFINE_multi_string('model_override', [], 'KEY=VALUE: the same as '
                          '--params_override=model.KEY=VALUE.')
flags.DEFINE_string('image_size', None, 'N or HxW: time the model built for '
                    'this size (pie, revnet_ot, revnet_aae; default: the '
                    'model\'s own).')
flags.DEFINE_integer('channels', 3, 'Channels of --image_size.')
FLAGS = flags.FLAGS

_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')


def _failure(done):
  lines = done.stderr.strip().splitlines()
  return lines[-1][:300] if lines else f'exit status {done.returncode}'


def _config_args():
  """The experiment and its overrides, as every child program takes them."""
  args = [f'--experiment={FLAGS.experiment}'] + [
      f'--params_override=model.{o}' for o in FLAGS.model_override] + [
          f'--params_override={o}' for o in FLAGS.params_override]
  return args + ([f'--config_file={FLAGS.config_file}']
                 if FLAGS.config_file else [])


def _run(phase, jit, saving, tf32=False, mixed_precision=False):
  command = [sys.executable, '-m', 'official.benchmarks.one_step',
             f'--batch_size={FLAGS.batch_size}', f'--steps={FLAGS.steps}',
             f'--jit_compile={jit}', f'--tf32={tf32}',
             f'--mixed_precision={mixed_precision}',
             f'--phase={phase}'] + _config_args()
  if FLAGS.image_size:
    command += [f'--image_size={FLAGS.image_size}',
                f'--channels={FLAGS.channels}']
  if saving is not None:
    command.append(f'--params_override=model.memory_saving={saving}')
  done = subprocess.run(command, capture_output=True, text=True, env=_ENV)
  if done.returncode:
    return {'jit_compile': jit, 'memory_saving': saving,
            'error': _failure(done)}
  result = json.loads(done.stdout.strip().splitlines()[-1])
  median = statistics.median(result['step_s'])
  result.update(phase=FLAGS.phase or phase, memory_saving=saving,
                step_s_median=round(median, 4),
                images_per_s=round(FLAGS.batch_size / median, 1),
                gflop_per_s=round(result['step_gflop'] / median, 1))
  return result


def _run_trainer(config, phase, work_dir):
  """`official.train` for 1 + steps steps; its metrics.json timings."""
  steps = FLAGS.steps + 1
  command = [sys.executable, '-m', 'official.train',
             f'--model_dir={os.path.join(work_dir, "run")}',
             f'--batch_size={FLAGS.batch_size}', f'--train_steps={steps}',
             f'--log_every={steps}', f'--checkpoint_every={steps}',
             f'--image_every={steps}'] + _config_args()
  if phase == 'adversarial':
    command += ['--reconstruction_steps=1', f'--adversarial_steps={steps - 1}']
  if config.data.dataset == 'celeb_a':  # not here: a synthetic release
    from official.benchmarks import synthetic_release  # pylint: disable=g-import-not-at-top
    release = os.path.join(work_dir, 'release')
    synthetic_release.write_release(release, FLAGS.release_images,
                                    archive=True)
    command += ['--dataset=celeb_a_files', f'--data_dir={release}']
  done = subprocess.run(command, capture_output=True, text=True, env=_ENV)
  if done.returncode:
    return {'error': _failure(done)}
  with open(os.path.join(work_dir, 'run', 'metrics.json')) as f:
    metrics = json.load(f)
  return {key: metrics[key] for key in (
      'step', 'step_s_median', 'step_s_mean', 'train_seconds_this_process')}


def _end_to_end(config, phase):
  step = _run(phase, False, None)  # the model config's default memory saving
  with tempfile.TemporaryDirectory() as work_dir:
    trainer = _run_trainer(config, phase, work_dir)
  result = {'experiment': FLAGS.experiment, 'phase': FLAGS.phase or phase,
            'batch_size': FLAGS.batch_size, 'timed_steps': FLAGS.steps,
            'step': step, 'trainer': trainer}
  if 'step_s_median' in step and trainer.get('step_s_median'):
    result['trainer_over_step'] = round(
        trainer['step_s_median'] / step['step_s_median'], 3)
  return result


def _configurations(config, task, phase):
  """The isolated step with XLA on and off, memory saving on and off (where
  the model has the choice), and the TF32 and mixed-precision settings
  asked for."""
  savings = ([True, False] if hasattr(config.model, 'memory_saving')
             else [None])
  results = []
  settings = [(jit, saving, tf32, mixed)
              for jit in (setting == 'true' for setting in FLAGS.xla)
              for saving in savings
              for tf32 in (setting == 'true' for setting in FLAGS.tf32)
              for mixed in (setting == 'true'
                            for setting in FLAGS.mixed_precision)]
  for jit, saving, tf32, mixed in settings:
    if jit and not task.supports_jit:
      results.append({'jit_compile': True, 'memory_saving': saving,
                      'tf32': tf32, 'mixed_precision': mixed,
                      'skipped': 'the step calls POT outside TensorFlow, '
                                 'so XLA cannot compile it'})
    else:
      results.append(_run(phase, jit, saving, tf32, mixed))
  return results


def _phase(task):
  """The train step to time: `--phase`, checked against the task's."""
  phase = 'train' if FLAGS.phase in _OLD_PHASE_NAMES else FLAGS.phase
  if phase is None:
    return task.phases[0]
  if phase not in task.phases:
    raise app.UsageError(f'--phase={FLAGS.phase}: {FLAGS.experiment} has the '
                         f'phases {", ".join(task.phases)}')
  return phase


def main(argv):
  del argv
  import trainers  # pylint: disable=g-import-not-at-top
  if FLAGS.end_to_end and FLAGS.image_size:
    raise app.UsageError('--end_to_end times the experiment on its own data: '
                         'leave out --image_size')
  try:
    config = config_flags.experiment(lambda _: config_flags.pairs(
        FLAGS.model_override, 'model_override', 'model.'))
  except errors.Error as e:
    raise app.UsageError(str(e)) from None
  task = trainers.build_task(config)
  phase = _phase(task)
  results = ([_end_to_end(config, phase)] if FLAGS.end_to_end
             else _configurations(config, task, phase))
  for r in results:
    print(json.dumps(r), flush=True)
  if FLAGS.output:
    with open(FLAGS.output, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  cli.run(main)
