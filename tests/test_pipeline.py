"""Pipeline files end to end: a tiny pipeline on generated CSVs, logged to an MLflow store in tmp;
the pooled and averaged numbers recomputed by hand; every bad pipeline file a one-line ConfigError."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner

from seqae import metrics
from seqae.cli import cli
from seqae.errors import ConfigError, DataError
from seqae.pipeline import SUMMARY_KEYS, load_pipeline, run_pipeline
from seqae.synthetic import make_sensor_data

REPO = Path(__file__).resolve().parents[1]
N_ROWS, TRAIN_ROWS = 400, 200

TINY = """
[data]
directory = "data"
files = ["a/*.csv", "b.csv"]
sep = ";"
time_column = "datetime"
label_column = "anomaly"
ignore_columns = ["changepoint"]

[protocol]
train_rows = 200

[model]
type = "lstm-ae"
window_size = 8
hidden_size = 8
latent_dim = 4
epochs = 2
learning_rate = 0.01
normalization = "robust"
smoothing = 3

[threshold]
spec = "ucl:q=0.99,factor=1.5"
on = "all"

[run]
seeds = [0, 1]
experiment = "tiny"

[metrics]
report = ["auc_pr", "f1", "far"]
"""


def write_file(path: Path, random_state: int) -> None:
    """A SKAB-like CSV: `;`, a datetime column, 3 sensors, `anomaly` and `changepoint` columns."""
    frame, anomaly, _ = make_sensor_data(N_ROWS, 3, normal_rows=TRAIN_ROWS, anomalies=("level_shift", "noise"),
                                         anomaly_length=40, random_state=random_state)
    out = frame.copy()
    out["anomaly"] = anomaly.to_numpy().astype(float)
    out["changepoint"] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, sep=";", index_label="datetime")


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    write_file(root / "a" / "0.csv", 2)
    write_file(root / "a" / "1.csv", 3)
    write_file(root / "b.csv", 4)
    return root


@pytest.fixture
def pipeline_file(tmp_path, data_dir):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture
def store(tmp_path, monkeypatch):
    """MLflow's store in tmp: seqae uses ./mlruns when MLFLOW_TRACKING_URI is not set."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path / "mlruns"
    mlflow.set_tracking_uri(None)


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def test_tiny_pipeline_end_to_end_with_parent_and_child_runs(pipeline_file, store):
    result = run_pipeline(pipeline_file, quiet=True)

    per_file = result.per_file
    assert list(per_file[["seed", "file"]].itertuples(index=False, name=None)) == [
        (seed, name) for seed in (0, 1) for name in ("a/0.csv", "a/1.csv", "b.csv")]
    assert (per_file.n_train_rows == TRAIN_ROWS).all() and (per_file.n_test_rows == N_ROWS - TRAIN_ROWS).all()
    assert (per_file.n_time_gaps == 0).all()  # the generated files are sampled every second
    assert list(result.summary.index) == [0, 1, "mean", "std"]
    assert list(result.summary.columns) == list(SUMMARY_KEYS)
    assert result.summary.loc["mean", "auc_pr"] > 0.7  # the injected anomalies are found

    client = mlflow.MlflowClient()
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["model_type"] == "lstm-ae" and parent.data.params["train_rows"] == "200"
    assert parent.data.params["model.smoothing"] == "3"
    for key, name in (("f1", "evaluation details/f1"), ("far", "evaluation details/far"), ("auc_pr", "Evaluation/auc_pr"),
                      ("vus_pr", "Evaluation/vus_pr"), ("event_f1", "evaluation details/event_f1")):
        assert parent.data.metrics[name] == pytest.approx(result.summary.loc["mean", key])
        assert parent.data.metrics[f"seed std/{key}"] == pytest.approx(result.summary.loc["std", key])
        assert parent.data.metrics[f"seed 1/{key}"] == pytest.approx(result.summary.loc[1, key])
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted((c.data.params["file"], c.data.params["seed"]) for c in children) == sorted(
        (name, str(seed)) for seed in (0, 1) for name in ("a/0.csv", "a/1.csv", "b.csv"))
    child = next(c for c in children if c.data.params == {"file": "b.csv", "seed": "1"})
    row = per_file[(per_file.seed == 1) & (per_file.file == "b.csv")].iloc[0]
    for key, name in (("tp", "evaluation details/tp"), ("fp", "evaluation details/fp"), ("f1", "evaluation details/f1"),
                      ("auc_pr", "Evaluation/auc_pr"), ("fit_seconds", "training/seconds"),
                      ("threshold", "scores/threshold")):
        assert child.data.metrics[name] == pytest.approx(row[key])
    assert all("/" in name for run in (parent, *children) for name in run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"summary.csv", "per_file.csv", "tiny.toml"} <= artifacts
    logged = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="per_file.csv",
                                                            dst_path=str(store.parent / "download")))
    assert len(logged) == 6


