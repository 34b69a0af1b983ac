"""The exceptions seqae raises for a user's mistake.

Each message is one line: what was expected, what was found, where, and what to do. The CLI turns
them into a clean error and a non-zero exit; anything else that escapes is a bug and keeps its
traceback.
"""


class SeqaeError(Exception):
    """Base class of every error seqae raises on purpose."""


class DataError(SeqaeError, ValueError):
    """Input data that cannot be used as it is (file, column, row named in the message)."""


class ConfigError(SeqaeError, ValueError):
    """A parameter, pipeline file or option with a value seqae cannot use."""


class NotFittedError(SeqaeError, AttributeError):
    """A method that needs a fitted detector was called before `fit`."""


class TrainingError(SeqaeError, RuntimeError):
    """Training could not go on (a non-finite loss, say)."""


class DataWarning(UserWarning):
    """Data seqae can use but the user should know about (a long gap in the timestamps, say)."""
