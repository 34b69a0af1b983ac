"""The two servers seqae starts: MLflow's REST scoring server for one model, and the MLflow UI.

`serve_model` runs MLflow's own scoring app (`mlflow.pyfunc.scoring_server`: `/ping`, `/health`,
`/version`, `/invocations` with `dataframe_split` / `dataframe_records`) in this process with
uvicorn, with four changes:

- seqae's input check replaces MLflow's schema enforcement, so a request with too few rows,
  a missing sensor column, text in a sensor column or a param the model does not take is
  answered 400 with seqae's one-line message instead of MLflow's, which quotes the whole request back;
- a JSON request is parsed once by seqae (`seqae.scoring_requests`), which refuses a malformed one
  in one line; a `dataframe_split` is answered without MLflow's handler (the frame built once,
  the answer encoded by json's C encoder; the same bytes), every other request by it;
- a request body over `max_request_mb` is refused with 413 without being held in memory (`BodyLimit`);
- every error answer is one line of JSON without a stack trace, which goes to the server's log,
  and the connection stays open (`OneLineErrors`).

A served `models:/NAME@ALIAS` follows its alias (`ServedModel.follow`): a thread looks every
`check_every` seconds at the version the alias points at, loads a new one beside the one serving,
then swaps them in one assignment between requests: each request is answered whole by one version,
named in the answer's `X-Seqae-Model-Version` header; none fails or waits for the load.

With several workers, each worker process stops when the `seqae serve` that started it dies, even
by kill -9, so that none keeps the port.

`run_ui` starts `mlflow server` on seqae's store (one worker, MLflow's job runner off) and stops it,
with everything it started, when interrupted or terminated, and when `seqae ui` is killed with -9
(a guard process stops the server's group then).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

import seqae
from seqae import tracking
from seqae.errors import ConfigError, SeqaeError
from seqae.workers import die_with_parent
from seqae.scoring_requests import (DEFAULT_MAX_REQUEST_MB, BodyLimit, OneLineErrors, RequestError, error_body,
                                    is_json, json_request, split_frame)

SERVE_PORT = 5001
UI_START_SECONDS = 120  # how long the MLflow server may take to answer /health
_logger = logging.getLogger("seqae.serving")


# ---- the scoring server --------------------------------------------------------------------------

VERSION_HEADER = "X-Seqae-Model-Version"  # the registered version that answered, for a served alias
CHECK_EVERY = 30.0  # seconds between two looks at a served alias


def scoring_app(model_uri: str, device: str = "auto", max_request_mb: int = DEFAULT_MAX_REQUEST_MB,
                follow_alias: bool = True, check_every: float = CHECK_EVERY):
    """MLflow's scoring app (a FastAPI app) for the model, with seqae's request parsing and input
    check first; a network scores on `device` (`seqae.devices`); a body over `max_request_mb` MB
    is refused. With `follow_alias`, a `models:/NAME@ALIAS` model follows its alias (`ServedModel`)."""
    from mlflow.pyfunc import scoring_server

    alias = tracking.alias_of(model_uri) if follow_alias else None
    served = ServedModel(model_uri, device, alias)
    app = scoring_server.init(served)
    _answer_invocations(app, served)
    if alias is not None:
        served.follow(check_every)
    app.add_middleware(OneLineErrors)
    app.add_middleware(BodyLimit, max_bytes=max_request_mb * 2**20)  # outermost: its 413 goes out at once
    return app


def _answer_invocations(app, served) -> None:
    """/invocations parses a JSON request itself (`json_request`, which refuses a param that the
    model's signature does not declare, whichever seqae fitted the model) and answers a
    `dataframe_split` of columns and rows (with or without `params`) itself: the frame built once,
    the answer encoded by json's C encoder (MLflow's handler encodes with the pure-Python one: the
    largest cost of a 200-row request after the network). Any other request (the other JSON formats
    as parsed, CSV, Parquet), and a split this path fails to score, goes to MLflow's handler, which
    answers it as it always has. The bytes of an answer are the same either way."""
    import asyncio

    from fastapi.responses import Response
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    def answer(data: bytes, content_type: str | None):
        model = served.current  # this request's model, whatever a swap does meanwhile
        response = answer_with(model, data, content_type)
        if model.version is not None:
            response.headers[VERSION_HEADER] = model.version
        return response

    def answer_with(model, data: bytes, content_type: str | None):
        try:
            if is_json(content_type):
                # MLflow's handler takes the parsed dictionary as it takes the bytes.
                data = json_request(data, model.param_names)
                if "dataframe_split" in data:
                    frame = split_frame(data["dataframe_split"])
                    body = json.dumps({"predictions": model.predict_records(frame, params=data.get("params"))})
                    return Response(content=body, status_code=200, media_type="application/json")
        except RequestError as exc:
            return Response(content=error_body(exc.status, str(exc)), status_code=exc.status,
                            media_type="application/json")
        except MlflowException as exc:  # the model refused the input: its one-line answer
            return Response(content=exc.serialize_as_json(), status_code=exc.get_http_status_code(),
                            media_type="application/json")
        except Exception:  # anything else is answered (and logged) by MLflow's handler
            pass
        try:
            result = scoring_server.invocations(data, content_type, model, model.input_schema)
        except MlflowException as exc:
            return Response(content=exc.serialize_as_json(), status_code=exc.get_http_status_code(),
                            media_type="application/json")
        return Response(content=result.response, status_code=result.status, media_type=result.mimetype)

    app.router.routes = [route for route in app.router.routes if getattr(route, "path", None) != "/invocations"]

    async def invocations(request):  # a Starlette route: the request as it came
        data = await request.body()
        return await asyncio.to_thread(answer, data, request.headers.get("content-type"))

    app.add_route("/invocations", invocations, methods=["POST"])


def serve_model(model_uri: str, host: str = "127.0.0.1", port: int = SERVE_PORT, workers: int = 1,
                device: str = "auto", max_request_mb: int = DEFAULT_MAX_REQUEST_MB, follow_alias: bool = True,
                check_every: float = CHECK_EVERY, announce=print) -> None:
    """Serve the model until interrupted; `announce` gets one line saying where. A request body over
    `max_request_mb` MB is refused with 413. With `follow_alias`, a `models:/NAME@ALIAS` model
    follows its alias, looked at every `check_every` seconds (`ServedModel`; each worker on its own).

    With `workers` > 1, uvicorn starts that many processes on the same port, each loading the model
    (and using as many torch threads as this process), and restarts one that dies; the model is
    loaded here first, so a URI that does not load fails before any worker starts. A worker stops
    when this process ends, however it ends (`die_with_parent`).
    """
    import torch
    import uvicorn

    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if max_request_mb <= 0:
        raise ConfigError(f"max_request_mb must be positive, got {max_request_mb}")
    if check_every <= 0:
        raise ConfigError(f"check_every must be a positive number of seconds, got {check_every}")
    check_port_free(host, port)
    app = scoring_app(model_uri, device, max_request_mb, follow_alias=follow_alias and workers == 1,
                      check_every=check_every)
    announce(f"Serving {model_uri} at http://{host}:{port}/invocations (health: /ping) with "
             f"{workers} worker process{'es' if workers > 1 else ''}; Ctrl-C to stop")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info")
        return
    del app
    # The workers are fresh interpreters: they learn the model, the limit, the thread count and
    # the process they must not outlive from the environment.
    os.environ.update({_WORKER_MODEL_ENV: model_uri, _WORKER_DEVICE_ENV: device,
                       _WORKER_LIMIT_ENV: str(max_request_mb), _WORKER_PARENT_ENV: str(os.getpid()),
                       _WORKER_FOLLOW_ENV: str(check_every) if follow_alias else "",
                       "SEQAE_THREADS": str(torch.get_num_threads())})
    # Loading the model put its bundled copy of seqae (the version it was fitted with) first on
    # sys.path, which the workers start with: they must import the seqae that runs here.
    sys.path.insert(0, str(Path(seqae.__file__).resolve().parents[1]))
    uvicorn.run(f"{__name__}:worker_app", factory=True, host=host, port=port, workers=workers, log_level="info")


_WORKER_MODEL_ENV = "SEQAE_SERVE_MODEL_URI"
_WORKER_DEVICE_ENV = "SEQAE_SERVE_DEVICE"
_WORKER_LIMIT_ENV = "SEQAE_SERVE_MAX_REQUEST_MB"
_WORKER_PARENT_ENV = "SEQAE_SERVE_PARENT_PID"
_WORKER_FOLLOW_ENV = "SEQAE_SERVE_CHECK_EVERY"  # seconds between looks at the alias; empty: not followed


def worker_app():
    """The scoring app of one `serve_model` worker process (uvicorn calls it as a factory)."""
    from seqae import devices

    if os.environ.get(_WORKER_PARENT_ENV):
        die_with_parent(int(os.environ[_WORKER_PARENT_ENV]), signal.SIGTERM)
    devices.use_threads()  # SEQAE_THREADS, which serve_model set to its own count
    tracking.quiet_mlflow()
    check_every = os.environ.get(_WORKER_FOLLOW_ENV, "")
    return scoring_app(os.environ[_WORKER_MODEL_ENV], os.environ.get(_WORKER_DEVICE_ENV, "auto"),
                       int(os.environ.get(_WORKER_LIMIT_ENV, DEFAULT_MAX_REQUEST_MB)), follow_alias=bool(check_every),
                       check_every=float(check_every or CHECK_EVERY))


def checked_model(model, version: str | None = None):
    """What the scoring server calls for a loaded pyfunc `model`: seqae's model's own `predict`."""
    return _CheckedModel(model, version)


class ServedModel:
    """The model the server answers with: `current`, one checked pyfunc model (`checked_model`), read
    once per request. For `alias` (NAME, ALIAS), the version it points at, and after `follow`, the
    version it moves to: loaded beside the one serving, then `current` is swapped in one assignment."""

    def __init__(self, model_uri: str, device: str = "auto", alias: tuple[str, str] | None = None):
        self.uri, self.device, self.alias = model_uri, device, alias
        self.refused: str | None = None  # a version that failed to load (not tried again)
        if alias is not None:
            tracking.reach_store()
        self.current = self._load(tracking.alias_version(*alias) if alias is not None else None)

    def _load(self, version: str | None):
        uri = self.uri if version is None else f"models:/{self.alias[0]}/{version}"
        model = tracking.load_pyfunc_model(uri)
        detector = model.unwrap_python_model().detector  # None for a fleet model: its networks stay on auto
        if detector is not None and "device" in detector.get_params():
            detector.set_params(device=self.device)
        return checked_model(model, version)

    def follow(self, check_every: float = CHECK_EVERY) -> threading.Thread:
        """Look at the alias every `check_every` seconds in a background thread, for as long as the server runs."""
        thread = threading.Thread(target=self._follow, args=(float(check_every),), name="seqae-follow-alias",
                                  daemon=True)
        thread.start()
        return thread

    def _follow(self, check_every: float) -> None:
        name, alias = self.alias
        while True:
            time.sleep(check_every)
            # Any failure keeps the version serving, and is logged: a thread's exception would end
            # the following unseen.
            try:
                version = tracking.alias_version(name, alias)
            except Exception as exc:  # the store away for a while
                _logger.warning("%s: cannot look at the alias (%s); version %s goes on", self.uri, exc,
                                self.current.version)
                continue
            if version in (self.current.version, self.refused):
                continue
            try:
                loaded = self._load(version)
            except Exception as exc:
                self.refused = version
                _logger.warning("%s: version %s does not load (%s); version %s goes on", self.uri, version, exc,
                                self.current.version)
                continue
            previous, self.current = self.current.version, loaded
            print(f"model {name} version {previous} -> {version}", file=sys.stderr, flush=True)

    def __getattr__(self, name):  # what MLflow's app asks of its model (/ping, /version)
        return getattr(self.current, name)


class _CheckedModel:
    """A pyfunc model whose `predict` is seqae's model's own: its input check (the sensors as
    numbers, at least one window of rows) and its params (`threshold`, `reconstruction`) stand in
    for MLflow's schema enforcement, which would convert the frame again (and, after it, the model
    checked its input once more): 2.5 ms of a 200-row request (benchmarks/README.md, Serving)."""

    def __init__(self, model, version: str | None = None):
        self._model = model
        self._python_model = model.unwrap_python_model()
        self.metadata = model.metadata
        self.version = version  # the registered version, for a served alias
        self.input_schema = model.metadata.get_input_schema()
        params = model.metadata.get_params_schema()
        self.param_names = None if params is None else [param.name for param in params.params]

    def predict(self, data, params=None):
        if isinstance(data, (dict, list)):
            try:
                data = pd.DataFrame(data)
            except ValueError:
                pass  # the model's check says what was expected
        return self._python_model.predict(None, data, params=params)

    def predict_records(self, frame: pd.DataFrame, params=None) -> list[dict]:
        """`predict(frame, params).to_dict(orient="records")`, without the answer's frame."""
        return self._python_model.predict_records(frame, params=params)

    def __getattr__(self, name):
        return getattr(self._model, name)


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: a port whose last connections are in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); another server may "
                              "be using that port: pass another --port") from None