def test_pooled_and_averaged_numbers_are_recomputed_from_the_per_file_table(pipeline_file, store):
    result = run_pipeline(pipeline_file, quiet=True, track=False)
    assert result.run_id is None
    for seed in (0, 1):
        rows = result.per_file[result.per_file.seed == seed]
        tp, fp, tn, fn = (int(rows[k].sum()) for k in ("tp", "fp", "tn", "fn"))
        summary = result.summary.loc[seed]
        assert (summary.tp, summary.fp, summary.tn, summary.fn) == (tp, fp, tn, fn)
        assert summary.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert summary.far == pytest.approx(100 * fp / (fp + tn))
        assert summary.mar == pytest.approx(100 * fn / (fn + tp))
        assert summary.auc_pr == pytest.approx(rows.auc_pr.mean())  # the mean of per-file AUC-PR
        assert summary.vus_pr == pytest.approx(rows.vus_pr.mean())
        assert summary.fit_seconds == pytest.approx(rows.fit_seconds.mean())
        assert summary.event_f1 == pytest.approx(metrics.pooled(rows.to_dict("records"))["event_f1"])
        # alerts: segments and alerts summed over the files, then the rates
        assert summary.n_alerts == rows.n_alerts.sum()
        assert summary.anomaly_recall == pytest.approx(rows.n_anomalies_found.sum() / rows.n_anomalies.sum())
        assert summary.alert_precision == pytest.approx(rows.n_true_alerts.sum() / rows.n_alerts.sum(), nan_ok=True)
    for key in ("f1", "auc_pr"):
        values = result.summary.loc[[0, 1], key].astype(float)
        assert result.summary.loc["mean", key] == pytest.approx(values.mean())
        assert result.summary.loc["std", key] == pytest.approx(values.std(ddof=1))
    table = result.table()
    assert list(table.columns) == ["auc_pr", "f1", "far"]
    assert " ± " in table.iloc[0]["f1"]


def test_train_file_protocol_fits_once_and_scores_every_file_whole(tmp_path, data_dir, store):
    # the normal first rows of a/0.csv's series, without label columns: one machine, fitted once
    frame, _, _ = make_sensor_data(N_ROWS, 3, normal_rows=TRAIN_ROWS, anomalies=("level_shift", "noise"),
                                   anomaly_length=40, random_state=2)
    frame.iloc[:TRAIN_ROWS].to_csv(data_dir / "normal.csv", sep=";", index_label="datetime")
    text = edit(TINY, "train_rows = 200", 'train_file = "normal.csv"')
    text = edit(text, 'files = ["a/*.csv", "b.csv"]', 'files = ["*.csv", "a/*.csv"]')
    text = edit(text, 'type = "lstm-ae"', 'type = "pca"')
    for line in ("hidden_size = 8\n", "latent_dim = 4\n", "epochs = 2\n", "learning_rate = 0.01\n"):
        text = edit(text, line, "")
    path = tmp_path / "train-file.toml"
    path.write_text(text)
    result = run_pipeline(path, seeds=[0], quiet=True, track=False)
    assert list(result.per_file.file) == ["a/0.csv", "a/1.csv", "b.csv"]  # the train file is not scored
    assert (result.per_file.n_test_rows == N_ROWS).all() and (result.per_file.n_train_rows == TRAIN_ROWS).all()
    assert result.per_file.set_index("file").loc["a/0.csv", "auc_pr"] > 0.7


