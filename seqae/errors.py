"""The exceptions seqae raises for a user's mistake.

Each message is one line: what was expected, what was found, where, and what to do. The CLI turns
them into a clean error and a non-zero exit; anything else that escapes is a bug and keeps its
traceback. `name_list` words a list of names for such a message, `shorten` quotes a value a user
gave (a cell, an option) at a readable length, and `hide_credentials` takes the password out of
every URI a message, a log line or a run's tag would otherwise show.
"""

import errno
import re
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


class StoreError(SeqaeError):
    """The MLflow store cannot be used as it is: a tracking server that does not answer, a local
    store that is damaged or at another MLflow's schema."""


class StorageError(SeqaeError, OSError):
    """A file or the MLflow store could not be written: the disk is full, over quota or failing."""


class DataWarning(UserWarning):
    """Data seqae can use but the user should know about (a long gap in the timestamps, say)."""


def name_list(names: Iterable) -> str:
    """Column names for a message: 'a', 'b', ... (the first 12, and how many in all)."""
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:12])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


MESSAGE_VALUE_CHARS = 80  # the most characters of a value a message quotes


def shorten(value, limit: int = MESSAGE_VALUE_CHARS) -> str:
    """`repr(value)` for a message, at most about `limit` characters: a longer one keeps its start and
    end around the number of characters left out, so that a 200 MB cell is not a 200 MB message.

    >>> shorten("n/a")
    "'n/a'"
    >>> shorten("x" * 1000, limit=40)
    "'xxxxxxxxxx…(980 characters)…xxxxxxxxxx'"
    """
    keep = max((limit - 20) // 2, 4)  # the rest of `limit`: the quotes and the count of what is left out
    if isinstance(value, str):  # cut before repr: the repr of a huge string is huge
        if len(value) <= limit:
            return repr(value)
        return repr(value[:keep] + f"…({len(value) - 2 * keep} characters)…" + value[-keep:])
    shown = repr(value)
    if len(shown) <= limit + 2:
        return shown
    return shown[:keep] + f"…({len(shown) - 2 * keep} characters)…" + shown[-keep:]


MESSAGE_CHARS = 2000  # the most characters of a message a user is shown


def brief(message: str, limit: int = MESSAGE_CHARS) -> str:
    """`message` cut in its middle to about `limit` characters: the last guard, where a message
    quotes a value without `shorten`, against an error that repeats a megabyte of a file."""
    if len(message) <= limit:
        return message
    keep = (limit - 30) // 2
    return f"{message[:keep]}…({len(message) - 2 * keep} characters)…{message[-keep:]}"


def shown(message) -> str:
    """A message as a user is shown it: no tracking password (`hide_credentials`), no megabyte (`brief`)."""
    text = str(message)
    if len(text) > 8 * MESSAGE_CHARS:  # look for passwords in what can be shown, not in a megabyte of it
        text = text[:4 * MESSAGE_CHARS] + " … " + text[-4 * MESSAGE_CHARS:]
    return brief(hide_credentials(text))


_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s/@:]*)(?::[^\s/@]*)?@")


def hide_credentials(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` in it replaced by `***`
    (and a bare `scheme://token@host` by `***@`): what seqae prints, logs or tags shows no secret.

    >>> hide_credentials("open http://alice:s3cret@host:5000/#/experiments")
    'open http://alice:***@host:5000/#/experiments'
    """
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@" if ":" in m[0][len(m['scheme']):]
                            else f"{m['scheme']}***@", str(text))


DISK_ERRORS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EIO: "input/output error (a failing disk?)", errno.EFBIG: "file too large for its file system"}


def storage_error(exc: BaseException, path) -> "StorageError | None":
    """A one-line `StorageError` naming `path` for an `OSError` of a full, over-quota or failing disk
    (ENOSPC, EDQUOT, EIO, EFBIG); None for any other exception."""
    if not isinstance(exc, OSError) or isinstance(exc, StorageError) or exc.errno not in DISK_ERRORS:
        return None
    error = StorageError(f"{path}: cannot write: {DISK_ERRORS[exc.errno]}; free some space (or write elsewhere) "
                         "and run the command again")
    error.errno = exc.errno
    return error


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
