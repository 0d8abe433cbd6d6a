r"""The GPU check: one script, under 8 minutes on a GPU machine, one JSON.

  python -m official.benchmarks.gpu_check --output=gpu_check.json

writes, as each part finishes (a part past `--budget_s` is skipped, and
says so):

- `devices`: the GPUs TensorFlow sees, with their names and compute
  capabilities;
- `celeba_step`: the CelebA reconstruction step at the paper's batch 250,
  with XLA off and on and with each gradient mode (memory-saving and plain
  autodiff), each in a fresh process (`official.benchmarks.one_step`): step
  times, GPU peak memory (`tf.config.experimental.get_memory_info`) and the
  float32 round-trip error;
- `precision`: the same step's round-trip error and time with TF32 on,
  and with the coupling networks in bfloat16 (`--mixed_precision`), beside
  the float32 default;
- `trainers`: 200 steps of each experiment with `official.train
  --strategy=mirrored` on real data (the bundled MNIST; CelebA from a
  synthetic release of 178x218 JPEGs): the trainer's step times.

`--tiny` runs everything at toy sizes, so that the script itself can be
tested on a CPU.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import flags

from official import cli

flags.DEFINE_string('output', 'gpu_check.json', 'Where to write the JSON.')
flags.DEFINE_bool('tiny', False, 'Toy sizes (to test the script on a CPU).')
flags.DEFINE_float('budget_s', 450., 'Skip the parts that start later.')
FLAGS = flags.FLAGS

_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
_TINY_REVNET = 'stages=((4,1),(6,1))'
_TINY = {'pie_mnist': ['conv_hidden=8', 'dense_hidden=16', 'steps=1'],
         'revnet_ot_mnist': [_TINY_REVNET],
         'revnet_aae_celeba64': [_TINY_REVNET]}


def _last_json_line(done):
  if done.returncode:
    lines = done.stderr.strip().splitlines()
    return {'error': lines[-1][:300] if lines else f'exit {done.returncode}'}
  return json.loads(done.stdout.strip().splitlines()[-1])


def _devices():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return [{'name': d.name, **{k: str(v) for k, v in
                              tf.config.experimental.get_device_details(
                                  d).items()}}
          for d in tf.config.list_physical_devices('GPU')]


def _one_step(jit, saving, tf32=False, mixed_precision=False):
  batch = 4 if FLAGS.tiny else 250
  command = [sys.executable, '-m', 'official.benchmarks.one_step',
             '--experiment=revnet_aae_celeba64', '--phase=reconstruction',
             f'--batch_size={batch}', f'--steps={2 if FLAGS.tiny else 5}',
             f'--jit_compile={jit}', f'--tf32={tf32}',
             f'--mixed_precision={mixed_precision}',
             f'--override=memory_saving={saving}']
  if FLAGS.tiny:
    command += [f'--override={o}' for o in _TINY['revnet_aae_celeba64']]
  result = _last_json_line(subprocess.run(command, capture_output=True,
                                          text=True, env=_ENV))
  if 'step_s' in result:
    result['step_s_median'] = round(statistics.median(result['step_s']), 4)
  return {'jit_compile': jit, 'memory_saving': saving, 'tf32': tf32,
          'mixed_precision': mixed_precision,
          **{k: result.get(k) for k in (
              'step_s_median', 'first_step_s', 'gpu_peak_mib', 'peak_rss_mib',
              'round_trip_max_abs_error', 'device', 'error') if k in result}}


def _trainer(experiment, work_dir):
  steps = 2 if FLAGS.tiny else 200
  model_dir = os.path.join(work_dir, experiment)
  command = [sys.executable, '-m', 'official.train',
             f'--experiment={experiment}', f'--model_dir={model_dir}',
             '--strategy=mirrored', f'--train_steps={steps}',
             f'--log_every={steps}', f'--checkpoint_every={steps}',
             f'--image_every={steps}']
  if experiment == 'revnet_ot_mnist':
    command.append(f'--batch_size={40 if FLAGS.tiny else 1000}')
  if experiment == 'revnet_aae_celeba64':
    from official.benchmarks import synthetic_release  # pylint: disable=g-import-not-at-top
    release = os.path.join(work_dir, 'release')
    synthetic_release.write_release(release, 40 if FLAGS.tiny else 1000,
                                    archive=True)
    command += ['--dataset=celeb_a_files', f'--data_dir={release}',
                f'--batch_size={4 if FLAGS.tiny else 64}',
                '--reconstruction_steps=1']
  if FLAGS.tiny:
    command += [f'--model_override={o}' for o in _TINY[experiment]]
    if experiment == 'pie_mnist':
      command.append('--batch_size=8')
    if experiment == 'revnet_ot_mnist':
      # The class Gaussians from one batch's codes, not 10,000 digits'.
      command.append('--params_override=task.init_examples=40')
  began = time.time()
  done = subprocess.run(command, capture_output=True, text=True, env=_ENV)
  if done.returncode:
    lines = done.stderr.strip().splitlines()
    return {'experiment': experiment,
            'error': lines[-1][:300] if lines else f'exit {done.returncode}'}
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    metrics = json.load(f)
  return {'experiment': experiment, 'steps': metrics['step'],
          'wall_s': round(time.time() - began, 1),
          **{k: metrics[k] for k in ('step_s_median', 'step_s_mean',
                                     'train_seconds_this_process')}}


def main(argv):
  del argv
  began = time.time()
  report = {'tiny': FLAGS.tiny, 'devices': _devices()}

  def part(name, items, run):
    report[name] = []
    for item in items:
      if time.time() - began > FLAGS.budget_s:
        report[name].append({'item': repr(item), 'skipped':
                             f'past the budget of {FLAGS.budget_s:.0f} s'})
      else:
        report[name].append(run(*item))
      report['elapsed_s'] = round(time.time() - began, 1)
      with open(FLAGS.output, 'w') as f:
        json.dump(report, f, indent=2)

  part('celeba_step', [(jit, saving) for jit in (False, True)
                       for saving in (True, False)], _one_step)
  part('precision', [(False, True, True, False), (False, True, False, True)],
       _one_step)
  with tempfile.TemporaryDirectory() as work_dir:
    part('trainers', [(name, work_dir) for name in (
        'pie_mnist', 'revnet_ot_mnist', 'revnet_aae_celeba64')], _trainer)
  print(json.dumps(report, indent=2))


if __name__ == '__main__':
  cli.run(main)