def test_parallel_jobs_give_the_same_numbers_as_one_process(tmp_path, data_dir, store):
    text = edit(TINY, 'experiment = "tiny"', 'experiment = "tiny"\njobs = 2')
    path = tmp_path / "parallel.toml"
    path.write_text(text)
    single = tmp_path / "single.toml"
    single.write_text(TINY)  # jobs = 1, the default
    parallel_result = run_pipeline(path, seeds=[0], quiet=True, track=False)
    single_result = run_pipeline(single, seeds=[0], quiet=True, track=False)
    columns = [c for c in parallel_result.per_file.columns if c not in ("fit_seconds", "score_seconds")]
    pd.testing.assert_frame_equal(parallel_result.per_file[columns], single_result.per_file[columns])


def test_data_dir_and_seeds_and_experiment_override_the_file(tmp_path, pipeline_file, data_dir):
    elsewhere = tmp_path / "elsewhere"
    data_dir.rename(elsewhere)
    with pytest.raises(ConfigError, match=r"\[data\] directory = 'data': no folder .*pass --data-dir"):
        load_pipeline(pipeline_file)
    pipeline = load_pipeline(pipeline_file, data_dir=elsewhere, seeds=[7], experiment="other")
    assert [p.name for p in pipeline.files] == ["0.csv", "1.csv", "b.csv"]
    assert pipeline.seeds == (7,) and pipeline.experiment == "other"


def test_the_shipped_pipelines_load(tmp_path):
    """Every pipelines/*.toml is a valid pipeline (model parameters included), on SKAB's layout."""
    root = tmp_path / "skab"
    for name in ("valve1/0.csv", "valve2/0.csv", "other/1.csv"):
        write_file(root / name, 2)
    shipped = sorted((REPO / "pipelines").glob("*.toml"))
    assert len(shipped) >= 7
    for path in shipped:
        pipeline = load_pipeline(path, data_dir=root)
        assert len(pipeline.files) == 3
        assert pipeline.detector(0).random_state == 0


