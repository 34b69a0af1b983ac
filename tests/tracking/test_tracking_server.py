"""seqae against a real tracking server, as a team uses it: `mlflow server` with SQLite behind it and
its artifacts proxied (`--serve-artifacts`), and `seqae fit`, `fit --register`, `seqae score
models:/...`, `seqae runs` and `seqae run PIPELINE` as subprocesses with `MLFLOW_TRACKING_URI`
pointing at it over HTTP. Everything lands on the server; nothing in a `./mlruns` of the directory
the commands run in. One server for the module: it takes half a minute to start on a busy machine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli_store import FIT_ARGS, free_port, wait_for, write_csvs

REGISTERED = "team-pump"

PIPELINE = """
[data]
directory = "data"
files = ["*.csv"]
label_column = "anomaly"

[protocol]
train_rows = 150

[model]
type = "deviation"

[run]
seeds = [0]
experiment = "team-pipeline"
jobs = 2
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The URL of an `mlflow server`: SQLite and artifacts in tmp, artifacts served through it."""
    root = tmp_path_factory.mktemp("tracking-server")
    port = free_port()
    log = root / "server.log"
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "-w", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "wb") as out:
        # Its own process group, so that stopping it stops the uvicorn worker it starts too.
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/health", process, log, timeout=240)
        yield url, root
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Where the commands run: two CSVs and a pipeline file; no store of its own."""
    root = tmp_path_factory.mktemp("team-member")
    write_csvs(root)
    data = root / "data"
    data.mkdir()
    write_csvs(data)
    (root / "pipeline.toml").write_text(PIPELINE)
    return root


def seqae(args: list[str], cwd: Path, url: str) -> str:
    """`python -m seqae ARGS` in `cwd` against the server; its stdout, after checking it exited 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = url
    done = subprocess.run([sys.executable, "-m", "seqae", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"seqae {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def assert_no_local_store(workdir: Path) -> None:
    found = [str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.name in ("mlruns", "mlflow.db")]
    assert not found, f"a local store appeared beside the commands: {found}"


@pytest.fixture(scope="module")
def fitted(server, workdir):
    url, _ = server
    output = seqae(["fit", "train.csv", "--label-column", "anomaly", *FIT_ARGS, "--register", REGISTERED,
                    "--alias", "champion"], workdir, url)
    run_id = re.search(r"^run:\s+([0-9a-f]{32})", output, re.M).group(1)
    return run_id, output


def client(url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=url, registry_uri=url)


def test_fit_and_register_log_to_the_server_and_its_artifact_store(server, workdir, fitted):
    url, root = server
    run_id, output = fitted
    run = client(url).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model_type"] == "lstm-ae" and "scores/threshold" in run.data.metrics
    # Artifacts go through the server, which writes them under its own --artifacts-destination.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), run.info.artifact_uri
    assert {"plots", "config.json"} <= {a.path for a in client(url).list_artifacts(run_id)}
    assert list((root / "artifacts").rglob("weights.pt")), "the model's weights are not in the server's artifact store"
    version = client(url).get_model_version_by_alias(REGISTERED, "champion")
    assert version.run_id == run_id
    # The printed links are the server's own pages; there is no local UI to start.
    assert f"models:/{REGISTERED}@champion" in output
    assert re.search(rf"^view:   open {re.escape(url)}/#/experiments/\d+/runs/{run_id}\?", output, re.M), output
    assert "View run" not in output  # MLflow's own per-run line, printed once per run to a server
    assert_no_local_store(workdir)


def test_score_a_registered_model_from_the_server(server, workdir, fitted):
    url, _ = server
    output = seqae(["score", f"models:/{REGISTERED}@champion", "test.csv", "-o", "scores.csv"], workdir, url)
    assert re.search(r"^Scored 300 rows", output, re.M), output
    scores = pd.read_csv(workdir / "scores.csv")
    assert len(scores) == 300 and {"score", "is_anomaly", "alert_id", "contribution_sensor_0"} <= set(scores.columns)
    assert scores["is_anomaly"].sum() > 0  # the spike and level shift of test.csv
    assert_no_local_store(workdir)


def test_runs_lists_the_servers_runs(server, workdir, fitted):
    url, _ = server
    run_id, fit_output = fitted
    model_uri = re.search(r"^model:\s+(models:/m-[0-9a-f]+)", fit_output, re.M).group(1)
    output = seqae(["runs"], workdir, url)
    assert re.search(rf"^{run_id[:8]} lstm-ae on train\.csv\s+FINISHED .* {model_uri}", output, re.M), output
    assert_no_local_store(workdir)


def test_a_pipeline_in_parallel_processes_logs_to_the_server(server, workdir):
    url, _ = server
    output = seqae(["run", "pipeline.toml", "--quiet"], workdir, url)
    parent_id = re.search(r"run ([0-9a-f]{32}): " + re.escape(url), output).group(1)
    tracking = client(url)
    parent = tracking.get_run(parent_id)
    assert parent.info.status == "FINISHED" and "Evaluation/auc_pr" in parent.data.metrics
    children = tracking.search_runs([parent.info.experiment_id],
                                    filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    assert sorted(c.data.params["file"] for c in children) == ["test.csv", "train.csv"]
    assert {"summary.csv", "per_file.csv", "pipeline.toml"} <= {a.path for a in tracking.list_artifacts(parent_id)}
    assert_no_local_store(workdir)


# ---- no credential in what seqae prints, logs or tags --------------------------------------------------------

def with_credentials(url: str) -> str:
    """The server's URL with a user and password in it (the server checks neither)."""
    return url.replace("http://", "http://alice:s3cret@")


def test_a_password_in_the_tracking_uri_is_never_shown_nor_logged(server, workdir):
    url, root = server
    secret_url = with_credentials(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = secret_url
    done = subprocess.run([sys.executable, "-m", "seqae", "fit", "train.csv", "--model", "pca", "--window-size", "4",
                           "--run-name", "with-password"], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    run_id = re.search(r"^run:\s+([0-9a-f]{32})", done.stdout, re.M).group(1)
    view = url.replace("http://", "http://alice:***@")
    assert re.search(rf"^view:   open {re.escape(view)}/#/experiments/\d+/runs/{run_id}\?", done.stdout, re.M), done.stdout
    run = client(url).get_run(run_id)
    logged = [*run.data.params.values(), *run.data.tags.values()]
    assert not [value for value in logged if "s3cret" in value]
    listed = subprocess.run([sys.executable, "-m", "seqae", "runs"], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=600)
    assert listed.returncode == 0 and "with-password" in listed.stdout
    assert "s3cret" not in listed.stdout + listed.stderr
    assert_no_local_store(workdir)


def test_runs_with_the_server_down_is_one_line_without_the_password(workdir):
    down = f"http://alice:s3cret@127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = down
    done = subprocess.run([sys.executable, "-m", "seqae", "runs"], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=120)  # MLflow alone retries for minutes
    assert done.returncode == 1
    assert "s3cret" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"Error: cannot reach the MLflow tracking server at {down.replace('s3cret', '***')} (connection "
                     "refused); start it, or check MLFLOW_TRACKING_URI (unset, seqae keeps runs in ./mlruns)"], lines
