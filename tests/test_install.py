"""`pip install .` gives a working library: the wheel and what it holds."""

import os
import re
import shutil
import subprocess
import sys
import zipfile

from tests.helpers import REPO

_USE_INSTALLED = r"""
import os, sys
import numpy as np, tensorflow as tf
import bijectors, layers, official, trainers
from official.data import load_mnist
assert all(m.__file__.startswith(sys.argv[1]) for m in (bijectors, layers,
                                                        official, trainers))
flow = bijectors.Householder(4)
x = tf.random.normal((3, 4))
assert np.abs(flow.inverse(tf.identity(flow.forward(x))) - x).max() < 1e-5
images, labels = load_mnist('test')  # the bundled copy, from the wheel
print(images.shape, labels[:3].tolist())
"""


def test_wheel_installs_the_four_packages_with_their_data_and_pins(tmp_path):
  source = tmp_path / 'source'
  shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
      '.git', '.venv', 'runs', 'build', '*.egg-info', '__pycache__'))
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
                  '--no-build-isolation', '--wheel-dir', str(tmp_path / 'dist'),
                  str(source)], check=True, capture_output=True)
  [wheel] = (tmp_path / 'dist').glob('*.whl')
  with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
    metadata = archive.read(next(n for n in names
                                 if n.endswith('.dist-info/METADATA'))).decode()
  assert {n.split('/')[0] for n in names if '.dist-info' not in n} == {
      'bijectors', 'layers', 'official', 'trainers'}
  assert 'official/data/files/mnist/t10k-images-idx3-ubyte.gz' in names
  assert 'official/evaluation/files/inception_probe_features.npz' in names
  with open(os.path.join(REPO, 'requirements.txt')) as f:
    pins = {line.strip() for line in f if re.match(r'^[A-Za-z]', line)}
  assert pins and {line.split(': ', 1)[1] for line in metadata.splitlines()
                   if line.startswith('Requires-Dist: ')} == pins

  site = tmp_path / 'site'
  subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet',
                  '--no-deps', '--target', str(site), str(wheel)], check=True,
                 capture_output=True)
  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  done = subprocess.run(
      [sys.executable, '-c', _USE_INSTALLED, str(site)], cwd=elsewhere,
      capture_output=True, text=True,
      env=dict(os.environ, PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL='3'))
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.splitlines()[-1] == '(10000, 28, 28) [7, 2, 1]'