BAD_FILES = [
    # (edit of the tiny pipeline, expected one-line message)
    (("[metrics]", "[metric]"), r"tiny.toml: unknown section or key 'metric' at the top level; the sections are \[data\]"),
    (('sep = ";"', 'seperator = ";"'), r"tiny.toml: \[data\] has no key 'seperator'; its keys are directory, files, sep"),
    (('label_column = "anomaly"\n', ""), r"tiny.toml: \[data\] needs 'label_column'"),
    (('files = ["a/*.csv", "b.csv"]', 'files = ["c/*.csv"]'),
     r"tiny.toml: \[data\] files: pattern 'c/\*.csv' matches no file in .*data; check the pattern"),
    (('files = ["a/*.csv", "b.csv"]', "files = 3"), r"tiny.toml: \[data\] files must be a glob pattern or a list"),
    (('sep = ";"', 'sep = ";"\nfill = "zero"'),
     r"tiny.toml: \[data\] fill must be one of error, ffill, interpolate, got 'zero'"),
    (("train_rows = 200", 'train_rows = 200\ntrain_file = "b.csv"'),
     r"tiny.toml: \[protocol\] needs exactly one of train_rows .* or train_file"),
    (("train_rows = 200", "train_rows = 0"), r"tiny.toml: \[protocol\] train_rows must be >= 1, got 0"),
    (("train_rows = 200", 'train_rows = "200"'), r"tiny.toml: \[protocol\] train_rows must be a whole number"),
    (('type = "lstm-ae"', 'type = "lstm"'), r"tiny.toml: \[model\] type must be one of lstm-ae, lstm-vae, .*got 'lstm'"),
    (("hidden_size = 8", "hiden_size = 8"), r"tiny.toml: \[model\] model 'lstm-ae' takes no parameter 'hiden_size'"),
    (("hidden_size = 8", "hidden_size = 0"), r"tiny.toml: \[model\] hidden_size must be a positive integer, got 0"),
    (("smoothing = 3", "smoothing = 0"), r"tiny.toml: \[model\] smoothing must be a whole number of rows >= 1"),
    (("learning_rate = 0.01", 'learning_rate = "fast"'), r"tiny.toml: \[model\] learning_rate must be positive, got 'fast'"),
    (("hidden_size = 8", "hidden_size = [8]"), r"tiny.toml: \[model\] hidden_size must be a positive integer, got \[8\]"),
    (("hidden_size = 8", "hidden_size = 8\nrandom_state = 3"), r"tiny.toml: \[model\] random_state is set by \[run\] seeds"),
    (('spec = "ucl:q=0.99,factor=1.5"', 'spec = "ucl:q=2"'), r"tiny.toml: \[threshold\] spec: threshold spec 'ucl:q=2'"),
    (('on = "all"', 'on = "test"'), r"tiny.toml: \[threshold\] on must be one of validation, all, got 'test'"),
    (("seeds = [0, 1]", "seeds = [0, 0]"), r"tiny.toml: \[run\] seeds lists a seed twice"),
    (("seeds = [0, 1]", 'seeds = ["a"]'), r"tiny.toml: \[run\] seeds must be a non-empty list of whole numbers"),
    (('report = ["auc_pr", "f1", "far"]', 'report = ["accuracy"]'),
     r"tiny.toml: \[metrics\] report: unknown metric 'accuracy'; choose from tp, fp"),
    (("[protocol]", "[protocol"), r"tiny.toml: not valid TOML \(.*line \d+.*\); fix the line it names"),
]


@pytest.mark.parametrize("change, message", BAD_FILES)
def test_bad_pipeline_files_are_one_line_config_errors(change, message, pipeline_file):
    pipeline_file.write_text(edit(TINY, *change))
    with pytest.raises(ConfigError, match=message) as caught:
        load_pipeline(pipeline_file)
    assert "\n" not in str(caught.value)


def test_a_file_shorter_than_the_training_rows_is_a_data_error_naming_it(pipeline_file, data_dir):
    short = pd.read_csv(data_dir / "b.csv", sep=";").iloc[:150]
    short.to_csv(data_dir / "b.csv", sep=";", index=False)
    with pytest.raises(DataError, match=r"b\.csv: has 150 rows, not more than \[protocol\] train_rows = 200"):
        run_pipeline(pipeline_file, quiet=True, track=False)


def test_seqae_run_prints_the_table_and_errors_in_one_line(pipeline_file, store):
    runner = CliRunner()
    ok = runner.invoke(cli, ["run", str(pipeline_file), "--seeds", "0", "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert "auc_pr" in ok.output and "mean ± std over seeds 0; 3 files; run " in ok.output

    pipeline_file.write_text(edit(TINY, 'type = "lstm-ae"', 'type = "lstm"'))
    bad = runner.invoke(cli, ["run", str(pipeline_file)])
    assert bad.exit_code == 2
    assert bad.output.count("\n") == 1 and "[model] type must be one of" in bad.output
    bad_seeds = runner.invoke(cli, ["run", str(pipeline_file), "--seeds", "x"])
    assert bad_seeds.exit_code == 2 and "is not a comma-separated list of whole numbers" in bad_seeds.output
