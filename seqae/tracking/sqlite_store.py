"""A local MLflow store, a SQLite file, created whole or not at all.

MLflow builds a new SQLite store's schema in place, migration after migration, for seconds on a
busy machine. A command interrupted meanwhile (Ctrl-C, kill) left a half-built database on which
every later command failed with a long traceback, and two first commands started at once raced
through the same migrations. `prepare_sqlite_store` builds a new database under a lock
(`.NAME.lock` beside it) in a temporary file (`.NAME-PID-RANDOM.part`) and renames it into place,
so that the file at the store's path is always a whole store; a second command waits for the first
and uses what it built. A half-built store that an earlier seqae or MLflow itself left is rebuilt
when it holds nothing (no run, no model, no experiment of its own), and explained in one line
otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Iterator

from seqae.errors import StoreError, storage_error
from seqae.files import PART_SUFFIX, current_umask, part_prefix, sweep_stale_parts

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the rename alone keeps a half-built store from view
    fcntl = None


def prepare_sqlite_store(database: str | os.PathLike, artifact_root: str) -> None:
    """Make sure `database` is a whole MLflow store at this MLflow's schema: build it if it does not
    exist, rebuild it if it is half-built and holds nothing; a one-line `StoreError` otherwise."""
    database = Path(database)
    if _revision(database) == head_revision():
        return
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        with _locked(database):
            if not database.exists():
                _build(database, artifact_root)
                return
            revision = _revision(database)
            if revision == head_revision():  # built meanwhile by the command that held the lock
                return
            held = _held(database)
            if held:
                raise StoreError(_explain(database, revision, held))
            for leftover in (database, *_journals(database)):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
            _build(database, artifact_root)
    except OSError as exc:
        error = storage_error(exc, database)
        if error is None:
            raise
        raise error from None


def link_as_mlflow_default(database: str | os.PathLike, folder: str | os.PathLike) -> None:
    """Make `folder/mlflow.db` a link to `database` unless something by that name is there already.

    MLflow's own default store is `./mlflow.db` of the directory a tool starts in, so `mlflow ui`,
    `mlflow models serve` or a plain `mlflow.MlflowClient()` started where seqae keeps
    `./mlruns/mlflow.db` would otherwise open (and create) an empty store beside it and show none of
    its runs. The link is relative (the folder may move) and best-effort: where the file system
    takes no links, or another process made one first, nothing changes. A file or link by that
    name (a store of the user's own) is left as it is."""
    link = Path(folder) / "mlflow.db"
    if os.path.lexists(link):
        return
    with contextlib.suppress(OSError, NotImplementedError):
        os.symlink(os.path.relpath(Path(database), Path(folder)), link)


@functools.lru_cache(maxsize=None)
def head_revision() -> str:
    """The schema revision this MLflow builds (the head of its migrations)."""
    import mlflow.store
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(mlflow.store.__file__).parent / "db_migrations")).get_current_head()


class _Missing:
    pass


MISSING = _Missing()  # no database file


def _revision(database: Path):
    """The schema revision `database` records; None when it records none (half-built, or empty),
    `MISSING` when there is no such file, the text of the error when it is not a database."""
    if not database.exists():
        return MISSING
    try:
        with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" not in tables:
                return None
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        return f"unreadable ({exc})"
    return row[0] if row else None


def _held(database: Path) -> dict[str, int]:
    """What the store holds that a rebuild would lose: {"run": n, ...}, only the kinds it holds."""
    queries = (("run", "runs", ""), ("registered model", "registered_models", ""),
               ("logged model", "logged_models", ""), ("experiment", "experiments", " WHERE name != 'Default'"))
    held = {}
    try:
        with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for kind, table, where in queries:
                count = db.execute(f"SELECT COUNT(*) FROM {table}{where}").fetchone()[0] if table in tables else 0
                if count:
                    held[kind] = count
    except sqlite3.DatabaseError:
        return {"table seqae cannot read": 1}
    return held


def _explain(database: Path, revision, held: dict[str, int]) -> str:
    import mlflow

    what = ", ".join(f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in held.items())
    if revision is None:
        state = "is half-built (MLflow's schema was being created when a command stopped)"
        todo = "move it away to start a new store, or restore it from a backup"
    elif isinstance(revision, str) and revision.startswith("unreadable"):
        state = f"is not an MLflow store: {revision}"
        todo = "move it away to start a new store"
    else:
        state = f"has MLflow's schema at revision {revision}, and MLflow {mlflow.__version__} needs {head_revision()}"
        todo = f"back it up, then run `mlflow db upgrade sqlite:///{database}` (or use the MLflow that made it)"
    return f"{database}: the MLflow store {state}; it holds {what}: {todo}"


def _journals(database: Path) -> list[Path]:
    return [database.with_name(database.name + suffix) for suffix in ("-journal", "-wal", "-shm")]


@contextlib.contextmanager
def _locked(database: Path) -> Iterator[None]:
    """Hold the store's lock file (`.NAME.lock` beside it) while the block runs; the kernel lets go
    of it when the process ends, however it ends."""
    if fcntl is None:
        yield
        return
    with open(database.with_name(f".{database.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(database: Path, artifact_root: str) -> None:
    """MLflow's schema, built in a temporary file beside `database` and renamed onto it."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    sweep_stale_parts(database)  # what a build killed with -9 left
    descriptor, name = tempfile.mkstemp(prefix=part_prefix(database), suffix=PART_SUFFIX, dir=database.parent)
    os.close(descriptor)
    temporary = Path(name)
    try:
        os.chmod(temporary, 0o666 & ~current_umask())  # as MLflow would create it
        store = SqlAlchemyStore(f"sqlite:///{temporary}", artifact_root)
        store.engine.dispose()
        with open(temporary, "rb+") as built:
            os.fsync(built.fileno())
        os.replace(temporary, database)
    finally:
        for leftover in (temporary, *_journals(temporary)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
