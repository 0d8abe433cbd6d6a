"""Every example in the bijectors' docstrings runs as written, and each
bijector's docstring cites its papers and says what it raises.
(The README's blocks run in tests/test_readme.py.)"""

import inspect
import re

import pytest

import bijectors

_PRELUDE = ('import tensorflow as tf, tensorflow_probability as tfp\n'
            'tfb, tfd = tfp.bijectors, tfp.distributions\n')


def _python_blocks(text):
  return re.findall(r'```python\n(.*?)```', text, re.S)


def _docstring_examples():
  for name in bijectors.__all__:
    cls = getattr(bijectors, name)
    for member in [cls] + [m for _, m in inspect.getmembers(cls)
                           if inspect.isfunction(m)]:
      for i, block in enumerate(_python_blocks(inspect.getdoc(member) or '')):
        yield pytest.param(block, id=f'{member.__qualname__}-{i}')


@pytest.mark.parametrize('block', list(_docstring_examples()))
def test_docstring_example_runs(block):
  exec(compile(_PRELUDE + block, '<docstring example>', 'exec'), {})


def test_every_bijector_documents_references_and_errors():
  for name in bijectors.__all__:
    cls = getattr(bijectors, name)
    assert '#### References' in cls.__doc__, name
    assert re.search(r'https://arxiv\.org/abs/\d{4}\.\d{5}', cls.__doc__), name
    assert 'Raises:' in cls.__init__.__doc__, name
    assert _python_blocks(inspect.getdoc(cls)), name
