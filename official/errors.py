"""The errors of a user's input, data, files and runs.

Every program catches `Error` and nothing broader: it prints the message as
one `error: ...` line and exits with status 1 (2 for a command line that
`official.cli.usage_error` refuses). Any other exception is a bug of this
project and shows its traceback.

The subclasses keep the built-in base that callers caught before they had
one (`DataError` is a `ValueError`, `WriteError` an `OSError`), so that code
written against those still works.
"""

__all__ = ['ConfigError', 'DataError', 'Error', 'ExportError', 'RunDirError',
           'TrainingError', 'WriteError']


class Error(Exception):
  """A problem the user can mend: the message says what and where."""


class ConfigError(Error, ValueError):
  """An experiment, flag or override that does not name a valid config."""


class DataError(Error, ValueError):
  """Data that cannot be read or does not fit the experiment."""


class RunDirError(Error, ValueError):
  """A model_dir with no run, another experiment's run, or no readable
  checkpoint."""


class ExportError(Error, ValueError):
  """An export whose target exists, or whose weights do not fit the model."""


class TrainingError(Error):
  """A run that cannot start or go on (a non-finite loss, a model_dir that
  another run holds, a file that cannot be written)."""


class WriteError(Error, OSError):
  """A file that cannot be written (a full disk, no permission)."""
