"""What seqae promises about identical scores, with the hazards made visible on any machine.

BLAS and oneDNN kernels may sum a product in an order that depends on the CPU, on where the
operands lie in memory and on the thread count. What is promised (docs/guides/reproducibility.md):

- the same fitted model gives bitwise-identical scores whatever the memory placement of the input
  and of its own arrays (a reloaded model's arrays lie elsewhere), and however the rows are cut
  into scoring batches (chunked scoring cuts them differently);
- the baselines (pca, iforest, deviation) give identical scores with 1 or 2 threads, on any
  x86-64 CPU: their arithmetic is float64 rounded to float32, or elementwise;
- the networks give identical scores at a given thread count; across thread counts their scores
  agree to float32 rounding (1e-5 relative), since torch's kernels may split work by thread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits

from conftest import MODEL_TYPES, NEURAL_TYPES
from seqae import devices
from seqae.detectors import BaseDetector

every_detector = pytest.mark.parametrize("model_type", MODEL_TYPES)


def unaligned(array: np.ndarray, offset: int) -> np.ndarray:
    """A copy of `array` starting `offset` bytes past a 64-byte boundary (a view into a larger buffer)."""
    buffer = np.empty(array.nbytes + 128, dtype=np.uint8)
    start = (-buffer.ctypes.data) % 64 + offset
    view = buffer[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    view[...] = array
    assert view.ctypes.data % 64 == offset
    return view


def _frame_at(frame: pd.DataFrame, offset: int) -> pd.DataFrame:
    values = unaligned(np.ascontiguousarray(frame.to_numpy(dtype=np.float64)), offset)
    return pd.DataFrame(values, index=frame.index, columns=frame.columns, copy=False)


def _threads(n: int):
    devices.set_threads(n)  # what seqae's scoring runs on (it sets torch's count inside detect)
    return threadpool_limits(limits=n)


@every_detector
@pytest.mark.parametrize("offset", [8, 24, 40])
def test_scores_do_not_depend_on_where_the_input_lies(model_type, offset, fitted_detectors, frame):
    detector = fitted_detectors[model_type]
    expected = detector.detect(frame)
    moved = detector.detect(_frame_at(frame, offset))
    np.testing.assert_array_equal(moved.scores, expected.scores)
    np.testing.assert_array_equal(moved.contributions, expected.contributions)


@every_detector
def test_a_reloaded_model_with_its_arrays_moved_scores_identically(model_type, fitted_detectors, frame, tmp_path):
    detector = fitted_detectors[model_type]
    expected = detector.anomaly_score(frame)
    loaded = BaseDetector.load(detector.save(tmp_path / "model"))
    for name in ("mean_", "components_"):  # the PCA's arrays: where the Xeon hazard was
        if hasattr(loaded, name):
            setattr(loaded, name, unaligned(np.ascontiguousarray(getattr(loaded, name)), 4))
    if hasattr(loaded, "net_"):
        for parameter in loaded.net_.parameters():  # torch storage at an odd offset too
            moved = torch.empty(parameter.numel() + 1, dtype=parameter.dtype)[1:].view(parameter.shape)
            moved.copy_(parameter.detach())
            parameter.data = moved
    np.testing.assert_array_equal(loaded.anomaly_score(_frame_at(frame, 8)), expected)


@every_detector
def test_scores_do_not_depend_on_how_windows_are_batched(model_type, fitted_detectors, frame, monkeypatch):
    detector = fitted_detectors[model_type]
    expected = detector.anomaly_score(frame)
    for batch in (1, 7, 100):
        monkeypatch.setattr(type(detector), "score_batch_size", lambda self, batch=batch: batch)
        np.testing.assert_array_equal(detector.anomaly_score(frame), expected)


@every_detector
def test_one_or_two_threads(model_type, fitted_detectors, frame):
    detector = fitted_detectors[model_type]
    try:
        with _threads(1):
            one = detector.anomaly_score(frame)
        with _threads(2):
            two = detector.anomaly_score(_frame_at(frame, 8))
    finally:
        devices.set_threads(None)  # back to the default (one thread)
        torch.set_num_threads(1)  # the suite's setting (conftest)
    if model_type in NEURAL_TYPES:
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6 * np.abs(one).max())
    else:
        np.testing.assert_array_equal(two, one)
