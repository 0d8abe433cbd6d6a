"""CelebA from its official release files, and the TFDS path's real builder."""

import io
import json
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from official import experiments
from official.benchmarks.synthetic_release import write_release
from official.data import celeba_release
from official.data import pipelines
from tests import forked
from tests.helpers import REPO


@pytest.fixture(scope='module')
def releases(tmp_path_factory):
  """The same 40-image release as a folder and as a zip."""
  root = tmp_path_factory.mktemp('celeba')
  split_of = write_release(root / 'folder', 40)
  write_release(root / 'zip', 40, archive=True)
  return root, split_of


def _batches(data_dir, global_batch=8, start_step=0, count=1, context=None,
             split='train'):
  data = experiments.DataConfig('celeb_a_files', str(data_dir))
  dataset = pipelines.make_dataset_fn(data, 7, global_batch, start_step,
                                      split=split)(context)
  return [images.numpy() for images, _ in dataset.take(count)]


def test_folder_and_zip_give_the_face_crop_of_each_split_image(releases):
  root, split_of = releases
  folder = _batches(root / 'folder', count=4)
  zipped = _batches(root / 'zip', count=4)
  np.testing.assert_array_equal(np.stack(folder), np.stack(zipped))
  # Every image of the first epoch is one of the train split's, processed
  # like the TFDS path: the central 140x140 resized to 64x64.
  train = sorted(n for n, s in split_of.items() if s == 0)
  expected = {name: pipelines.celeba_preprocess(tf.io.decode_jpeg(
      (root / 'folder' / celeba_release.FOLDER / name).read_bytes())).numpy()
              for name in train}
  epoch = np.concatenate(folder)[:len(train)]
  matched = [min(expected, key=lambda n: np.abs(expected[n] - image).max())
             for image in epoch]
  assert sorted(matched) == train  # a permutation of the train split
  assert max(np.abs(expected[n] - image).max()
             for n, image in zip(matched, epoch)) < 1e-6
  test = _batches(root / 'zip', global_batch=4, split='test')[0]
  assert min(np.abs(t - e).max() for t in test for e in expected.values()) > 0


def test_resumes_at_the_step_and_splits_rows_over_replicas_and_workers(
    releases):
  root, _ = releases
  straight = _batches(root / 'zip', count=4)
  assert (_batches(root / 'zip', start_step=3)[0] == straight[3]).all()
  replicas = _batches(root / 'zip', count=2, context=tf.distribute.InputContext(
      num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2))
  np.testing.assert_array_equal(np.concatenate(replicas), straight[0])
  workers = [_batches(root / 'folder', context=tf.distribute.InputContext(
      num_input_pipelines=2, input_pipeline_id=k, num_replicas_in_sync=2))[0]
             for k in (0, 1)]
  np.testing.assert_array_equal(np.concatenate(workers), straight[0])


def _jpeg(path):
  buffer = io.BytesIO()
  Image.new('RGB', (178, 218), (200, 150, 100)).save(buffer, format='JPEG')
  path.write_bytes(buffer.getvalue())


def test_without_the_partition_file_the_numbers_decide_the_split(tmp_path):
  for number in (1, 162_770, 162_771, 182_638, 202_599):
    _jpeg(tmp_path / f'{number:06d}.jpg')
  release = celeba_release.Release(str(tmp_path))
  assert release.names('train') == ['000001.jpg', '162770.jpg']
  assert release.names('validation') == ['162771.jpg']
  assert release.names('test') == ['182638.jpg', '202599.jpg']
  _jpeg(tmp_path / 'portrait.jpg')
  with pytest.raises(pipelines.DataError,
                     match='portrait.jpg .* not one of the release\'s '
                     'numbered images; without list_eval_partition.txt'):
    celeba_release.Release(str(tmp_path))


