"""The documentation's examples run as written: every example in the
bijectors' docstrings, and every Python block of the README's sections on
the bijectors and on reusing them in a TFP distribution."""

import inspect
import os
import re

import pytest

import bijectors
from conftest import REPO

_PRELUDE = ('import tensorflow as tf, tensorflow_probability as tfp\n'
            'tfb, tfd = tfp.bijectors, tfp.distributions\n')
# The README's training example, at a step count a test can afford.
_SHORTER = {'num_steps=150': 'num_steps=3'}


def _python_blocks(text):
  return re.findall(r'```python\n(.*?)```', text, re.S)


def _docstring_examples():
  for name in bijectors.__all__:
    cls = getattr(bijectors, name)
    for member in [cls] + [m for _, m in inspect.getmembers(cls)
                           if inspect.isfunction(m)]:
      for i, block in enumerate(_python_blocks(inspect.getdoc(member) or '')):
        yield pytest.param(block, id=f'{member.__qualname__}-{i}')


def _readme_section(title):
  """The text from the `## title` heading to the next `## ` heading."""
  with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
    readme = f.read()
  start = readme.index(f'\n## {title}\n')
  end = readme.find('\n## ', start + 1)
  return readme[start:end if end > 0 else None]


def _readme_examples():
  for title in ('Bijectors',
                'Using the bijectors in your own TFP distribution'):
    for i, block in enumerate(_python_blocks(_readme_section(title))):
      yield pytest.param(block, id=f'README {title}-{i}')


def _run(block):
  for long, short in _SHORTER.items():
    block = block.replace(long, short)
  exec(compile(_PRELUDE + block, '<example>', 'exec'), {})


@pytest.mark.parametrize('block', list(_docstring_examples()))
def test_docstring_example_runs(block):
  _run(block)


@pytest.mark.parametrize('block', list(_readme_examples()))
def test_readme_example_runs(block):
  _run(block)


def test_every_bijector_documents_references_and_errors():
  for name in bijectors.__all__:
    cls = getattr(bijectors, name)
    assert '#### References' in cls.__doc__, name
    assert re.search(r'https://arxiv\.org/abs/\d{4}\.\d{5}', cls.__doc__), name
    assert 'Raises:' in cls.__init__.__doc__, name
    assert _python_blocks(inspect.getdoc(cls)), name
