"""The local store under faults, with real processes and signals: its creation interrupted or raced,
a half-built store an earlier version left, fits stopped by SIGTERM and kill -9 (and what `seqae
runs` then shows), a fit on a full disk, and `seqae runs` within 120 columns.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from cli_store import chdir, write_csvs
from fault_helpers import fill, one_error_line, parts, seqae, small_disk, start, start_together, wait_until
from seqae import processes
from seqae.cli import cli
from seqae.processes import Terminated
from seqae.tracking import store

FAST_FIT = ["--model", "pca", "--window-size", "4"]
# A fit that trains until it is stopped: no early stopping (neither on a plateau nor on a risen
# validation loss, which stopped an unseeded fit of this within seconds), thousands of epochs.
LONG_FIT = ["--model", "lstm-ae", "--window-size", "8", "--hidden-size", "8", "--latent-dim", "4",
            "--epochs", "100000", "-p", "patience=0", "-p", "rise_patience=0", "-q"]


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    return write_csvs(tmp_path_factory.mktemp("store-data"))


def client_of(folder) -> MlflowClient:
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def statuses(folder) -> list[str]:
    with sqlite3.connect(f"file:{folder / 'mlruns' / 'mlflow.db'}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT status FROM runs ORDER BY start_time")]


def running(folder) -> bool:
    try:
        return "RUNNING" in statuses(folder)
    except sqlite3.Error:
        return False


# ---- creating the store ------------------------------------------------------------------------------------

def building(folder) -> bool:
    """Whether MLflow is building the store's schema in `folder`/mlruns (a migration has run)."""
    for database in (folder / "mlruns").glob("*mlflow.db*"):
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
                if db.execute("SELECT version_num FROM alembic_version").fetchone() is not None:
                    return True
        except sqlite3.Error:
            pass
    return False


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "kill", "kill-9"])
def test_the_first_command_interrupted_while_the_store_is_built_breaks_nothing(tmp_path, stop):
    process = start(["runs"], tmp_path)
    wait_until(lambda: building(tmp_path), process)
    process.send_signal(stop)
    _, err = process.communicate(timeout=120)
    assert "Traceback" not in err, err[-3000:]
    if stop == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM, err[-3000:]
    later = seqae(["runs"], tmp_path)
    assert later.returncode == 0, later.stderr
    assert "Traceback" not in later.stderr
    assert later.stdout.startswith("no runs in experiment 'seqae' yet")
    assert parts(tmp_path / "mlruns") == []


def test_two_first_commands_at_once_both_succeed(tmp_path):
    first, second = start_together([["runs"], ["runs"]], tmp_path)
    for process in (first, second):
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        assert out.startswith("no runs in experiment 'seqae' yet")


def test_two_first_fits_at_once_both_log_their_run(tmp_path, csvs):
    fits = start_together([["fit", csvs[0], *FAST_FIT, "--run-name", f"fit {k}", "-q"] for k in range(2)], tmp_path)
    for fit in fits:
        out, err = fit.communicate(timeout=600)
        assert fit.returncode == 0, err[-3000:]
        assert re.fullmatch(r"models:/m-[0-9a-f]+\n", out)
    assert statuses(tmp_path) == ["FINISHED", "FINISHED"]


MLFLOW_DEFAULT_CLIENT = """
import mlflow
client = mlflow.MlflowClient()  # MLflow's own default store: ./mlflow.db of the folder it starts in
version = client.get_model_version("pump", "1")
print(version.run_id, client.get_run(version.run_id).data.tags["mlflow.runName"])
"""


def test_mlflows_own_tools_started_beside_the_default_store_read_it(tmp_path, csvs):
    """`seqae fit` with no MLFLOW_TRACKING_URI keeps its runs in ./mlruns/mlflow.db and links ./mlflow.db
    to it, where a plain `mlflow.MlflowClient()` (or `mlflow ui`) started in the same folder looks: it
    reads the same run and registered model, and opens no empty store of its own."""
    fit = seqae(["fit", csvs[0], *FAST_FIT, "--register", "pump", "--run-name", "pump fit", "-q"], tmp_path)
    assert fit.returncode == 0, fit.stderr[-3000:]
    link = tmp_path / "mlflow.db"
    assert link.is_symlink() and os.readlink(link) == os.path.join("mlruns", "mlflow.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    read = subprocess.run([sys.executable, "-c", MLFLOW_DEFAULT_CLIENT], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert read.returncode == 0, read.stderr[-3000:]
    run_id, name = read.stdout.split(maxsplit=1)
    assert client_of(tmp_path).get_run(run_id).info.run_name == name.strip() == "pump fit"


def test_a_store_of_the_users_own_at_mlflow_db_is_left_alone(tmp_path, csvs):
    (tmp_path / "mlflow.db").write_bytes(b"the user's own")
    fit = seqae(["fit", csvs[0], *FAST_FIT, "-q"], tmp_path)
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert not (tmp_path / "mlflow.db").is_symlink() and (tmp_path / "mlflow.db").read_bytes() == b"the user's own"
    assert statuses(tmp_path) == ["FINISHED"]  # the run went to ./mlruns all the same


BUILD = """
import sys
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
SqlAlchemyStore("sqlite:///" + sys.argv[1], sys.argv[2])
"""


def half_built_store(folder) -> None:
    """./mlruns/mlflow.db as MLflow leaves it when a command is killed between a migration's work
    and the record of it: every table there, the schema's version one migration behind."""
    from alembic.script import ScriptDirectory
    import mlflow.store

    database = folder / "mlruns" / "mlflow.db"
    database.parent.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", BUILD, str(database), str(folder / "mlruns" / "artifacts")],
                   check=True, capture_output=True, timeout=600)
    scripts = ScriptDirectory(str(Path(mlflow.store.__file__).parent / "db_migrations"))
    behind = scripts.get_revision(scripts.get_current_head()).down_revision
    with sqlite3.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (behind,))


