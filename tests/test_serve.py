"""A real `seqae serve` process on a free port, asked over HTTP.

It answers `/ping`; its scores for the rows of a CSV equal `seqae score`'s for the same file; the
`threshold` param overrides the fitted one; and a request it cannot score gets a 400 whose body is
one line of JSON with no stack trace.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from cli_store import SENSORS, fitted_store, free_port, start_seqae, stop, wait_for
from click.testing import CliRunner

from seqae.cli import cli


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = fitted_store(tmp_path_factory)
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    process = start_seqae(["serve", store.registered_uri, "--port", str(port)], cwd=store.root, log=log)
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", process, log)
        yield store, f"http://127.0.0.1:{port}", log
    finally:
        # uvicorn shuts down cleanly on SIGTERM, then exits by that signal again (-15).
        assert stop(process) in (0, -15), log.read_text()
        assert "Application shutdown complete" in log.read_text()


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
    assert list(served.columns) == ["score", "is_anomaly", "alert_id", *[f"contribution_{s}" for s in SENSORS]]
    np.testing.assert_array_equal(served["score"].to_numpy(), expected["score"].to_numpy())
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
    np.testing.assert_array_equal(pd.DataFrame(records["predictions"])["score"], expected["score"])


def test_threshold_param_overrides_the_fitted_one(server):
    store, url, _ = server
    rows = pd.read_csv(store.test_csv)[SENSORS]
    status, body = post(url, {"dataframe_split": split(rows), "params": {"threshold": 0.25}})
    assert status == 200, body
    served = pd.DataFrame(body["predictions"])
    np.testing.assert_array_equal(served["is_anomaly"], (served["score"] > 0.25).astype(int))
    assert 0 < served["is_anomaly"].sum() < len(served)


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
    context before each new block, gets `seqae score --causal`'s scores for the new rows."""
    store, url, _ = server
    monkeypatch.chdir(store.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "causal.csv"
    result = CliRunner().invoke(cli, ["score", store.registered_uri, str(store.test_csv), "-o", str(out), "--causal"])
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
    np.testing.assert_array_equal(served["warming_up"].to_numpy(), expected["warming_up"].to_numpy())
    warm = expected["warming_up"].to_numpy().astype(bool)
    assert warm.any() and served.loc[warm, "score"].isna().all()
    np.testing.assert_array_equal(served.loc[~warm, "score"].to_numpy(), expected.loc[~warm, "score"].to_numpy())
    np.testing.assert_array_equal(served["is_anomaly"].to_numpy(), expected["is_anomaly"].to_numpy())
    status, body = post(url, {"dataframe_split": split(rows.iloc[:3]), "params": {"context_rows": 3}})
    assert status == 400 and "context_rows=3" in body["message"]
