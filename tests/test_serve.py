"""A real `seqae serve` process on a free port, asked over HTTP.

It answers `/ping`; its scores for the rows of a CSV equal `seqae score`'s for the same file; the
`threshold` param overrides the fitted one; a request it cannot use gets a 4xx whose body is one
line of JSON with no stack trace, on a keep-alive connection that stays usable; a body over the
limit is refused (413) without the server's memory growing; and no worker of a server outlives it,
kill -9 included.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_store import SENSORS, fitted_store, free_port, start_seqae, stop, wait_for
from click.testing import CliRunner

from seqae.cli import cli
from seqae.scoring_requests import DEFAULT_MAX_REQUEST_MB


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    """The store, the `seqae serve` process (one worker, the default body limit), its URL and log."""
    store = fitted_store(tmp_path_factory)
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    process = start_seqae(["serve", store.registered_uri, "--port", str(port)], cwd=store.root, log=log)
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", process, log)
        yield store, process, f"http://127.0.0.1:{port}", log
    finally:
        # uvicorn shuts down cleanly on SIGTERM, then exits by that signal again (-15).
        assert stop(process) in (0, -15), log.read_text()
        assert "Application shutdown complete" in log.read_text()


@pytest.fixture(scope="module")
def server(serving):
    store, _, url, log = serving
    return store, url, log


def post(url: str, body, content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/invocations", data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def split(frame: pd.DataFrame) -> dict:
    return {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}


def test_served_scores_equal_seqae_score(server, tmp_path, monkeypatch):
    store, url, _ = server
    monkeypatch.chdir(store.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(cli, ["score", store.registered_uri, str(store.test_csv), "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = pd.read_csv(out)

    rows = pd.read_csv(store.test_csv)
    status, body = post(url, {"dataframe_split": split(rows[SENSORS])})
    assert status == 200, body
    served = pd.DataFrame(body["predictions"])
    assert list(served.columns) == ["score", "raw_score", "is_anomaly", "alert_id", "warming_up",
                                    *[f"contribution_{s}" for s in SENSORS]]
    np.testing.assert_array_equal(served["score"].to_numpy(dtype=float), expected["score"].to_numpy())
    np.testing.assert_array_equal(served["raw_score"].to_numpy(dtype=float), expected["raw_score"].to_numpy())
    np.testing.assert_array_equal(served["is_anomaly"].to_numpy(), expected["is_anomaly"].to_numpy())
    # the served alert ids are seqae score's (the request is the same rows, as one series)
    np.testing.assert_array_equal(served["alert_id"].to_numpy(), expected["alert_id"].to_numpy())
    assert (served["alert_id"] >= 0).any()
    for sensor in SENSORS:
        np.testing.assert_array_equal(served[f"contribution_{sensor}"], expected[f"contribution_{sensor}"])

    # Records, the columns in another order and extra ones (the timestamp, the labels) ignored.
    status, records = post(url, {"dataframe_records": rows[["anomaly", *SENSORS[::-1], "timestamp"]]
                                 .to_dict(orient="records")})
    assert status == 200, records
    np.testing.assert_array_equal(pd.DataFrame(records["predictions"])["score"].to_numpy(dtype=float),
                                  expected["score"].to_numpy())


def test_threshold_param_overrides_the_fitted_one(server):
    store, url, _ = server
    rows = pd.read_csv(store.test_csv)[SENSORS]
    status, body = post(url, {"dataframe_split": split(rows), "params": {"threshold": 0.25}})
    assert status == 200, body
    served = pd.DataFrame(body["predictions"])  # the flag level on the calibrated score, for this call
    decided = served["warming_up"] == 0
    np.testing.assert_array_equal(served["is_anomaly"], ((served["score"] > 0.25) & decided).astype(int))
    assert 0 < served["is_anomaly"].sum() < len(served)
    status, default = post(url, {"dataframe_split": split(rows)})
    assert pd.DataFrame(default["predictions"])["is_anomaly"].sum() < served["is_anomaly"].sum()


def post_bytes(url: str, body: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.status, answer.read()


@pytest.mark.parametrize("params", [None, {"threshold": 0.25}, {"reconstruction": True}, {"context_rows": 20}])
def test_a_dataframe_split_is_answered_with_the_bytes_of_mlflows_handler(server, params):
    """A JSON dataframe_split is answered by seqae's own path (no frames between the request and the
    answer); the same rows as dataframe_records go through MLflow's handler: the same bytes."""
    store, url, _ = server
    rows = pd.read_csv(store.test_csv)[SENSORS].iloc[:120]
    extra = {} if params is None else {"params": params}
    fast = post_bytes(url, {"dataframe_split": split(rows), **extra})
    handler = post_bytes(url, {"dataframe_records": rows.to_dict(orient="records"), **extra})
    assert fast[0] == handler[0] == 200
    assert fast[1] == handler[1]


