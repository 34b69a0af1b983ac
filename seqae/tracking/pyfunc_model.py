"""The MLflow model of a fitted seqae detector (a "model from code" file: MLflow runs it on load).

`tracking.log_detector_model` logs this file as the model's `python_model`, with the directory
written by `BaseDetector.save` (config.json + weights.pt) as the artifact `detector` and the seqae
package as code, so the model loads wherever torch, numpy, pandas and scikit-learn are installed,
seqae or not. `load_context` rebuilds the detector from those files; no pickled torch module.

`predict` takes a frame of sensor readings (rows in time order, the fitted sensor columns) and
returns one row per input row: `score`, `is_anomaly` and `contribution_<sensor>` for each sensor.
The `threshold` param overrides the fitted threshold for one call; the `reconstruction` param
(true) adds `expected_<sensor>` for each sensor: what the model expected the row to read, in the
sensor's units (`reconstruct`; neural detectors). Input that cannot be scored is
refused before any work with an `InvalidModelInput` whose JSON body is one line, without the
stack trace and the echo of the request that MLflow's scoring server adds to other errors.
"""

import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE


class InvalidModelInput(MlflowException):
    """Input the detector cannot score; served as HTTP 400 with `{"error_code", "message"}` only."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)
        self.user_message = message

    def serialize_as_json(self) -> str:
        # The scoring server prefixes `message` with a dump of the request; answer with ours only.
        body = json.loads(super().serialize_as_json())
        body["message"] = self.user_message
        return json.dumps(body)


class SeqaeDetectorModel(mlflow.pyfunc.PythonModel):
    """A seqae detector behind MLflow's pyfunc interface."""

    def load_context(self, context) -> None:
        from pathlib import Path

        from seqae.detectors import BaseDetector

        self.detector = BaseDetector.load(context.artifacts["detector"])
        # The model's own directory (MLmodel, requirements.txt), above artifacts/detector.
        self.model_dir = Path(context.artifacts["detector"]).resolve().parents[1]

    def check_input(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """The sensor columns of `model_input` as a float frame, or `InvalidModelInput` saying why not."""
        detector = self.detector
        needed = [str(name) for name in detector.feature_names_in_]
        if not isinstance(model_input, pd.DataFrame):
            raise InvalidModelInput(f"expected a table of sensor readings with columns {', '.join(needed)}, "
                                    f"got {type(model_input).__name__}; send dataframe_split or dataframe_records")
        names = [str(c) for c in model_input.columns]
        missing = [n for n in needed if n not in names]
        if missing:
            shown = ", ".join(repr(n) for n in names[:12]) or "no columns"
            raise InvalidModelInput(f"column {missing[0]!r} is missing; the request has {shown}; "
                                    f"the model needs {', '.join(repr(n) for n in needed)}")
        frame = model_input.set_axis(names, axis=1)[needed]
        if len(frame) >= detector.window_size and all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):
            # Numbers already (what a JSON request of numbers gives): one conversion, one finiteness check.
            array = frame.to_numpy(dtype=np.float64)
            if np.isfinite(array).all():
                return pd.DataFrame(array, index=frame.index, columns=needed)
        values = {}
        for name in needed:
            column = pd.to_numeric(frame[name], errors="coerce")
            bad = column.isna() & frame[name].notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InvalidModelInput(f"column {name!r} has {int(bad.sum())} non-numeric values "
                                        f"(first at row {row}: {frame[name].iloc[row]!r}); send numbers")
            if not np.isfinite(column.to_numpy(dtype=np.float64)).all():
                row = int(np.flatnonzero(~np.isfinite(column.to_numpy(dtype=np.float64)))[0])
                raise InvalidModelInput(f"column {name!r} has missing or infinite values (first at row {row}); "
                                        "fill them before sending")
            values[name] = column.to_numpy(dtype=np.float64)
        if len(frame) < detector.window_size:
            raise InvalidModelInput(f"the request has {len(frame)} rows, fewer than one window "
                                    f"(window_size={detector.window_size}); send at least "
                                    f"{detector.window_size} consecutive rows")
        return pd.DataFrame(values, index=frame.index)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = self.check_input(model_input)
        detection = self.detector.detect(frame)
        threshold = (params or {}).get("threshold")
        if threshold is not None:
            try:
                threshold = float(threshold)
            except (TypeError, ValueError):
                raise InvalidModelInput(f"param 'threshold' must be a number, got {threshold!r}") from None
            detection.threshold = threshold
            detection.flags = (detection.scores > threshold).astype(np.int8)
        # Each row's alert by the model's alert rules, the rows of the request taken as one series.
        answer = detection.to_frame(self.detector.find_alerts(detection).alert_ids).reset_index(drop=True)
        if _wants_reconstruction((params or {}).get("reconstruction")):
            answer = answer.join(self.expected_readings(frame))
        return answer

    def expected_readings(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`expected_<sensor>` per row of a checked frame, or `InvalidModelInput` for a model without a decoder."""
        detector = self.detector
        if not hasattr(detector, "reconstruct"):
            raise InvalidModelInput(f"param 'reconstruction': model {detector.model_type!r} has no decoder to say "
                                    "what it expected; send it to a neural model (lstm-ae, lstm-vae, dense-ae, conv-ae)")
        expected = detector.reconstruct(frame).reset_index(drop=True)
        return expected.set_axis([f"expected_{name}" for name in expected.columns], axis=1)


def _wants_reconstruction(value) -> bool:
    if value is None or isinstance(value, (bool, np.bool_)):
        return bool(value)
    if str(value).strip().lower() in ("true", "1", "yes"):
        return True
    if str(value).strip().lower() in ("false", "0", "no", ""):
        return False
    raise InvalidModelInput(f"param 'reconstruction' must be true or false, got {value!r}")


mlflow.models.set_model(SeqaeDetectorModel())
