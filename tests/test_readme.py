"""The README and the documentation pages as a new user copies them: every
Python block and every `python -m official...` command runs as written, from
a folder outside the checkout, against the installed package (`make`
installs it, editable), and the site builds with `mkdocs build --strict`.

Blocks that train take smaller step counts; commands that train, evaluate or
export run on a tiny PIE run. The blocks run in one fresh Python; each
`python -m` command is forked from one that has imported the installed
package (tests/forked.py). The other commands (the OT and CelebA
recipes, multi-worker, the benchmarks) are checked against the flags their
program defines. Not run: `make` (CI runs `make test`; the demo is one of the
training commands), `pip install .` (tests/test_install.py), and TF Serving's
`docker` and `curl` (no server here; tests/test_export.py covers the
SavedModel with `saved_model_cli`).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

import official
from tests import forked
from tests.helpers import REPO

_PAGES = [os.path.join(REPO, 'README.md')] + sorted(
    os.path.join(REPO, 'docs', name)
    for name in os.listdir(os.path.join(REPO, 'docs')) if name.endswith('.md'))
# Smaller counts for what trains or evaluates; absl keeps a flag's last value.
_SHORTER_BLOCKS = {'num_steps=150': 'num_steps=3'}
_SMALL_RUN = ['--train_steps=2', '--batch_size=8', '--log_every=1',
              '--checkpoint_every=2', '--image_every=1000']
# And a small model, except where the command starts from a shipped one.
_SMALL_MODEL = ['--model_override=conv_hidden=8',
                '--model_override=dense_hidden=16', '--model_override=steps=1']
_SHIPPED_RUNS = os.path.join(REPO, 'pretrained', 'training_runs')
_SMALL_EVAL = ['--num_test=40', '--num_samples=40']

_RUN_BLOCKS = r'''
import json, sys, traceback
results = []
for block in json.load(open(sys.argv[1])):
  try:
    exec(compile(block, '<README block>', 'exec'), {})
    results.append(None)
  except BaseException:
    results.append(traceback.format_exc(limit=-3))
import bijectors
results.append(bijectors.__file__)
json.dump(results, open(sys.argv[2], 'w'))
'''


def _readme():
  """The README and every page under docs/, one after the other."""
  texts = []
  for path in _PAGES:
    with open(path, encoding='utf-8') as f:
      texts.append(f.read())
  return '\n'.join(texts)


def _blocks(language):
  return re.findall(rf'```{language}\n(.*?)```', _readme(), re.S)


def _commands():
  """Each shell command of the README and the pages, once (a page may repeat
  the README's), continuation lines joined and comments and optional `[...]`
  flags dropped."""
  commands = []
  for block in _blocks('sh'):
    for command in re.sub(r'\\\n\s*', ' ', block).splitlines():
      command = re.sub(r'\s+#.*$', '', command).strip()
      command = re.sub(r'\[[^\]]*\]', '', command).strip()
      if command and not command.startswith('#'):
        commands.append(command)
  return list(dict.fromkeys(commands))


def _environment():
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '3'
  return env


@pytest.fixture(scope='module')
def python_blocks(tmp_path_factory):
  """Runs every Python block in one fresh process from another folder."""
  folder = tmp_path_factory.mktemp('reader')
  os.symlink(os.path.join(REPO, 'pretrained'), folder / 'pretrained')
  blocks = _blocks('python')
  for long, short in _SHORTER_BLOCKS.items():
    blocks = [b.replace(long, short) for b in blocks]
  (folder / 'blocks.json').write_text(json.dumps(blocks))
  subprocess.run([sys.executable, '-c', _RUN_BLOCKS, 'blocks.json',
                  'results.json'], cwd=folder, env=_environment(), check=True,
                 capture_output=True, timeout=900)
  *results, imported_from = json.loads((folder / 'results.json').read_text())
  return blocks, results, imported_from


def test_every_python_block_runs_from_another_folder(python_blocks):
  blocks, results, imported_from = python_blocks
  assert len(blocks) >= 9
  assert os.path.exists(imported_from)  # the installed package, found
  failed = [f'{block.splitlines()[0]!r}:\n{error}'
            for block, error in zip(blocks, results) if error]
  assert not failed, '\n\n'.join(failed)


def test_every_yaml_block_is_a_config_file_pie_takes(tmp_path):
  from official import experiments  # pylint: disable=g-import-not-at-top
  blocks = _blocks('yaml')
  assert blocks
  for block in blocks:
    (tmp_path / 'config.yaml').write_text(block)
    items = experiments.items_from_file(tmp_path / 'config.yaml')
    config = experiments.override(experiments.get_experiment('pie_mnist'),
                                  items)
    for key, value in items.items():
      fields = ({f'{key}.{name}': v for name, v in value.items()}
                if isinstance(value, dict) else {key: value})
      for name, v in fields.items():
        assert experiments.value_at(config, name) == v, name


def _run(command, folder):
  args = shlex.split(command)
  if args[0] == 'python':
    args[0] = sys.executable
  elif args[0] == 'saved_model_cli':
    args[0] = forked.SAVED_MODEL_CLI
  module = args[2] if args[1:2] == ['-m'] else None
  if module == 'official.train' and '--helpfull' not in args:
    args += _SMALL_RUN
    if _flag(args, 'experiment') == 'pie_mnist' and not _flag(args,
                                                              'init_from'):
      args += _SMALL_MODEL
  if module == 'official.evaluate':
    args += _SMALL_EVAL
  done = forked.run(args, cwd=folder, env=_environment(),
                    capture_output=True, text=True, timeout=600)
  ok = (0, 1) if '--helpfull' in args else (0,)  # absl's help exits 1
  assert done.returncode in ok, f'{command}\n{done.stderr[-2000:]}'
  return done.stdout


def _flag(args, name):
  for arg in args:
    if arg.startswith(f'--{name}='):
      return arg.split('=', 1)[1]
  return None


def test_pie_commands_run_as_written(tmp_path):
  """Training, evaluation, export and inspection, in the README's order;
  a run that evaluate or export reads is the shipped run of that name
  (`pretrained/training_runs/`), or else trained (tiny) first."""
  os.symlink(os.path.join(REPO, 'pretrained'), tmp_path / 'pretrained')
  ran = 0
  trained = set()
  for command in _commands():
    args = shlex.split(command)
    module = args[2] if args[:2] == ['python', '-m'] else args[0]
    if _flag(args, 'experiment') not in (None, 'pie_mnist') or (
        module == 'official.train' and _flag(args, 'strategy')):
      continue
    if module in ('official.evaluate', 'official.export'):
      model_dir = _flag(args, 'model_dir')
      shipped = os.path.join(_SHIPPED_RUNS, os.path.basename(model_dir))
      if model_dir not in trained and os.path.isdir(shipped):
        shutil.copytree(shipped, tmp_path / model_dir)
      elif model_dir not in trained:
        _run(f'python -m official.train --experiment=pie_mnist '
             f'--model_dir={model_dir}', tmp_path)
      trained.add(model_dir)
    elif module == 'official.train':
      trained.add(_flag(args, 'model_dir'))
    elif module != 'saved_model_cli':
      continue
    out = _run(command, tmp_path)
    if module == 'saved_model_cli':
      assert "signature_def['sample_with_temperature']" in out
    if '--helpfull' in args:
      assert 'default: the experiment' in out
    ran += 1
  assert ran >= 6
  with open(tmp_path / 'runs' / 'pie' / 'eval' / 'metrics.json') as f:
    assert json.load(f)['num_test_images'] == 40
  assert (tmp_path / 'exports' / 'pie_mnist' / '1' / 'saved_model.pb').exists()


def _defined_flags(module):
  """The long flag names that `python -m module --helpfull` lists."""
  done = forked.run([sys.executable, '-m', module, '--helpfull'],
                    env=_environment(), capture_output=True, text=True,
                    timeout=300, cwd=os.path.dirname(REPO))
  assert done.returncode in (0, 1), done.stderr[-2000:]  # help exits 1
  return set(re.findall(r'--(?:\[no\])?(\w+)', done.stdout))


def test_every_other_command_names_only_defined_flags():
  by_module = {}
  for command in _commands():
    args = shlex.split(command.split('python', 1)[-1] if 'TF_CONFIG' in
                       command else command)
    if args[:1] != ['-m'] and args[:2] != ['python', '-m']:
      continue
    module = args[args.index('-m') + 1]
    names = {a[2:].split('=')[0] for a in args if a.startswith('--')}
    by_module.setdefault(module, set()).update(names)
  assert set(by_module) >= {'official.train', 'official.evaluate',
                            'official.export', 'official.benchmark'}
  for module, names in by_module.items():
    unknown = names - _defined_flags(module) - {'helpfull'}
    assert not unknown, f'{module}: {sorted(unknown)}'


def test_models_table_states_the_measured_parameter_counts():
  table = re.findall(r'^\| `(\w+)` \| [^|]+\| ([\d,]+) \|$', _readme(), re.M)
  assert len(table) == 3
  for name, stated in table:
    model = official.build_model(name)
    model.encode_full(np.zeros((1,) + model.image_shape, np.float32))
    counted = sum(int(np.prod(v.shape))
                  for v in model.flow.trainable_variables)
    assert int(stated.replace(',', '')) == counted, name


def _scientific(value):
  mantissa, exponent = f'{value:e}'.split('e')
  return f'{float(mantissa):g}e{int(exponent)}'


def test_training_table_states_each_recipes_defaults():
  from official import experiments  # pylint: disable=g-import-not-at-top
  from official import models  # pylint: disable=g-import-not-at-top
  rows = dict(re.findall(r'^\| `(\w+)` \| `\w+` \| [^|]+\| (.+) \|$',
                         _readme(), re.M))
  pie, ot, aae, vae, wae = (experiments.get_experiment(name) for name in (
      'pie_mnist', 'revnet_ot_mnist', 'revnet_aae_celeba64', 'vae_mnist',
      'wae_mnist'))
  expected = {
      'vae_mnist': [
          f'{vae.model.latent_dims}-dim code',
          f'of {vae.model.filters[0]} and {vae.model.filters[1]} channels',
          f'Adam {_scientific(vae.trainer.optimizer.learning_rate)}',
          f'batch {vae.trainer.batch_size}',
          f'{vae.trainer.train_steps // 1000}k steps'],
      'wae_mnist': [
          f'{wae.task.reconstruction_weight:g} x squared L2 + '
          f'{wae.task.mmd_weight:g} x MMD',
          f'at {len(wae.task.kernel_scales)} scales',
          f'betas ({wae.trainer.optimizer.beta_1:g}, '
          f'{wae.trainer.optimizer.beta_2:g})',
          f'batch {wae.trainer.batch_size}'],
      'pie_mnist': [
          f'Adam {_scientific(pie.trainer.optimizer.learning_rate)}',
          f'batch {pie.trainer.batch_size}',
          f'{pie.trainer.train_steps // 1000}k steps',
          f'eps^2 = {models.model_config("pie_mnist").epsilon_sq}'],
      'revnet_ot_mnist': [
          f'codes of {ot.task.init_examples:,} digits',
          f'batches of {ot.trainer.batch_size} '
          f'({ot.trainer.batch_size // 10} per class)',
          f'{ot.task.perturbation_weight:g} x (MSE + L1)',
          f'N(0, {ot.task.perturbation_std:g}^2)',
          f'Adam {_scientific(ot.trainer.optimizer.learning_rate)}'],
      'revnet_aae_celeba64': [
          f'{models.model_config("revnet_celeba64").num_prior_dims} prior dims',
          f'{aae.task.l1_weight:g} x L1 + {aae.task.l2_weight:g} x L2',
          f'clipped to +-{aae.task.prior_clip:g}',
          f'norm clipped to {aae.task.clip_norm:g}',
          f'Adam {_scientific(aae.trainer.optimizer.learning_rate)} / '
          f'{_scientific(aae.trainer.critic_optimizer.learning_rate)}',
          f'betas ({aae.trainer.optimizer.beta_1:g}, '
          f'{aae.trainer.optimizer.beta_2:g})',
          f'batch {aae.trainer.batch_size}'],
  }
  for name, phrases in expected.items():
    for phrase in phrases:
      assert phrase in rows[name], (name, phrase)


def test_the_site_builds_strictly_with_the_readme_as_home(tmp_path):
  """`make docs`: a broken link, anchor or API reference fails the build."""
  done = subprocess.run(
      [sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir',
       str(tmp_path / 'site')], cwd=REPO, capture_output=True, text=True,
      timeout=300, env={**_environment(), 'NO_MKDOCS_2_WARNING': '1'})
  assert done.returncode == 0, done.stderr[-3000:]
  home = (tmp_path / 'site' / 'index.html').read_text()
  assert 'Invertible autoencoders for TensorFlow' in home
  assert 'href="training/"' in home  # README's docs/ links, made relative
  api = (tmp_path / 'site' / 'api' / 'index.html').read_text()
  assert 'y1 = x1 + f(x2)' in api  # AdditiveCoupling's docstring, rendered