def test_a_half_built_store_holding_nothing_is_rebuilt(tmp_path, csvs):
    half_built_store(tmp_path)
    done = seqae(["fit", csvs[0], *FAST_FIT, "-q"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert statuses(tmp_path) == ["FINISHED"]


def test_a_half_built_store_holding_an_experiment_is_explained_in_one_line(tmp_path):
    half_built_store(tmp_path)
    with sqlite3.connect(tmp_path / "mlruns" / "mlflow.db") as db:
        db.execute("INSERT INTO experiments (name, artifact_location, lifecycle_stage) VALUES ('pumps', '', 'active')")
        db.execute("DELETE FROM alembic_version")
    done = seqae(["runs"], tmp_path)
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert re.match(rf"Error: {re.escape(str(tmp_path / 'mlruns' / 'mlflow.db'))}: the MLflow store is half-built "
                    r".*; it holds 1 experiment: move it away", line), line


# ---- runs whose process died ---------------------------------------------------------------------------------

def test_a_fit_stopped_by_sigterm_ends_its_run_killed(tmp_path, csvs):
    fit = start(["fit", csvs[0], *LONG_FIT], tmp_path)
    wait_until(lambda: running(tmp_path), fit)
    fit.send_signal(signal.SIGTERM)
    out, err = fit.communicate(timeout=120)
    assert fit.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert statuses(tmp_path) == ["KILLED"]


class DropsASigterm:
    """An object whose `__del__` receives a SIGTERM: Python drops the exception raised there."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler runs here, inside __del__


def run_statuses() -> list[str]:
    return [found.info.status for found in MlflowClient().search_runs(
        [exp.experiment_id for exp in MlflowClient().search_experiments()])]


def test_a_sigterm_that_python_dropped_still_ends_the_run_killed(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(sys, "unraisablehook", shown.append)  # what Python would print as "Exception ignored"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store.use_store()
    with pytest.raises(Terminated) as stopped:
        with processes.sigterm_exits(), store.tracked_run(experiment_id=store.experiment_id("faults")):
            DropsASigterm()  # collected at once; the Terminated raised in its __del__ is lost
            assert processes._stopped_by == signal.SIGTERM  # noqa: SLF001 (what the test is about)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert run_statuses() == ["KILLED"]
    assert shown == []


# A call into the store's code (its file in a folder named like SQLAlchemy's): a SIGTERM lands in it.
STORE_CALL = """
def store_call(done):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)  # the SIGTERM lands here, inside the store's code
    done.append(True)
"""


def test_a_sigterm_inside_the_stores_code_is_raised_once_the_call_has_returned(tmp_path):
    namespace = {"os": os, "signal": signal, "time": time}
    exec(compile(STORE_CALL, str(tmp_path / "site-packages" / "sqlalchemy" / "engine.py"), "exec"), namespace)
    done, after = [], []
    with pytest.raises(Terminated) as stopped:
        with processes.sigterm_exits():
            namespace["store_call"](done)
            after.append(done[:])  # the call ran to its end; the stop comes once it has returned
            time.sleep(5)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert after == [[True]]
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL  # what the block found, back


@pytest.mark.parametrize("clock_moved", [False, True], ids=["", "clock-moved"])
def test_a_stop_before_mlflow_hands_the_new_run_back_ends_that_run_killed(tmp_path, monkeypatch, clock_moved):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store.use_store()
    created, started_at = MlflowClient.create_run, processes.started_at

    def create_then_stop(self, *args, **kwargs):  # the signal lands once the store has committed the run
        created(self, *args, **kwargs)
        if clock_moved:  # the boot time /proc reports moved with the clock: the start time reads 1 s later
            monkeypatch.setattr(processes, "started_at", lambda pid: started_at(pid) + 1.0)
        raise Terminated(128 + signal.SIGTERM)

    monkeypatch.setattr(MlflowClient, "create_run", create_then_stop)
    with pytest.raises(Terminated):
        with store.tracked_run(experiment_id=store.experiment_id("faults")):
            pass
    monkeypatch.undo()
    assert mlflow.active_run() is None
    assert run_statuses() == ["KILLED"]


def test_a_fit_killed_with_9_is_marked_dead_by_seqae_runs(tmp_path, csvs):
    fit = start(["fit", csvs[0], *LONG_FIT, "--run-name", "doomed"], tmp_path)
    wait_until(lambda: running(tmp_path), fit)
    fit.send_signal(signal.SIGKILL)
    fit.wait(timeout=60)
    assert statuses(tmp_path) == ["RUNNING"]  # nothing could end it
    listed = seqae(["runs"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "doomed" in line)
    assert row.split()[2] == "dead"
    assert "dead: its process ended without ending the run" in listed.stdout
    assert statuses(tmp_path) == ["KILLED"]
    run = client_of(tmp_path).search_runs(["1"])[0]
    assert run.data.tags["seqae.dead"] == "true" and run.data.tags["seqae.pid"] == str(fit.pid)


def test_a_running_fit_is_not_marked_dead(tmp_path, csvs):
    fit = start(["fit", csvs[0], *LONG_FIT, "--run-name", "alive"], tmp_path)
    try:
        wait_until(lambda: running(tmp_path), fit)
        listed = seqae(["runs"], tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert next(line for line in listed.stdout.splitlines() if "alive" in line).split()[2] == "RUNNING"
        assert statuses(tmp_path) == ["RUNNING"]
    finally:
        fit.kill()
        fit.wait()


# ---- a full disk ---------------------------------------------------------------------------------------------

def test_a_fit_on_a_full_disk_is_one_line_and_its_run_ends_failed_with_nothing_partial(tmp_path, csvs):
    with small_disk(tmp_path / "disk", 6144) as disk:
        created = seqae(["runs"], disk)  # the store, then no room for a model
        assert created.returncode == 0, created.stderr
        fill(disk, leave_kb=300)
        done = seqae(["fit", csvs[0], *FAST_FIT], disk)
        assert done.returncode == 1
        line = one_error_line(done.stderr)
        assert re.match(rf"Error: {re.escape(str(disk / 'mlruns'))}\S*: cannot write: no space left on device", line)
        assert done.stdout == ""
        (disk / "filler").unlink()
        assert statuses(disk) == ["FAILED"]
        run = client_of(disk).search_runs(["1"])[0]
        assert not (disk / "mlruns" / "artifacts" / "1" / run.info.run_id).exists()
        assert parts(disk) == []


# ---- seqae runs within 120 columns ----------------------------------------------------------------------------

def test_runs_fits_120_columns_counts_child_runs_and_shows_each_model(tmp_path, csvs):
    long_name = "pump station 7, north line, after the bearing change of March: " + "x" * 60
    with chdir(tmp_path):
        runner = CliRunner(env={"MLFLOW_TRACKING_URI": None})
        uris = []
        for k in range(3):
            fitted = runner.invoke(cli, ["fit", str(csvs[0]), *FAST_FIT, "--run-name", f"{long_name} {k}", "-q",
                                         "--experiment", "wide"])
            assert fitted.exit_code == 0, fitted.output
            uris.append(fitted.stdout.strip())
        client = client_of(tmp_path)
        parent = client.search_runs([client.get_experiment_by_name("wide").experiment_id],
                                    order_by=["attributes.start_time DESC"])[0]
        for k in range(5):  # as auto's candidates are logged
            child = client.create_run(parent.info.experiment_id, run_name=f"candidate {k} {long_name}",
                                      tags={"mlflow.parentRunId": parent.info.run_id})
            client.set_terminated(child.info.run_id)
    listed = seqae(["runs", "--experiment", "wide"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120, "\n".join(lines)
    assert lines[0].split()[:6] == ["run", "name", "status", "started", "model", "model_uri"]
    rows = [line for line in lines[1:] if re.match(r"[0-9a-f]{8} ", line)]
    assert len(rows) == 3  # the candidates are counted on their parent's line, not listed
    assert "(+5)" in rows[0] and rows[0].startswith(parent.info.run_id[:8])
    assert all(uri in listed.stdout for uri in uris)
    wide = seqae(["runs", "--experiment", "wide", "--wide"], tmp_path)
    assert wide.returncode == 0, wide.stderr
    assert sum("└ candidate" in line for line in wide.stdout.splitlines()) == 5
    assert parent.info.run_id in wide.stdout and f"{long_name} 2" in wide.stdout
