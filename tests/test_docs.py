"""Every example in our bijectors' docstrings runs as written and shows the
outputs its comments state, and each bijector's docstring cites its papers
and says what it raises. (The pages' blocks run in tests/test_readme.py.)"""

import ast
import inspect
import re

import numpy as np
import pytest

import bijectors

_PRELUDE = ('import tensorflow as tf, tensorflow_probability as tfp\n'
            'tfb, tfd = tfp.bijectors, tfp.distributions\n')


def _python_blocks(text):
  return re.findall(r'```python\n(.*?)```', text, re.S)


# The bijector classes (the package also offers `collect_keras_layers`).
_BIJECTORS = [getattr(bijectors, name) for name in bijectors.__all__
              if isinstance(getattr(bijectors, name), type)]


def _docstring_examples():
  """Our own docstrings' examples: not those of the methods our bijectors
  inherit from TFP's `Bijector`."""
  for cls in _BIJECTORS:
    for member in [cls] + [m for _, m in inspect.getmembers(cls)
                           if inspect.isfunction(m) and
                           m.__module__.startswith('bijectors')]:
      for i, block in enumerate(_python_blocks(inspect.getdoc(member) or '')):
        yield pytest.param(block, id=f'{member.__qualname__}-{i}')


def _stated(line):
  """The output a line's comment states, where the comment (up to a colon)
  is a Python literal: `# (3, 8)`, `# [[0., 2.], [8., 10.]]: the even ...`."""
  if '#' not in line:
    return None
  comment = line.split('#', 1)[1].split(':', 1)[0].strip()
  try:
    return (ast.literal_eval(comment),)
  except (ValueError, SyntaxError):
    return None


def _check(value, expected, statement):
  """A stated tuple is a shape (of a value, or the value when it is one);
  anything else the value itself."""
  if isinstance(expected, tuple):
    shape = value if not hasattr(value, 'shape') else value.shape
    assert tuple(shape) == expected, statement
  else:
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-6,
                               err_msg=statement)


def _run_example(block):
  """Runs `block` statement by statement and checks each stated output;
  returns how many it checked."""
  namespace = {}
  exec(_PRELUDE, namespace)  # pylint: disable=exec-used
  lines = block.splitlines()
  checked = 0
  for statement in ast.parse(block).body:
    text = ast.get_source_segment(block, statement)
    if isinstance(statement, ast.Expr):
      value = eval(compile(ast.Expression(statement.value), '<example>',  # pylint: disable=eval-used
                           'eval'), namespace)
    else:
      exec(compile(ast.Module([statement], []), '<example>', 'exec'),  # pylint: disable=exec-used
           namespace)
      target = (statement.targets[0] if isinstance(statement, ast.Assign)
                else None)
      value = namespace[target.id] if isinstance(target, ast.Name) else None
    # The comment on the statement's last line, or alone on the next one.
    after = lines[statement.end_lineno:statement.end_lineno + 1]
    stated = _stated(lines[statement.end_lineno - 1]) or (
        _stated(after[0]) if after and after[0].lstrip().startswith('#')
        else None)
    if stated is not None and value is not None:
      _check(value, stated[0], text)
      checked += 1
  return checked


@pytest.mark.parametrize('block', list(_docstring_examples()))
def test_docstring_example_runs_and_shows_what_it_states(block):
  _run_example(block)


def test_stated_outputs_are_compared():
  examples = [param.values[0] for param in _docstring_examples()]
  # Shapes of AdditiveCoupling (3), AffineCoupling (2) and FactorOut (2),
  # CheckerboardSubsample's values (1).
  assert sum(map(_run_example, examples)) == 8
  for wrong in ('x = tf.zeros([2, 3])   # (2, 4)',
                'tf.zeros([2, 3]).shape   # (3, 2)',
                'tf.range(3.)\n# [0., 1., 3.]: the values'):
    with pytest.raises(AssertionError):
      _run_example(wrong)


def test_every_bijector_documents_references_and_errors():
  assert len(_BIJECTORS) == 6
  for cls in _BIJECTORS:
    name = cls.__name__
    assert '#### References' in cls.__doc__, name
    assert re.search(r'https://arxiv\.org/abs/\d{4}\.\d{5}', cls.__doc__), name
    assert 'Raises:' in cls.__init__.__doc__, name
    assert _python_blocks(inspect.getdoc(cls)), name
