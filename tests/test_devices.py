"""Where the networks compute: the device choice and the CPU threads (`seqae.devices`).

There is no GPU where the suite runs: `cuda` is checked for its refusal, `cpu` and `auto` for
giving the scores of the CPU to the bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqae import devices
from seqae.detectors import BaseDetector, make_detector
from seqae.errors import ConfigError

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="tests the refusal where torch sees no GPU")


def test_auto_is_the_cpu_without_a_gpu_and_cpu_is_the_cpu():
    assert devices.resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert devices.resolve_device("auto").type == expected


@no_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_one_line_saying_what_to_use(device):
    with pytest.raises(ConfigError, match=rf"device '{device}': torch sees no CUDA GPU here .*use --device cpu or auto"):
        devices.resolve_device(device)


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "", None, 0])
def test_an_unknown_device_is_refused(device):
    with pytest.raises(ConfigError, match="device must be one of auto, cpu, cuda"):
        devices.resolve_device(device)


def test_a_detector_checks_its_device_parameter():
    with pytest.raises(ConfigError, match="device"):
        make_detector("lstm-ae", device="gpu").check_params()


def test_compute_threads_sets_torchs_count_inside_and_restores_the_callers(monkeypatch):
    before = torch.get_num_threads()
    try:
        devices.set_threads(None)  # as a fresh process has it: an in-process CLI run before may have set it
        torch.set_num_threads(2)
        monkeypatch.delenv(devices.THREADS_ENV, raising=False)
        with devices.compute_threads():
            assert torch.get_num_threads() == 1  # the default
        assert torch.get_num_threads() == 2
        monkeypatch.setenv(devices.THREADS_ENV, "3")
        with devices.compute_threads():
            assert torch.get_num_threads() == 3
        devices.set_threads(1)  # the CLI's --threads wins over the environment
        with devices.compute_threads():
            assert torch.get_num_threads() == 1
    finally:
        devices.set_threads(None)
        torch.set_num_threads(before)


@pytest.mark.parametrize("text", ["0", "-1", "two"])
def test_a_bad_thread_count_in_the_environment_is_one_line(monkeypatch, text):
    monkeypatch.setenv(devices.THREADS_ENV, text)
    with pytest.raises(ConfigError, match=rf"SEQAE_THREADS='{text}': expected a whole number of threads >= 1"):
        devices.threads_wanted()


def test_fit_and_detect_run_on_seqaes_threads_and_leave_the_callers(frame):
    before = torch.get_num_threads()
    seen = []
    detector = make_detector("lstm-ae", window_size=8, hidden_size=8, latent_dim=4, epochs=1, random_state=0)
    original = type(detector)._window_scores

    def spy(self, windows):
        seen.append(torch.get_num_threads())
        return original(self, windows)

    try:
        torch.set_num_threads(2)
        type(detector)._window_scores = spy
        detector.fit(frame.iloc[:300]).detect(frame.iloc[300:400])
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        type(detector)._window_scores = original
        torch.set_num_threads(before)


@pytest.mark.parametrize("model_type", ["lstm-ae", "lstm-vae", "lstm-forecast", "dense-ae", "conv-ae"])
def test_device_cpu_and_auto_give_the_same_model_and_scores_to_the_bit(model_type, frame, tmp_path):
    params = dict(window_size=8, hidden_size=8, epochs=2, random_state=0)
    if model_type != "lstm-forecast":
        params["latent_dim"] = 4
    auto = make_detector(model_type, **params).fit(frame.iloc[:300])
    cpu = make_detector(model_type, **params, device="cpu").fit(frame.iloc[:300])
    if torch.cuda.is_available():
        pytest.skip("auto is the GPU here: its scores agree with the CPU's within a tolerance, not to the bit")
    np.testing.assert_array_equal(cpu.anomaly_score(frame), auto.anomaly_score(frame))
    loaded = BaseDetector.load(cpu.save(tmp_path / "model"))
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.set_params(device="auto").anomaly_score(frame), auto.anomaly_score(frame))


@no_gpu
def test_a_model_set_to_cuda_refuses_to_score_without_a_gpu(frame):
    detector = make_detector("lstm-ae", window_size=8, hidden_size=8, latent_dim=4, epochs=1, random_state=0)
    detector.fit(frame.iloc[:300]).set_params(device="cuda")
    with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
        detector.detect(frame)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("model_type", ["lstm-ae", "lstm-vae", "lstm-forecast", "dense-ae", "conv-ae"])
def test_a_model_scored_on_the_gpu_agrees_with_the_cpu_within_the_stated_tolerance(model_type, frame):
    """docs/benchmarks.md: the same weights score within rtol 1e-4 (relative to the largest score) on a GPU."""
    params = dict(window_size=8, hidden_size=8, epochs=2, random_state=0, device="cpu")
    if model_type != "lstm-forecast":
        params["latent_dim"] = 4
    detector = make_detector(model_type, **params).fit(frame.iloc[:300])
    on_cpu = detector.anomaly_score(frame)
    on_gpu = detector.set_params(device="cuda").anomaly_score(frame)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-4, atol=1e-4 * np.abs(on_cpu).max())
