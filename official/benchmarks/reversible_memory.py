r"""Peak memory of one reconstruction-phase step of the CelebA RevNet, with
and without memory-saving gradients, as depth and batch grow.

  python -m official.benchmarks.reversible_memory --output=memory.json

Each configuration runs in a fresh process (`official.benchmarks.one_step`),
so its peak resident set size is its own. The step is the paper's: forward,
clamp to the prior, inverse, L1 + L2 losses, backward, clip, Adam.
"""

import json
import os
import subprocess
import sys

from absl import flags

from official import cli

flags.DEFINE_string('output', None, 'Write the results as JSON here.')
flags.DEFINE_list('multipliers', ['1', '2', '4'],
                  'Blocks-per-stage multipliers at --batch_size.')
flags.DEFINE_integer('batch_size', 16, 'Batch of the depth sweep.')
flags.DEFINE_list('batch_sizes', ['8', '16', '32', '64'],
                  'Batches of the batch sweep (depth x1).')
FLAGS = flags.FLAGS


def _run(batch_size, multiplier, memory_saving):
  command = [sys.executable, '-m', 'official.benchmarks.one_step',
             '--experiment=revnet_aae_celeba64', '--phase=reconstruction',
             f'--batch_size={batch_size}', '--steps=0',
             f'--override=block_multiplier={multiplier}',
             f'--override=memory_saving={memory_saving}']
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  out = subprocess.run(command, capture_output=True, text=True, env=env,
                       check=True).stdout
  result = json.loads(out.strip().splitlines()[-1])
  result.update(multiplier=multiplier, memory_saving=memory_saving)
  return result


def main(argv):
  del argv
  configs = [(FLAGS.batch_size, int(m)) for m in FLAGS.multipliers]
  configs += [(int(b), 1) for b in FLAGS.batch_sizes
              if (int(b), 1) not in configs]
  rows = []
  print('| batch | blocks x | saving | peak RSS MiB | step RSS growth MiB '
        '| first step s |')
  print('| --- | --- | --- | --- | --- | --- |')
  for batch_size, multiplier in configs:
    for saving in (True, False):
      r = _run(batch_size, multiplier, saving)
      rows.append(r)
      growth = r['peak_rss_mib'] - r['peak_rss_mib_before_step']
      print(f'| {batch_size} | {multiplier} | {"on" if saving else "off"} | '
            f'{r["peak_rss_mib"]:.0f} | {growth:.0f} | '
            f'{r["first_step_s"]:.1f} |', flush=True)
  if FLAGS.output:
    with open(FLAGS.output, 'w') as f:
      json.dump(rows, f, indent=2)


if __name__ == '__main__':
  cli.run(main)
