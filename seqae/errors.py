"""The exceptions seqae raises for a user's mistake.

Each message is one line: what was expected, what was found, where, and what to do. The CLI turns
them into a clean error and a non-zero exit; anything else that escapes is a bug and keeps its
traceback. `name_list` words a list of names for such a message.
"""

from contextlib import contextmanager
from typing import Iterable, Iterator


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


class Stopped(BaseException):
    """A signal (SIGTERM) asked seqae to stop: like KeyboardInterrupt, neither a mistake of the user
    nor a bug, so no `except Exception` takes it for an error. A command ends with exit code
    128 + `signum`, as a shell reports a process that the signal ended."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class DataWarning(UserWarning):
    """Data seqae can use but the user should know about (a long gap in the timestamps, say)."""


def name_list(names: Iterable) -> str:
    """Column names for a message: 'a', 'b', ... (the first 12, and how many in all)."""
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:12])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


def missing_columns_message(missing: Iterable, found: Iterable, needed: Iterable, where: str | None = None) -> str:
    """The one line for data that lacks a column the model was fitted on; `where`: the file."""
    return (f"{where + ': ' if where else ''}column {str(next(iter(missing)))!r} that the model was fitted on "
            f"is missing; the {'file' if where else 'data'} has columns {name_list(found)}; the model needs "
            f"{name_list(needed)}")


@contextmanager
def about_file(path, kinds: tuple[type[SeqaeError], ...] = (SeqaeError,)) -> Iterator[None]:
    """Name the file in an error of `kinds` raised without it (detectors do not know file names)."""
    try:
        yield
    except kinds as exc:
        message = str(exc)
        if not message.startswith(str(path)):
            raise type(exc)(f"{path}: {message}") from None
        raise
