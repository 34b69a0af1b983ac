"""The metric names of a run, as MLflow's run page groups them: one section per prefix (the text
before the first "/"), sorted case-sensitively, so the capitalised sections lead."""

from __future__ import annotations

import re

import pytest
from cli_store import FIT_ARGS, fitted_store, run
from mlflow.tracking import MlflowClient

from seqae import metrics
from seqae.tracking import metric_names
from seqae.tracking.metric_names import evaluation_name, flat_name, metric_name


def test_a_fit_and_its_evaluation_lead_with_evaluation_then_loss(tmp_path_factory, tmp_path, monkeypatch):
    store = fitted_store(tmp_path_factory)  # its CSVs: normal training rows, labelled test rows
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fitted = run("fit", store.train_csv, *FIT_ARGS, "--plots", "none")
    assert fitted.exit_code == 0, fitted.output
    run_id = re.search(r"^run:\s+([0-9a-f]{32})", fitted.stdout, re.M).group(1)
    model_uri = re.search(r"^model:\s+(models:/m-[0-9a-f]+)", fitted.stdout, re.M).group(1)
    evaluated = run("evaluate", model_uri, store.test_csv, "--label-column", "anomaly")
    assert evaluated.exit_code == 0, evaluated.output

    client = MlflowClient()
    names = set(client.get_run(run_id).data.metrics)
    assert [name for name in names if "/" not in name] == []  # MLflow's last section, "Model metrics", stays empty
    sections = sorted({name.split("/")[0] for name in names})  # as the page sorts them: upper case first
    assert sections == ["Evaluation", "Loss", "alerts", "evaluation details", "scores", "training"]
    assert {name for name in names if name.startswith("Evaluation/")} == {
        f"Evaluation/{key}" for key in metric_names.KEY_EVALUATION}
    assert {name for name in names if name.startswith("Loss/")} == {"Loss/train", "Loss/validation"}
    epochs = int(client.get_run(run_id).data.metrics["training/epochs_run"])
    for name in ("Loss/train", "Loss/validation"):
        assert sorted(m.step for m in client.get_metric_history(run_id, name)) == list(range(1, epochs + 1))


def test_every_evaluation_key_is_named_and_reads_back_flat():
    keys = (*metrics.METRIC_KEYS, *metrics.MEAN_KEYS, *metrics.ALERT_METRIC_KEYS)
    assert set(metric_names.KEY_EVALUATION) <= set(keys)
    for key in keys:
        assert metric_name(key) == evaluation_name(key)
        assert flat_name(evaluation_name(key)) == f"eval_{key}"
    for flat, name in (("threshold", "scores/threshold"), ("train_score_p99", "scores/train_p99"),
                       ("train_n_alerts", "alerts/train_n_alerts"), ("ap_spike", "Validation/ap_spike")):
        assert metric_name(flat) == name and flat_name(name) == flat
    assert flat_name("Loss/train") == "train_loss" and flat_name("scores/p50") is None


def test_a_key_without_a_section_is_refused():
    with pytest.raises(ValueError, match=r"metric 'new_figure' has no section; name it in seqae/tracking/metric_names.py"):
        metric_name("new_figure")