def _with_text(frame: pd.DataFrame) -> dict:
    data = frame.to_numpy().tolist()
    data[3][1] = "n/a"
    return {"columns": list(frame.columns), "data": data}


BAD_REQUESTS = [  # (body, message regex)
    (lambda rows: {"dataframe_split": split(rows.iloc[:5])},
     r"^the request has 5 rows, fewer than one window \(window_size=16\); send at least 16 consecutive rows$"),
    (lambda rows: {"dataframe_split": split(rows[SENSORS[:2]])},
     r"^column 'sensor_2' is missing; the request has 'sensor_0', 'sensor_1'; the model needs"),
    (lambda rows: {"dataframe_split": _with_text(rows)}, r"sensor_1.*'n/a'"),
    (lambda rows: {"dataframe_split": split(rows), "params": {"threshold": "high"}}, r"threshold"),
    (lambda rows: b"{not json", r"valid JSON"),
    (lambda rows: {"rows": split(rows)}, r"must be a JSON dictionary with exactly one of the input fields"),
]


@pytest.mark.parametrize("make_body, message", BAD_REQUESTS,
                         ids=["too-few-rows", "missing-column", "text-value", "bad-param", "not-json", "no-format"])
def test_bad_request_gets_400_and_one_line_without_a_stack_trace(server, make_body, message):
    store, url, _ = server
    status, body = post(url, make_body(pd.read_csv(store.test_csv)[SENSORS]))
    assert status == 400, body
    assert set(body) >= {"error_code", "message"} and "stack_trace" not in body
    assert "\n" not in body["message"] and "Traceback" not in body["message"]
    assert len(body["message"]) <= 500
    assert re.search(message, body["message"]), body["message"]


def test_several_workers_answer_alike_and_stop_with_the_server(server, tmp_path):
    """`--workers 2`: two uvicorn worker processes behind one port, each with the model, answering
    exactly as the one-process server; terminating the server stops every worker."""
    store, url, _ = server
    port = free_port()
    log = tmp_path / "serve-workers.log"
    process = start_seqae(["serve", store.registered_uri, "--port", str(port), "--workers", "2"], cwd=store.root,
                          log=log)
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", process, log, timeout=180)
        body = {"dataframe_split": split(pd.read_csv(store.test_csv)[SENSORS])}
        status, expected = post(url, body)
        assert status == 200, expected
        for _ in range(4):  # the requests are spread over the workers; every answer is the same
            status, answer = post(f"http://127.0.0.1:{port}", body)
            assert status == 200, answer
            assert answer == expected
        missing = {"dataframe_split": split(pd.read_csv(store.test_csv)[SENSORS[:2]])}
        status, bad = post(f"http://127.0.0.1:{port}", missing)
        assert status == 400 and "stack_trace" not in bad
    finally:
        stop(process)
    text = log.read_text()
    assert "with 2 worker processes" in text
    workers = [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", text)]
    assert len(workers) == 2, text
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), f"worker {pid} outlived the server:\n{text}"


