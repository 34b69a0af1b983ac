"""seqae: learn what normal multi-sensor sequences look like, flag what is not, say which sensors moved."""

import os

# torch's OpenMP threads spin while they wait for each other; when another process keeps a core
# busy they spin against it, and a small fit can take many times as long. Passive waiting avoids
# that (benchmarks/README.md, "threads", measures both), and the CLI uses one thread unless told
# otherwise (`seqae --threads`). OpenMP reads this once, when torch loads; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from seqae.errors import ConfigError, DataError, DataWarning, NotFittedError, SeqaeError, TrainingError

# The rest is imported on first use (PEP 562), so that `import seqae` and `seqae --help` do not
# load torch, pandas and MLflow: `from seqae import LSTMAutoencoder` works as ever.
_LAZY = {
    "Scaler": "seqae.data", "read_sensor_csv": "seqae.data",
    **dict.fromkeys(("DETECTORS", "BaseDetector", "ConvAutoencoder", "DenseAutoencoder", "Detection",
                     "DeviationDetector", "EnsembleDetector", "IsolationForestDetector", "LSTMAutoencoder",
                     "LSTMForecaster", "LSTMVAE", "NearestWindowsDetector", "PCADetector", "make_detector"),
                    "seqae.detectors"),
    **dict.fromkeys(("FalseAlarmRateThreshold", "FixedThreshold", "PeaksOverThreshold", "QuantileThreshold",
                     "Threshold", "UpperControlLimit"), "seqae.thresholds"),
    **dict.fromkeys(("make_threshold", "parse_threshold"), "seqae.threshold_registry"),
    "flags_to_intervals": "seqae.intervals",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seqae' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "BaseDetector", "ConfigError", "ConvAutoencoder", "DETECTORS", "DataError", "DataWarning",
    "DenseAutoencoder", "Detection", "DeviationDetector", "EnsembleDetector", "FalseAlarmRateThreshold",
    "FixedThreshold", "IsolationForestDetector", "LSTMAutoencoder", "LSTMForecaster", "LSTMVAE",
    "NearestWindowsDetector", "NotFittedError", "PCADetector", "PeaksOverThreshold", "QuantileThreshold",
    "Scaler", "SeqaeError", "Threshold", "TrainingError", "UpperControlLimit", "flags_to_intervals",
    "make_detector", "make_threshold", "parse_threshold", "read_sensor_csv", "__version__",
]