# ---- the MLflow UI ---------------------------------------------------------------------------------

def ui_command(host: str, port: int) -> tuple[list[str], dict]:
    """The `mlflow server` command line and environment for seqae's store."""
    store = tracking.resolve_store()
    if store.is_server:
        raise ConfigError(f"MLFLOW_TRACKING_URI is a tracking server ({store.tracking_uri}); "
                          "open it in a browser instead of starting another")
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store.tracking_uri,
               "--host", host, "--port", str(port), "--workers", "1"]
    if store.artifact_location:
        command += ["--default-artifact-root", store.artifact_location]
    # MLflow's background job runner is a second process per server that seqae does not use.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return command, env


def run_ui(host: str = tracking.UI_HOST, port: int = tracking.UI_PORT,
           experiment: str = tracking.DEFAULT_EXPERIMENT, announce=print) -> int:
    """Run the MLflow UI on seqae's store until interrupted; `announce` gets the URL to open."""
    tracking.use_store()  # creates ./mlruns when missing, so that the UI opens on an empty store
    check_port_free(host, port)
    command, env = ui_command(host, port)
    try:
        exp_id = tracking.experiment_id(experiment, create=False)
    except SeqaeError:
        exp_id = None
    base = f"http://{host}:{port}"
    # Its own process group: stopping the server stops the workers it started too.
    server = subprocess.Popen(command, env=env, start_new_session=True)
    guard = None
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if os.name == "posix":
            guard = _guard(server, env)
        _wait_until_healthy(server, f"{base}/health", port)
        announce(tracking.ui_url(exp_id, base=base))
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(server)
        if guard is not None:  # the server is stopped: the guard has nothing left to do
            guard.kill()
            guard.wait()
            guard.stdin.close()


UI_GUARD = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for `seqae ui`, which stops the server itself
sys.stdin.buffer.read()  # the end of the pipe: `seqae ui` is gone, however it ended
try:
    os.killpg(int(sys.argv[1]), signal.SIGTERM)
except ProcessLookupError:
    pass
"""


def _guard(server: subprocess.Popen, env: dict) -> subprocess.Popen:
    """A small process that stops the MLflow server's process group (the server and its uvicorn)
    when this process is gone, kill -9 included: it waits for the end of a pipe that only this
    process holds open, which the system closes however this process ends."""
    return subprocess.Popen([sys.executable, "-c", UI_GUARD, str(server.pid)], env=env, stdin=subprocess.PIPE)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _wait_until_healthy(server: subprocess.Popen, url: str, port: int) -> None:
    deadline = time.monotonic() + UI_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ConfigError(f"the MLflow server exited with code {server.returncode} before it "
                              f"answered; is port {port} free? (see its messages above)")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise ConfigError(f"the MLflow server did not answer {url} within {UI_START_SECONDS} s")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
