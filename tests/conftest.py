"""Seeded fixtures: a small generated multi-sensor series with known anomalies, tiny detectors.

The series has 1000 rows of 3 correlated sensors; the first 600 are normal (the training rows),
then a spike (sensor_0) and a 40-row level shift (sensor_1) are injected. Data seed 2 is one where
no two sensors are nearly collinear, so "which sensor moved" has one answer: with two sensors
correlated at |r| > 0.9 a shift in one can be explained as a shift in the other, and attribution
becomes a property of the data, not of the detector.

Tiny detectors (window 16, hidden 16, latent 8, 6 epochs at learning rate 0.01) fit in well under a
second each on one CPU core and separate the injected anomalies with a wide margin (AUC-ROC 1.0 for
model seeds 0-9), so the tests that rely on it are not one lucky seed away from failing.
"""

from __future__ import annotations

import io
import sys

import pytest
import torch
from hypothesis import settings
from threadpoolctl import threadpool_limits

from seqae.detectors import DETECTORS, make_detector
from seqae.synthetic import make_sensor_data

# Property tests: no time limit per example (a loaded two-core CI machine is slow, and a deadline
# would fail a correct test), and the same examples on every run, so that a red run can be re-run.
settings.register_profile("seqae", deadline=None, derandomize=True)
settings.load_profile("seqae")

N_ROWS, N_NORMAL, N_SENSORS = 1000, 600, 3
WINDOW = 16
TINY_NET = dict(hidden_size=16, latent_dim=8, epochs=6, learning_rate=0.01)
MODEL_TYPES = list(DETECTORS)
NEURAL_TYPES = [m for m in MODEL_TYPES if m not in ("pca", "iforest", "deviation", "knn-window", "ensemble")]


# The modules that take longest (real servers, Spark, subprocesses): collected first, so that with
# `pytest -n 2 --dist loadfile` (what `make test` runs) they start at once and the two workers end
# together instead of one of them starting a two-minute module at the end.
SLOW_MODULES = ("test_spark.py", "test_tracking_server.py", "test_store.py", "test_watch.py", "test_serve.py",
                "test_streaming.py", "test_fleet_signals.py", "test_cli.py", "test_fleet_cli.py", "test_formats.py")


def pytest_collection_modifyitems(items):
    """Slow modules first (stable: each module's tests keep their order)."""
    def rank(item):
        name = item.path.name
        return SLOW_MODULES.index(name) if name in SLOW_MODULES else len(SLOW_MODULES)
    items.sort(key=rank)


def tiny_params(model_type: str, **overrides) -> dict:
    """Parameters of a detector small enough for a unit test, seeded."""
    params = dict(random_state=0) if model_type == "deviation" else dict(window_size=WINDOW, random_state=0)
    if model_type in NEURAL_TYPES:
        accepted = DETECTORS[model_type]().get_params()
        params.update({k: v for k, v in TINY_NET.items() if k in accepted})
    params.update(overrides)
    return params


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def terminal(monkeypatch):
    """Call it to replace stderr by a buffer that says it is a terminal (progress bars draw only on
    one); it returns the buffer. Called in the test itself: pytest's capture sets stderr again
    between a fixture's setup and the test."""
    def replace() -> io.StringIO:
        buffer = _Terminal()
        monkeypatch.setattr(sys, "stderr", buffer)
        return buffer
    return replace


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One torch and one BLAS thread: the models are tiny, and on a loaded two-core machine
    OpenBLAS threads spin against each other (a 585 × 48 SVD took 1.3 s with two, 1 ms with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def sensor_data():
    """(frame, labels, injected): 1000 rows × 3 sensors; spike and level shift after row 600."""
    return make_sensor_data(
        N_ROWS, N_SENSORS, normal_rows=N_NORMAL, anomalies=("spike", "level_shift"),
        anomaly_length=40, random_state=2,
    )


@pytest.fixture(scope="session")
def frame(sensor_data):
    return sensor_data[0]


@pytest.fixture(scope="session")
def train_frame(frame):
    """The normal rows the detectors are fitted on."""
    return frame.iloc[:N_NORMAL]


@pytest.fixture
def make_tiny():
    """Factory: `make_tiny(model_type, **overrides)` -> an unfitted tiny detector."""
    return lambda model_type, **overrides: make_detector(model_type, **tiny_params(model_type, **overrides))


@pytest.fixture(scope="session")
def fitted_detectors(train_frame):
    """One tiny detector of every type fitted on the normal rows. Read-only: clone before changing."""
    return {m: make_detector(m, **tiny_params(m)).fit(train_frame) for m in MODEL_TYPES}
