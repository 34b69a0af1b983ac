"""Where runs live: the MLflow store (`MLFLOW_TRACKING_URI`, or SQLite in ./mlruns), experiments,
the UI's addresses, a run as this process logs it (`tracked_run`), and the small helpers every run
logs through (metrics in batches, a detector's parameters, a CSV as a dataset).

No password of a tracking URI (`http://user:password@host`) reaches what seqae prints, logs or tags:
the UI's addresses and messages show it as `***` (`seqae.errors.hide_credentials`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from seqae import processes
from seqae.errors import ConfigError, StorageError, StoreError, hide_credentials, storage_error
from seqae.files import fullest
from seqae.tracking.sqlite_store import link_as_mlflow_default, prepare_sqlite_store

if TYPE_CHECKING:  # the store needs no detector (nor torch) to list runs
    from seqae.detectors import BaseDetector


DEFAULT_EXPERIMENT = "seqae"


STORE_DIR = "mlruns"


UI_HOST = "127.0.0.1"


UI_PORT = 5000


METRICS_PER_BATCH = 1000  # MLflow's limit for one log_batch call


SERVER_TIMEOUT_S = 10  # how long a tracking server may take to accept a connection


PROCESS_TAGS = ("seqae.pid", "seqae.host", "seqae.process_started")  # the process that logs a run


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    artifact_location: str | None  # artifact root of experiments seqae creates (None: the store's own)
    default: bool = False  # seqae's own default, ./mlruns/mlflow.db (no MLFLOW_TRACKING_URI)

    @property
    def is_server(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://", "databricks"))


def resolve_store() -> Store:
    """`MLFLOW_TRACKING_URI` if set, else SQLite in `./mlruns/mlflow.db` with `./mlruns/artifacts/`.

    A SQLite file named by `MLFLOW_TRACKING_URI` keeps the artifacts of the experiments seqae creates
    in `artifacts/` beside it (MLflow's own default would be `./mlruns/` of whatever directory a
    command runs in); a server keeps its own artifact store.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri.startswith("sqlite:///") and "?" not in uri:
        database = Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
        return Store(uri, (database.parent / "artifacts").as_uri())
    if uri:
        return Store(uri, None)
    root = Path.cwd().resolve() / STORE_DIR
    return Store(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri(), default=True)


def use_store() -> Store:
    """Point MLflow's tracking and registry at the store: a local SQLite store is created whole
    (`sqlite_store.prepare_sqlite_store`) if it does not exist yet, and seqae's default one is
    linked as `./mlflow.db`, where MLflow's own tools look (`sqlite_store.link_as_mlflow_default`).
    `reach_store` also checks that a tracking server answers."""
    global _in_use
    store = resolve_store()
    if store.artifact_location:
        prepare_sqlite_store(store.tracking_uri.removeprefix("sqlite:///"), store.artifact_location)
        if store.default:
            link_as_mlflow_default(store.tracking_uri.removeprefix("sqlite:///"), Path.cwd())
    # MLflow also exports the URIs as environment variables; put back what the user had, or the
    # next resolve_store would take seqae's own default for the user's choice.
    exported = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    for name, value in exported.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _in_use = store
    return store


_in_use: Store | None = None  # the store this process pointed MLflow at (`use_store`), if any


def reach_store(store: Store | None = None) -> Store:
    """`use_store` (unless `store` is given), then a one-line `StoreError` at once if the store is a
    tracking server that does not accept a connection: MLflow would retry for minutes, then fail
    with a traceback. Called before a command's first request to the store."""
    store = store or use_store()
    if store.tracking_uri.startswith(("http://", "https://")):
        check_server(store.tracking_uri)
    return store


_reachable: set[str] = set()  # the tracking servers this process has reached


def check_server(uri: str) -> None:
    """A one-line `StoreError` unless the tracking server at `uri` accepts a connection (any HTTP
    answer will do; what MLflow makes of it is MLflow's to say)."""
    if uri in _reachable:
        return
    import requests

    try:
        requests.head(uri, timeout=SERVER_TIMEOUT_S, allow_redirects=False)
    except requests.exceptions.SSLError:
        pass  # it answered; MLflow reports the certificate with its own settings
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
        reason = found.group(1).strip() if found else f"no answer within {SERVER_TIMEOUT_S} s"
        raise StoreError(f"cannot reach the MLflow tracking server at {hide_credentials(uri)} ({reason.lower()}); "
                         "start it, or check MLFLOW_TRACKING_URI (unset, seqae keeps runs in ./mlruns)") from None
    _reachable.add(uri)