def _is_zombie(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_context_rows_give_the_causal_scores_of_a_sliding_client(server, tmp_path, monkeypatch):
    """A client that slides a window over the feed, sending the rows it already had answered as
    context before each new block, gets `seqae score`'s raw scores for the new rows. (Each request is a
    feed of its own: its decisions start from the model's reference, not from the earlier requests'.)"""
    store, url, _ = server
    monkeypatch.chdir(store.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "causal.csv"
    result = CliRunner().invoke(cli, ["score", store.registered_uri, str(store.test_csv), "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = pd.read_csv(out)
    rows = pd.read_csv(store.test_csv)[SENSORS]
    context, block = 40, 25  # at least window_size - 1 rows of context
    served = []
    status, body = post(url, {"dataframe_split": split(rows.iloc[:block]), "params": {"context_rows": 0}})
    assert status == 200, body
    served.append(pd.DataFrame(body["predictions"]))
    for first in range(block, len(rows), block):
        start = max(first - context, 0)
        status, body = post(url, {"dataframe_split": split(rows.iloc[start:first + block]),
                                  "params": {"context_rows": first - start}})
        assert status == 200, body
        served.append(pd.DataFrame(body["predictions"]))
    served = pd.concat(served, ignore_index=True)
    assert len(served) == len(rows)
    raw = served["raw_score"].to_numpy(dtype=float)
    np.testing.assert_array_equal(raw, expected["raw_score"].to_numpy())
    assert np.isnan(raw).sum() == 15  # window_size - 1 rows without a full window, at the start of the feed only
    status, body = post(url, {"dataframe_split": split(rows.iloc[:3]), "params": {"context_rows": 3}})
    assert status == 400 and "context_rows=3" in body["message"]


# ---- malformed requests on one keep-alive connection ----------------------------------------------

def _body(rows: pd.DataFrame, **extra) -> bytes:
    return json.dumps({"dataframe_split": split(rows), **extra}).encode()


def _raw_split(data: list) -> bytes:
    return json.dumps({"dataframe_split": {"columns": SENSORS, "data": data}}).encode()


NESTED = b'{"dataframe_split": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
MALFORMED = [  # (id, body from the rows, headers, status, message regex)
    ("nested-json", lambda rows: NESTED, {"Content-Type": "application/json"}, 400, r"nests deeper"),
    ("no-content-type", _body, {}, 415, r"^the request has no Content-Type header; send application/json"),
    ("text-plain", _body, {"Content-Type": "text/plain"}, 415, r"only supports the following content types"),
    ("invalid-json", lambda rows: b'{"dataframe_split": {', {"Content-Type": "application/json"}, 400,
     r"^the request is not valid JSON \(Expecting"),
    ("not-utf-8", lambda rows: b'{"dataframe_split": "\xff"}', {"Content-Type": "application/json"}, 400,
     r"not valid JSON .*can't decode byte 0xff"),
    ("a-list", lambda rows: b"[1, 2]", {"Content-Type": "application/json"}, 400,
     r"must be a JSON dictionary with exactly one of the input fields .*; got a JSON list$"),
    ("unknown-field", lambda rows: _body(rows, parms={"threshold": 1}), {"Content-Type": "application/json"}, 400,
     r"exactly one of the input fields dataframe_split, .*; got the fields 'dataframe_split', 'parms'$"),
    ("split-as-a-list", lambda rows: json.dumps({"dataframe_split": [[1, 2, 3]]}).encode(),
     {"Content-Type": "application/json"}, 400, r"^dataframe_split must be \{\"columns\""),
    ("ragged-rows", lambda rows: _raw_split([[1, 2, 3]] * 20 + [[1, 2]]), {"Content-Type": "application/json"}, 400,
     r"^dataframe_split's row 20 has 2 values, the columns are 3"),
    ("rows-of-numbers", lambda rows: _raw_split([1, 2, 3]), {"Content-Type": "application/json"}, 400,
     r"^dataframe_split's row 0 has a JSON number, the columns are 3"),
    ("unknown-columns", lambda rows: _body(rows.set_axis(["a", "b", "c"], axis=1)),
     {"Content-Type": "application/json"}, 400,
     r"^column 'sensor_0' is missing; the request has 'a', 'b', 'c'; the model needs"),
    ("too-few-rows", lambda rows: _body(rows.iloc[:3]), {"Content-Type": "application/json"}, 400,
     r"^the request has 3 rows, fewer than one window"),
    ("nan-threshold", lambda rows: _body(rows)[:-1] + b', "params": {"threshold": NaN}}',
     {"Content-Type": "application/json"}, 400, r"^param 'threshold' is nan, not a finite number"),
    ("infinite-threshold", lambda rows: _body(rows)[:-1] + b', "params": {"threshold": 1e999}}',
     {"Content-Type": "application/json"}, 400, r"^param 'threshold' is inf, not a finite number"),
    ("unknown-param", lambda rows: _body(rows, params={"treshold": 3}), {"Content-Type": "application/json"}, 400,
     r"^unknown param 'treshold'; the model takes threshold, reconstruction, context_rows$"),
    ("params-not-a-dict", lambda rows: _body(rows, params=[3]), {"Content-Type": "application/json"}, 400,
     r"^params must be a JSON dictionary of names and values, got a JSON list"),
    ("threshold-true", lambda rows: _body(rows, params={"threshold": True}), {"Content-Type": "application/json"}, 400,
     r"^param 'threshold' must be a finite number, got True$"),
    ("reconstruction-maybe", lambda rows: _body(rows, params={"reconstruction": "maybe"}),
     {"Content-Type": "application/json"}, 400, r"^param 'reconstruction' must be true or false"),
    ("context-rows-fraction", lambda rows: _body(rows, params={"context_rows": 1.5}),
     {"Content-Type": "application/json"}, 400, r"^param 'context_rows' must be a whole number"),
]


def test_every_malformed_request_gets_a_4xx_of_one_line_and_the_connection_stays_usable(server):
    """One keep-alive connection: each malformed request is answered 4xx with one line of JSON, and
    the next, valid, request on the same connection is answered 200 (before, a 500 closed it)."""
    store, url, log = server
    rows = pd.read_csv(store.test_csv)[SENSORS]
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)
    connection.auto_open = 0  # a closed connection fails the test instead of reconnecting
    connection.connect()
    local = connection.sock.getsockname()
    try:
        for name, make_body, headers, status, message in MALFORMED:
            connection.request("POST", "/invocations", body=make_body(rows), headers=headers)
            answer = connection.getresponse()
            body = json.loads(answer.read())
            assert answer.status == status, (name, body)
            assert answer.getheader("content-type") == "application/json", name
            assert answer.getheader("connection") != "close", name
            assert set(body) >= {"error_code", "message"} and "stack_trace" not in body, (name, body)
            assert "\n" not in body["message"] and len(body["message"]) <= 500, (name, body)
            assert re.search(message, body["message"]), (name, body["message"])
            connection.request("POST", "/invocations", body=_body(rows.iloc[:20]),
                               headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            assert answer.status == 200 and len(json.loads(answer.read())["predictions"]) == 20, name
        for method, path, status, message in (("GET", "/invocations", 405, "Method Not Allowed"),
                                              ("GET", "/nowhere", 404, "Not Found")):
            connection.request(method, path)
            answer = connection.getresponse()
            assert (answer.status, json.loads(answer.read())["message"]) == (status, message)
        assert connection.sock.getsockname() == local  # the same connection throughout
    finally:
        connection.close()
    assert "Exception in ASGI application" not in log.read_text()


def test_an_exception_no_one_answered_is_a_500_of_one_line_with_the_traceback_in_the_log(caplog):
    """`OneLineErrors` answers for an app that raises before it answered: a 500 of one line (the
    HTTP server then keeps the connection), the traceback logged."""
    from seqae.scoring_requests import OneLineErrors

    async def failing_app(scope, receive, send):
        raise ZeroDivisionError("division by zero")

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": []}
    asyncio.run(OneLineErrors(failing_app)(scope, receive, send))
    assert sent[0]["status"] == 500 and (b"content-type", b"application/json") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == {
        "error_code": "INTERNAL_ERROR",
        "message": "the server failed on this request (ZeroDivisionError); its log has the traceback"}
    assert "ZeroDivisionError: division by zero" in caplog.text and "Traceback" in caplog.text


# ---- the body limit --------------------------------------------------------------------------------

def _through_body_limit(pieces: list[bytes], limit: int, declared: int | None = None) -> tuple[list, list]:
    """What an app behind `BodyLimit(limit)` received and what went back, for a body sent in
    `pieces` (as uvicorn hands it over: then a disconnect, which a server sends only when the
    client goes); a hang fails."""
    from seqae.scoring_requests import BodyLimit

    messages = [{"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
                for i, piece in enumerate(pieces)]
    received, sent = [], []

    async def app(scope, receive, send):
        received.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # uvicorn's receive waits like this once the body is over

    async def send(message):
        sent.append(message)

    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": headers}
    asyncio.run(asyncio.wait_for(BodyLimit(app, limit)(scope, receive, send), timeout=10))
    return received, sent


@pytest.mark.parametrize("pieces, declared, status", [
    ([b"a" * 10, b"b" * 10], None, 200),  # at the limit: the app gets the body whole, in one piece
    ([b"a" * 10, b"b" * 11], None, 413),  # past the limit in the last piece: refused, nothing more awaited
    ([b"a" * 21, b"b" * 5], None, 413),  # past it in the first: the rest read and dropped
    ([b"a" * 30], 30, 413),  # a declared length past the limit: refused before the app reads
])
def test_the_body_limit_hands_the_app_a_whole_body_or_answers_413(pieces, declared, status):
    received, sent = _through_body_limit(pieces, limit=20, declared=declared)
    assert sent[0]["status"] == status
    if status == 200:
        assert received == [{"type": "http.request", "body": b"".join(pieces), "more_body": False}]
    else:
        assert received == [] and "over this server's limit" in json.loads(sent[1]["body"])["message"]
        assert [m.get("more_body", False) for m in sent[1:]] == [True, False]  # the answer ends

def _memory_mb(pid: int) -> tuple[int, int]:
    """(resident, peak resident) MB of a process (Linux)."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's memory from /proc")
@pytest.mark.parametrize("framing, keep_alive",
                         [("content-length", True), ("chunked", True), ("content-length", False)])
def test_a_300_mb_body_is_refused_with_413_and_the_servers_memory_stays_flat(serving, framing, keep_alive):
    """300 MB to a server with the default limit (64 MB): a declared length over the limit is
    refused before a byte of the body is kept, a chunked body once it passes the limit; the rest is
    dropped as it arrives, the server's memory does not grow with it (before: RSS 0.8 -> 1.66 GB),
    the client reads the 413 after sending it all, even one that asked to close the connection, and
    a kept connection answers the next request."""
    store, process, url, _ = serving
    rows = pd.read_csv(store.test_csv)[SENSORS]
    piece = b"[" + b"0.1234567890123456, " * 3276 + b"0.1]"  # 64 KiB of a JSON array
    total = 300 * 2**20 // len(piece) * len(piece)
    before = _memory_mb(process.pid)
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=120)
    connection.auto_open = 0  # a closed connection fails the test instead of reconnecting
    connection.connect()
    headers = {"Content-Type": "application/json", **({} if keep_alive else {"Connection": "close"})}
    if framing == "content-length":
        headers["Content-Length"] = str(total)
    body = (piece for _ in range(total // len(piece)))
    try:
        connection.request("POST", "/invocations", body=body, headers=headers,
                           encode_chunked=framing == "chunked")
        answer = connection.getresponse()
        refusal = json.loads(answer.read())
        assert answer.status == 413, refusal
        size = f"{total / 2**20:.1f} MB, " if framing == "content-length" else ""
        assert refusal["message"] == (f"the request body is {size}over this server's limit of {DEFAULT_MAX_REQUEST_MB} "
                                      "MB; send fewer rows per request, or start seqae serve with a larger "
                                      "--max-request-mb")
        after = _memory_mb(process.pid)
        if keep_alive:
            connection.request("POST", "/invocations", body=_body(rows.iloc[:20]),
                               headers={"Content-Type": "application/json"})
            assert connection.getresponse().status == 200
    finally:
        connection.close()
    grown = after[0] - before[0], after[1] - before[1]
    assert grown[0] < 100 and grown[1] < 150, f"resident and peak memory grew by {grown} MB (before {before})"


SKAB_SENSORS = ["Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature", "Thermocouple",
                "Voltage", "Volume Flow RateRMS"]


def test_the_default_limit_holds_a_day_of_one_second_readings_of_skabs_sensors_2_7_times_over():
    """The sizing that --max-request-mb's help gives: 86,400 rows of SKAB's 8 sensors, readings at
    full precision, are 24 MB as dataframe_records and 13 MB as dataframe_split; the default is 2.7
    times the first."""
    readings = pd.DataFrame(np.random.default_rng(0).normal(0, 100, (1000, 8)), columns=SKAB_SENSORS)
    records = len(json.dumps({"dataframe_records": readings.to_dict(orient="records")})) * 86.4 / 2**20
    rows = len(json.dumps({"dataframe_split": split(readings)})) * 86.4 / 2**20
    assert (round(records), round(rows)) == (24, 13)
    assert round(DEFAULT_MAX_REQUEST_MB / records, 1) == 2.7
    option = serve_option("max_request_mb")
    assert option.default == DEFAULT_MAX_REQUEST_MB
    assert "SKAB's 8 sensors 2.7 times over: 24 MB as dataframe_records, 13 MB as dataframe_split" in option.help


def serve_option(name: str):
    return next(param for param in cli.commands["serve"].params if param.name == name)


# ---- the processes of a server ---------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    """The processes `pid` started (its workers and multiprocessing's resource tracker)."""
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listed:
            children += [int(child) for child in listed.read().split()]
    return children


def _wait_gone(pids: list[int], timeout: float = 60.0) -> list[int]:
    """The pids still alive (not gone, not a zombie) after at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}") and not _is_zombie(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.3)


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _start_workers(args: list[str], store, log, port: int):
    """`seqae serve ... --workers 2`, both workers ready; the process and the processes it started."""
    process = start_seqae(["serve", *args, "--port", str(port), "--workers", "2"], cwd=store.root, log=log)
    deadline = time.monotonic() + 240
    while log.read_text().count("Application startup complete") < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                stop(process)
            raise AssertionError(f"the workers did not start:\n{log.read_text()}")
        time.sleep(0.5)
    return process, _children(process.pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_after_kill_9_no_worker_keeps_the_port_and_a_restart_there_succeeds(server, tmp_path, monkeypatch):
    """kill -9 of `seqae serve --workers 2`: its workers (and multiprocessing's resource tracker)
    stop, nothing answers on the port, and `seqae serve` starts there again; Ctrl-C (SIGINT) stops
    that one with all its workers. The first server serves a downloaded model whose bundled copy of
    seqae cannot be imported: the workers import the seqae that runs `seqae serve`, not the model's."""
    import mlflow

    from seqae import tracking

    store, _, _ = server
    monkeypatch.chdir(store.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.use_store()
    model_dir = Path(mlflow.artifacts.download_artifacts(store.model_uri, dst_path=str(tmp_path / "model")))
    bundled = model_dir / "code" / "seqae" / "__init__.py"
    assert bundled.is_file()
    bundled.write_text('raise ImportError("the model\'s bundled copy of seqae was imported")\n')
    rows = pd.read_csv(store.test_csv)[SENSORS].iloc[:20]
    port, started = free_port(), []
    try:
        first, children = _start_workers([str(model_dir), "--max-request-mb", "1"], store, tmp_path / "first.log", port)
        started += [first.pid, *children]
        assert len(children) == 3, children  # two workers and the resource tracker
        status, answer = post(f"http://127.0.0.1:{port}", {"dataframe_split": split(rows)})
        assert status == 200, answer
        many = {"columns": SENSORS, "data": [[0.1, 0.2, 0.3]] * 70_000}  # 1.1 MB
        status, answer = post(f"http://127.0.0.1:{port}", {"dataframe_split": many})
        assert status == 413 and "limit of 1 MB" in answer["message"]  # the workers' limit is the option's

        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        assert _wait_gone(children) == [], f"outlived the server:\n{(tmp_path / 'first.log').read_text()}"
        assert _refused(port)

        second, children = _start_workers([store.registered_uri], store, tmp_path / "second.log", port)
        started += [second.pid, *children]
        assert post(f"http://127.0.0.1:{port}", {"dataframe_split": split(rows)})[0] == 200
        second.send_signal(signal.SIGINT)
        second.wait(timeout=60)
        assert _wait_gone(children) == [], (tmp_path / "second.log").read_text()
        assert _refused(port)
    finally:
        for pid in _wait_gone(started, timeout=0):  # what a failed test left: the processes it started
            os.kill(pid, signal.SIGKILL)
