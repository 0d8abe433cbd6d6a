r"""Times training steps of an experiment, with and without XLA and
memory-saving gradients:

  python -m official.benchmark --experiment=revnet_aae_celeba64 \
      --phase=reconstruction --batch_size=64 --steps=5 --output=bench.json

Every configuration runs in a fresh process (`official.benchmarks.one_step`)
on random images: S steps are timed after a warm-up step. Reported per
configuration: `step_s_median`, `images_per_s`, `peak_rss_mib` (the process's
peak after its first step), encode and decode throughput, and the float32
round-trip error.
"""

import json
import os
import statistics
import subprocess
import sys

from absl import app
from absl import flags

_PHASES = {'reconstruction': 'revnet_aae_celeba64',
           'adversarial': 'revnet_aae_celeba64',
           'mle': 'pie_mnist', 'ot': 'revnet_ot_mnist'}

flags.DEFINE_string('experiment', 'revnet_aae_celeba64', 'Experiment name.')
flags.DEFINE_enum('phase', 'reconstruction', sorted(_PHASES),
                  'Which train step to time.')
flags.DEFINE_integer('batch_size', 64, 'Global batch size.')
flags.DEFINE_integer('steps', 5, 'Timed steps after the warm-up step.')
flags.DEFINE_string('output', None, 'Write the results as JSON here.')
flags.DEFINE_list('xla', ['false', 'true'], 'XLA settings to run.')
FLAGS = flags.FLAGS


def _run(jit, saving):
  command = [sys.executable, '-m', 'official.benchmarks.one_step',
             f'--experiment={FLAGS.experiment}',
             f'--batch_size={FLAGS.batch_size}', f'--steps={FLAGS.steps}',
             f'--jit_compile={jit}']
  if FLAGS.phase in ('reconstruction', 'adversarial'):
    command.append(f'--phase={FLAGS.phase}')
  if saving is not None:
    command.append(f'--override=memory_saving={saving}')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  done = subprocess.run(command, capture_output=True, text=True, env=env)
  if done.returncode:
    return {'jit_compile': jit, 'memory_saving': saving,
            'error': done.stderr.strip().splitlines()[-1][:300]}
  result = json.loads(done.stdout.strip().splitlines()[-1])
  median = statistics.median(result['step_s'])
  result.update(memory_saving=saving, step_s_median=round(median, 4),
                images_per_s=round(FLAGS.batch_size / median, 1))
  return result


def main(argv):
  del argv
  if _PHASES[FLAGS.phase] != FLAGS.experiment:
    raise app.UsageError(f'--phase={FLAGS.phase} belongs to '
                         f'{_PHASES[FLAGS.phase]}, not {FLAGS.experiment}')
  import trainers  # pylint: disable=g-import-not-at-top
  from official import experiments  # pylint: disable=g-import-not-at-top
  task = trainers.build_task(experiments.get_experiment(FLAGS.experiment))
  savings = ([True, False] if FLAGS.experiment.startswith('revnet')
             else [None])
  results = []
  for jit in (setting == 'true' for setting in FLAGS.xla):
    for saving in savings:
      if jit and not task.supports_jit:
        results.append({'jit_compile': True, 'memory_saving': saving,
                        'skipped': 'the step calls POT outside TensorFlow, '
                                   'so XLA cannot compile it'})
      else:
        results.append(_run(jit, saving))
  for r in results:
    print(json.dumps(r), flush=True)
  if FLAGS.output:
    with open(FLAGS.output, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  app.run(main)