def test_bad_releases_fail_in_one_line_naming_the_problem(releases, tmp_path):
  root, _ = releases
  with pytest.raises(pipelines.DataError, match='--dataset=celeb_a_files '
                     'needs --data_dir: the folder of the CelebA release '
                     'files'):
    pipelines.make_dataset_fn(experiments.DataConfig('celeb_a_files'), 0, 4)
  (tmp_path / 'empty').mkdir()
  with pytest.raises(pipelines.DataError, match='no CelebA images in .*empty: '
                     'expected img_align_celeba.zip'):
    celeba_release.Release(str(tmp_path / 'empty'))
  (tmp_path / 'broken.zip').mkdir()
  (tmp_path / 'broken.zip' / celeba_release.ARCHIVE).write_bytes(b'PK junk')
  with pytest.raises(pipelines.DataError, match='is not a readable zip file'):
    celeba_release.Release(str(tmp_path / 'broken.zip'))

  mismatch = tmp_path / 'mismatch'
  shutil.copytree(root / 'folder', mismatch)
  partition = mismatch / celeba_release.PARTITION_FILE
  lines = partition.read_text().splitlines()
  partition.write_text('\n'.join(lines[1:] + ['999999.jpg 2']) + '\n')
  with pytest.raises(pipelines.DataError, match=r'does not match the images '
                     r'.*1 listed images are missing \(first 999999.jpg\) and '
                     r'1 images are not listed \(first 000001.jpg\)'):
    celeba_release.Release(str(mismatch))
  partition.write_text('\n'.join(lines[:2] + ['000003.jpg train']) + '\n')
  with pytest.raises(pipelines.DataError, match='line 3 is not "NAME SPLIT"'):
    celeba_release.Release(str(mismatch))

  truncated = tmp_path / 'truncated'
  shutil.copytree(root / 'folder', truncated)
  for name in os.listdir(truncated / celeba_release.FOLDER):
    path = truncated / celeba_release.FOLDER / name
    if name != '000001.jpg':
      path.write_bytes(path.read_bytes()[:3000])
  with pytest.raises(tf.errors.OpError) as raised:
    _batches(truncated, global_batch=32)
  problem = pipelines.data_error_in(raised.value)
  assert isinstance(problem, pipelines.DataError)
  assert str(problem).startswith('truncated or not a JPEG: CelebA image 0000')
  assert str(problem).endswith(' bytes)') and '\n' not in str(problem)


def test_aae_trains_from_the_release_zip_with_one_command(releases, tmp_path):
  root, _ = releases
  command = [
      sys.executable, '-m', 'official.train',
      '--experiment=revnet_aae_celeba64', f'--model_dir={tmp_path}/run',
      '--dataset=celeb_a_files', f'--data_dir={root / "zip"}',
      '--batch_size=4', '--reconstruction_steps=1', '--adversarial_steps=1',
      '--model_override=stages=((4,1,3),(4,1,3),(4,1,3),(4,1,3),(4,1,3),'
      '(4,1,1))', '--model_override=num_prior_dims=8']
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  done = forked.run(command, cwd=REPO, env=env, capture_output=True,
                    text=True)
  assert done.returncode == 0, done.stderr[-2000:]
  with open(tmp_path / 'run' / 'metrics.json') as f:
    metrics = json.load(f)
  assert metrics['step'] == 2 and 'critic' in metrics['final_losses']
  with open(tmp_path / 'run' / 'experiment.json') as f:
    assert json.load(f)['config']['data']['dataset'] == 'celeb_a_files'


def test_tfds_celeb_a_reaches_its_builder_and_fails_offline_in_one_line(
    tmp_path, monkeypatch):
  # The real builder, not tfds.testing.mock_data: its download goes to a
  # closed port on this machine, at once and without retries.
  from tensorflow_datasets.core.download import downloader
  monkeypatch.setattr(downloader, 'MAX_RETRIES', 0)
  for name in ('HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'):
    monkeypatch.setenv(name, 'http://127.0.0.1:1')
  for name in ('NO_PROXY', 'no_proxy'):
    monkeypatch.delenv(name, raising=False)
  with pytest.raises(pipelines.DataError) as raised:
    pipelines.make_dataset_fn(experiments.DataConfig('celeb_a', str(tmp_path)),
                              0, 4)(None)
  message = str(raised.value)
  assert message.startswith('could not load TFDS celeb_a (')
  assert 'ModuleNotFoundError' not in message and '\n' not in message
  assert message.endswith('--dataset=celeb_a_files --data_dir=FOLDER')
  assert os.path.isdir(tmp_path / 'downloads')  # the builder got that far
