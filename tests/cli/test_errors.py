"""What a user is shown when something is wrong: one line, a long value cut, no password; and the
mistakes that gave more (a huge cell, two outputs on one path, a damaged model config), each
through the real command.
"""

from __future__ import annotations

import json
import re

import pytest

from fault_helpers import one_error_line, seqae, write_sensors
from seqae.errors import brief, hide_credentials, shorten, shown


@pytest.mark.parametrize("value, expected", [
    ("n/a", "'n/a'"),
    (3.5, "3.5"),
    ("x" * 80, repr("x" * 80)),
    ("x" * 81, "'" + "x" * 30 + "…(21 characters)…" + "x" * 30 + "'"),
    (list(range(100)), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9,…(330 characters)…2, 93, 94, 95, 96, 97, 98, 99]"),
])
def test_shorten_quotes_a_value_at_a_readable_length(value, expected):
    assert shorten(value) == expected


def test_shorten_does_not_build_the_repr_of_a_huge_string():
    cell = "7" * 50_000_000
    assert len(shorten(cell)) < 100 and "(49999940 characters)" in shorten(cell)


@pytest.mark.parametrize("text, expected", [
    ("open http://alice:s3cret@host:5000/#/x", "open http://alice:***@host:5000/#/x"),
    ("at https://token@github.com/org/repo", "at https://***@github.com/org/repo"),
    ("sqlite:////data/mlflow.db and http://host:5000", "sqlite:////data/mlflow.db and http://host:5000"),
    ("mail alice@example.com", "mail alice@example.com"),
    ("API request to http://a:b@h/api and http://c:d@i/", "API request to http://a:***@h/api and http://c:***@i/"),
])
def test_hide_credentials(text, expected):
    assert hide_credentials(text) == expected


def test_a_message_is_shown_without_password_and_at_most_a_few_thousand_characters():
    message = "data.csv: column 'a' has 1 non-numeric values (first at row 2: '" + "x" * 10_000_000 + "'); fix it"
    assert len(shown(message)) <= 2000 and shown(message).endswith("'); fix it")
    assert shown(message).startswith("data.csv: column 'a' has 1 non-numeric values")
    assert brief("short") == "short"
    assert shown("cannot reach http://alice:s3cret@host") == "cannot reach http://alice:***@host"


def test_an_error_about_a_huge_cell_writes_a_short_line(tmp_path):
    path = write_sensors(tmp_path / "sensors.csv", 100)
    lines = path.read_text().splitlines()
    lines[51] = lines[51].split(",")[0] + ",1.0," + "9x" * 10_000_000 + ",2.0"  # a 20 MB cell in column b
    path.write_text("\n".join(lines) + "\n")
    done = seqae(["fit", path, "--model", "pca", "--window-size", "4"], tmp_path)
    assert done.returncode == 1
    assert len(done.stderr) < 500, len(done.stderr)
    line = one_error_line(done.stderr)
    assert re.fullmatch(r"Error: \S*sensors\.csv: column 'b' has 1 non-numeric values \(first at row 52: '(9x){15}"
                        r"…\(19999940 characters\)…(9x){15}'\); clean them or leave the column out with --columns",
                        line), line


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    write_sensors(root / "train.csv", 300)
    from seqae.data import read_sensor_csv
    from seqae.detectors import make_detector

    make_detector("pca", window_size=4).fit(read_sensor_csv(root / "train.csv")).save(root / "model")
    return root


@pytest.mark.parametrize("intervals", ["x.csv", "./x.csv", "sub/../x.csv"])
def test_two_outputs_on_one_path_are_refused_before_any_work(model, tmp_path, intervals):
    (tmp_path / "sub").mkdir()
    done = seqae(["score", "no-such-model", model / "train.csv", "-o", "x.csv", "--intervals", intervals], tmp_path)
    assert done.returncode == 2
    assert one_error_line(done.stderr) == (f"Error: --output and --intervals both name {intervals}: the second would "
                                           "replace the first; give each output a file of its own")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda c: c["params"].update(hidden_layers=3), r"parameter 'hidden_layers' is not one a pca takes"),
    (lambda c: c.pop("scaler"), r"has no 'scaler'"),
    (lambda c: c.update(params="window_size=4"), r"'params' is str 'window_size=4', not an object of parameters"),
    (lambda c: c["params"].update(window_size="four"), r"the saved model does not load \(window_size must be a "
                                                      r"positive integer, got 'four'\)"),
    (lambda c: c.update(scaler={"mean": [0.0]}), r"the saved model does not load \(KeyError: 'scale'\)"),
])
def test_a_damaged_model_config_is_one_line_naming_the_file(model, tmp_path, damage, message):
    folder = tmp_path / "model"
    folder.mkdir()
    config = json.loads((model / "model" / "config.json").read_text())
    damage(config)
    (folder / "config.json").write_text(json.dumps(config))
    done = seqae(["score", folder, model / "train.csv", "-o", "out.csv"], tmp_path)
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert re.match(rf"Error: {re.escape(str(folder / 'config.json'))}: {message}; fit the model again", line), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
