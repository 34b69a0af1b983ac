"""seqae: learn what normal multi-sensor sequences look like, flag what is not, say which sensors moved."""

import os

# torch's OpenMP threads spin while they wait for each other; when another process keeps a core
# busy they spin against it, and a small fit can take many times as long. Passive waiting avoids
# that (benchmarks/README.md, "threads", measures both), and the CLI uses one thread unless told
# otherwise (`seqae --threads`). OpenMP reads this once, when torch loads; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from seqae.data import Scaler, read_sensor_csv
from seqae.detectors import (DETECTORS, BaseDetector, ConvAutoencoder, DenseAutoencoder, Detection,
                             DeviationDetector, LSTMAutoencoder, LSTMVAE, PCADetector, make_detector)
from seqae.errors import ConfigError, DataError, DataWarning, NotFittedError, SeqaeError, TrainingError
from seqae.thresholds import (FalseAlarmRateThreshold, FixedThreshold, PeaksOverThreshold,
                              QuantileThreshold, Threshold, UpperControlLimit, flags_to_intervals,
                              make_threshold, parse_threshold)

__version__ = "0.1.0"

__all__ = [
    "BaseDetector", "ConfigError", "ConvAutoencoder", "DETECTORS", "DataError", "DataWarning",
    "DenseAutoencoder", "Detection", "DeviationDetector", "FalseAlarmRateThreshold", "FixedThreshold",
    "LSTMAutoencoder", "LSTMVAE", "NotFittedError", "PCADetector", "PeaksOverThreshold", "QuantileThreshold",
    "Scaler", "SeqaeError", "Threshold", "TrainingError", "UpperControlLimit", "flags_to_intervals",
    "make_detector", "make_threshold", "parse_threshold", "read_sensor_csv", "__version__",
]