class _HideCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = hide_credentials(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


def quiet_mlflow() -> None:
    """For command-line use: no per-file download bars, no INFO chatter from MLflow, no "View run
    at ..." line on stdout for every run logged to a tracking server (seqae prints the run's URL
    once), and no tracking password in what MLflow logs."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logger = logging.getLogger("mlflow")
    logger.setLevel(logging.WARNING)
    # A database error is logged with its traceback before it is raised; seqae reports what is raised.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    for handler in [*logger.handlers, *logging.getLogger().handlers, logging.lastResort]:
        if handler is not None and not any(isinstance(f, _HideCredentials) for f in handler.filters):
            handler.addFilter(_HideCredentials())


def experiment_id(name: str, store: Store | None = None, create: bool = True) -> str:
    """The id of experiment `name`, created (with seqae's artifact location) if it does not exist."""
    store = reach_store(store)
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is None:
        if not create:
            names = [e.name for e in client.search_experiments()]
            raise ConfigError(f"no experiment named {name!r} in {hide_credentials(store.tracking_uri)}; "
                              f"it has {', '.join(repr(n) for n in names) or 'none'}")
        try:
            return client.create_experiment(name, artifact_location=store.artifact_location)
        except MlflowException:
            found = client.get_experiment_by_name(name)  # created meanwhile by another process
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise ConfigError(f"experiment {name!r} is deleted; restore it in the MLflow UI "
                          "or choose another name with --experiment")
    return found.experiment_id


def ui_url(experiment: str | None = None, run_id: str | None = None,
           base: str | None = None) -> str:
    """The MLflow UI page of a run or experiment, in the training (not GenAI) view."""
    store = resolve_store()
    if base is None:
        base = hide_credentials(store.tracking_uri) if store.is_server else f"http://{UI_HOST}:{UI_PORT}"
    page = "/#/experiments"
    if experiment is not None:
        page += f"/{experiment}"
        if run_id is not None:
            page += f"/runs/{run_id}"
    return base.rstrip("/") + page + "?workflowType=machine_learning"


def how_to_view(url: str) -> str:
    """What a user does to see `url`: open it, where a tracking server already shows it; else start
    `seqae ui` on the local store first."""
    return f"open {url}" if resolve_store().is_server else f"seqae ui, then open {url}"


def flat_params(detector: BaseDetector) -> dict:
    """The detector's parameters, its threshold spelled out (`threshold=quantile`, `threshold_q=0.99`)."""
    params = detector.get_params(deep=False)
    threshold = params.pop("threshold", None)
    if threshold is not None:
        params["threshold"] = threshold.kind
        params.update({f"threshold_{k}": v for k, v in threshold.get_params().items()})
    else:
        params["threshold"] = "quantile (default, q=0.99)"
    return params


def as_metrics(values: dict[str, float], step: int = 0) -> list[Metric]:
    now = now_ms()
    return [Metric(key, float(v), now, step) for key, v in values.items() if np.isfinite(v)]


def log_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> None:
    for first in range(0, len(metrics), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[first:first + METRICS_PER_BATCH])


def csv_dataset(frame: pd.DataFrame, path: Path, name: str | None = None):
    with mlflow_warnings_off():
        return mlflow.data.from_pandas(frame.reset_index(), source=str(Path(path).resolve()),
                                       name=name or Path(path).name)


def log_dataset(dataset, context: str) -> None:
    """`dataset` (`csv_dataset`) as an input of the active run. MLflow looks a dataset up in the
    experiment, then inserts it: two first fits of one file at once both inserted it, and one failed
    on the store's unique key; the one that lost links the dataset the other inserted."""
    with mlflow_warnings_off():
        try:
            mlflow.log_input(dataset, context=context)
        except MlflowException as exc:
            message = str(exc)
            if "datasets" not in message or not ("UNIQUE" in message or "duplicate" in message.lower()):
                raise
            mlflow.log_input(dataset, context=context)


def now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def mlflow_warnings_off():
    """MLflow's advice that does not apply here: a local CSV path that two dataset-source classes
    both accept; integer columns that might hold missing values (0/1 labels never do)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dataset source can be interpreted in multiple ways.*")
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column.*")
        yield


def process_tags() -> dict[str, str]:
    """Tags naming the process that logs a run (pid, host, start time), by which `seqae runs` tells
    a run whose process died (kill -9, a machine that stopped) from one still running."""
    me = processes.this_process()
    return dict(zip(PROCESS_TAGS, (str(me.pid), me.host, "" if me.started is None else f"{me.started:.2f}")))


def process_gone(tags: dict[str, str]) -> bool:
    """True when the run's tags name a process (`process_tags`) of this host that no longer runs."""
    try:
        pid, host, started = (tags.get(name) for name in PROCESS_TAGS)
        return processes.is_running(int(pid), host, float(started) if started else None) is False
    except (TypeError, ValueError):  # no such tags (a run logged by another program)
        return False


@contextlib.contextmanager
def tracked_run(**start_run_args) -> Iterator[mlflow.ActiveRun]:
    """`mlflow.start_run(**start_run_args)` for a run this process logs to, tagged with the process
    (`process_tags`); the run ends FINISHED when the block does, KILLED when Ctrl-C or SIGTERM stops
    it, FAILED on an error. A full disk under the store or the temporary folder is a one-line
    `StorageError` naming it (`storage_failure`); what a new run had written to a local store's
    artifacts is removed then (a half-copied model is of no use, and ending the run needs room)."""
    try:  # the process's tags come with the run, so that a kill -9 a moment later leaves them
        run = mlflow.start_run(**{**start_run_args, "tags": {**(start_run_args.get("tags") or {}), **process_tags()}})
    except BaseException as exc:
        stop = stop_in(exc)
        if stop is not None:  # Ctrl-C or SIGTERM while the run was being created (inside the store's commit)
            end_runs_left_running()
            raise stop from None
        failure = storage_failure(exc) if isinstance(exc, Exception) else None
        if failure is None:
            raise
        raise failure from None
    try:
        yield run
        processes.exit_if_stopped()  # a SIGTERM whose exception Python dropped (`processes.exit_if_stopped`)
    except BaseException as exc:
        status = "FAILED" if stop_in(exc) is None else "KILLED"
        failure = storage_failure(exc)
        if failure is not None and "run_id" not in start_run_args:  # a resumed run keeps what it had
            _discard_local_artifacts(run)
        try:
            _end_run(status)
        except Exception:
            if failure is None:
                raise
            raise StorageError(f"{failure}; run {run.info.run_id} could not be ended {status} (the store "
                               "cannot be written): `seqae runs` marks it once it can") from None
        if failure is not None:
            raise failure from None
        raise
    _end_run("FINISHED")


def stop_in(exc: BaseException) -> BaseException | None:
    """The Ctrl-C or SIGTERM (`processes.Terminated`) that `exc` is, or that a library wrapped into it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def end_runs_left_running() -> None:
    """End KILLED every run this process left RUNNING: those MLflow still holds as active, and those
    of the store that carry this process's tags (a run created just before a stop, that
    `mlflow.start_run` did not get to hand back). Called on the way out of a command that Ctrl-C or
    SIGTERM stopped, wherever the signal landed; a store that cannot be reached is left to
    `seqae runs`, which marks such runs dead from their process tags."""
    with contextlib.suppress(Exception):
        while mlflow.active_run() is not None:  # else MLflow's exit hook would end them FINISHED
            _end_run("KILLED")
    if _in_use is None:  # no store was used: no run to end, and MLflow's default would create ./mlflow.db
        return
    # By pid and host: the start time, read again now, may have moved by a second with the clock
    # (`processes.START_TOLERANCE_S`), and a RUNNING run of an earlier process with this pid is dead.
    tags = process_tags()
    query = " and ".join(f"tags.`{name}` = '{tags[name]}'" for name in PROCESS_TAGS[:2])
    client = MlflowClient()
    for attempt in range(5):  # another command may hold a SQLite store's lock for a moment
        try:
            experiments = [found.experiment_id for found in client.search_experiments()]
            for found in client.search_runs(experiments, f"{query} and attributes.status = 'RUNNING'"):
                client.set_terminated(found.info.run_id, "KILLED")
            return
        except Exception as exc:
            if "database is locked" not in str(exc):
                return
            time.sleep(0.5 * 2 ** attempt)


def _end_run(status: str, attempts: int = 5) -> None:
    """`mlflow.end_run(status)`, tried again when another process holds a SQLite store's lock for a
    moment (`seqae runs`, a second command on the same store): a run must not stay RUNNING for that."""
    for attempt in range(attempts):
        try:
            mlflow.end_run(status)
            return
        except MlflowException as exc:
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * 2 ** attempt)


def _discard_local_artifacts(run: mlflow.ActiveRun) -> None:
    """Remove the artifacts a run (and the models it logged) wrote to a local store, as far as the
    store can still be read."""
    folders = [run.info.artifact_uri]
    with contextlib.suppress(MlflowException):
        logged = MlflowClient().search_logged_models([run.info.experiment_id],
                                                     filter_string=f"source_run_id = '{run.info.run_id}'")
        folders += [model.artifact_location for model in logged]
    for uri in folders:
        if uri and uri.startswith("file://"):
            # <...>/<run or model id>/artifacts: the id's folder holds nothing else
            shutil.rmtree(Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path)).parent, ignore_errors=True)


def storage_failure(exc: BaseException, store: Store | None = None) -> StorageError | None:
    """A one-line `StorageError` for `exc` when it comes from a full (over-quota, failing) disk: an
    `OSError` naming the fullest of the store's folder, its file and the temporary folder, or the
    SQLite store's "database or disk is full"; None for any other exception."""
    if isinstance(exc, StorageError):
        return exc
    store = store or resolve_store()
    database = Path(store.tracking_uri.removeprefix("sqlite:///")) if store.artifact_location else None
    if isinstance(exc, MlflowException) and re.search(r"database or disk is full|disk I/O error", str(exc)):
        return storage_error(OSError(28, "database or disk is full"), database or store.tracking_uri)
    if isinstance(exc, OSError):
        places = [p for p in (exc.filename, exc.filename2) if p] or [database and database.parent,
                                                                     tempfile.gettempdir()]
        return storage_error(exc, fullest(p for p in places if p is not None))
    return None
