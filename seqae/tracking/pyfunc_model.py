"""The MLflow model of a fitted seqae detector (a "model from code" file: MLflow runs it on load).

`tracking.log_detector_model` logs this file as the model's `python_model`, with the directory
written by `BaseDetector.save` (config.json + weights.pt) as the artifact `detector` and the seqae
package as code, so the model loads wherever torch, numpy, pandas and scikit-learn are installed,
seqae or not. `load_context` rebuilds the detector from those files; no pickled torch module.

A fleet (`seqae.fleet.FleetDetector`, the artifact `fleet` instead of `detector`) is one model
too: its input adds the asset column (e.g. `machine`) to the sensors, each asset's rows in time
order, and `predict` scores each asset's rows with that asset's detector, answering the asset
column first, then the columns below, in the request's row order.

`predict` takes a frame of sensor readings (rows in time order, the fitted sensor columns) and
returns one row per input row, decided as a live feed of those rows would be (`BaseDetector.detect`):
`score` (calibrated: 1.0 = the threshold), `raw_score`, `is_anomaly`, `alert_id`, `warming_up` and
`contribution_<sensor>` for each sensor, for a model that watches state and constant columns
`state_events` (`seqae.data.states`: what the request's rows of them did that training never saw),
and for a model that keeps labelled faults (`seqae feedback
--fault`) `like_fault`: the fault the row's alert is like (`seqae.alerts.faults`), "" for none. The
`threshold` param sets the flag level on the calibrated score for one call; the `reconstruction` param
(true) adds `expected_<sensor>` for each sensor: what the model expected the row to read, in the
sensor's units (`reconstruct`; neural detectors). Input that cannot be scored, and a param the
model does not take or of the wrong kind (`scoring_params`), is refused before any work with an
`InvalidModelInput` whose JSON body is one line, without the stack trace and the echo of the
request that MLflow's scoring server adds to other errors.
"""

import json
import math
from dataclasses import dataclass

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


# The params a request may carry, and what each takes (for the message that refuses another).
PARAMS = {"threshold": "a number", "reconstruction": "true or false", "context_rows": "a whole number >= 0"}


@dataclass(frozen=True)
class ScoringParams:
    """A request's params, checked (`scoring_params`)."""

    threshold: float | None = None  # None: the model's own
    reconstruction: bool = False  # add expected_<sensor> to the answer
    context_rows: int | None = None  # None: the default scores; k: causal scores of the rows after the first k


def scoring_params(params: dict | None) -> ScoringParams:
    """The `params` of a request (a dictionary of `PARAMS` names, or None), checked; `InvalidModelInput`
    naming the first one that is unknown or of the wrong kind, and what the model takes."""
    if params is None:
        return ScoringParams()
    taken = ", ".join(f"{name} ({kind})" for name, kind in PARAMS.items())
    if not isinstance(params, dict):
        raise InvalidModelInput(f"params must be a dictionary of names and values, got {type(params).__name__}; "
                                f"the model takes {taken}")
    unknown = [name for name in params if name not in PARAMS]
    if unknown:
        raise InvalidModelInput(f"unknown param {unknown[0]!r}; the model takes {taken}")
    return ScoringParams(_threshold(params.get("threshold")), _wants_reconstruction(params.get("reconstruction")),
                         _context_rows(params.get("context_rows")))


class SeqaeDetectorModel(mlflow.pyfunc.PythonModel):
    """A seqae detector behind MLflow's pyfunc interface."""

    def load_context(self, context) -> None:
        from pathlib import Path

        from seqae.detectors import BaseDetector

        self.fleet = None  # a seqae.fleet.FleetDetector: one detector per asset, routed by the asset column
        artifact = context.artifacts["fleet"] if "fleet" in context.artifacts else context.artifacts["detector"]
        # The model's own directory (MLmodel, requirements.txt), above artifacts/<detector or fleet>.
        self.model_dir = Path(artifact).resolve().parents[1]
        if "fleet" in context.artifacts:
            from seqae.fleet import FleetDetector

            self.fleet = FleetDetector.load(context.artifacts["fleet"])
            self.detector = None
        else:
            self.detector = BaseDetector.load(context.artifacts["detector"])

    def check_input(self, model_input: pd.DataFrame, min_rows: int | None = None) -> pd.DataFrame:
        """The sensor columns of `model_input` as a float frame (for a fleet, with the asset column
        first), or `InvalidModelInput` saying why not. `min_rows`: the rows a request with context
        needs (context + 1) instead of a window."""
        if self.fleet is not None:
            if min_rows is not None:
                raise InvalidModelInput("param 'context_rows' is not offered by a fleet model; send the rows of "
                                        "one machine to a model fitted on it alone")
            return self.check_fleet_input(model_input)
        return self.check_sensors(model_input, self.detector, min_rows)

    def check_fleet_input(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """The asset column and the sensors; every asset known (or a fallback) with a window of rows."""
        from seqae.errors import DataError
        from seqae.fleet import asset_key

        fleet, column = self.fleet, self.fleet.asset_column
        if isinstance(model_input, pd.DataFrame) and column not in [str(c) for c in model_input.columns]:
            shown = ", ".join(repr(str(n)) for n in list(model_input.columns)[:12]) or "no columns"
            raise InvalidModelInput(f"column {column!r} that names each row's {column} is missing; the request "
                                    f"has {shown}; send it beside the sensors")
        frame = self.check_sensors(model_input, None)
        assets = model_input.set_axis([str(c) for c in model_input.columns], axis=1)[column]
        if assets.isna().any():
            raise InvalidModelInput(f"column {column!r} is empty at row {int(np.flatnonzero(assets.isna())[0])}; "
                                    f"every row needs its {column}")
        keys = assets.map(asset_key)
        for key in pd.unique(keys):
            try:
                detector = fleet.detector_for(key)
            except DataError as exc:
                raise InvalidModelInput(str(exc)) from None
            n_rows = int((keys == key).sum())
            if n_rows < detector.window_size:
                raise InvalidModelInput(f"{column} {key!r} has {n_rows} rows in the request, fewer than one window "
                                        f"(window_size={detector.window_size}); send at least "
                                        f"{detector.window_size} consecutive rows of each {column}")
        frame.insert(0, column, keys.to_numpy())
        return frame

    def check_sensors(self, model_input: pd.DataFrame, detector, min_rows: int | None = None) -> pd.DataFrame:
        """The sensor columns of `model_input` as a float frame, at least a window of rows (or
        `min_rows`) unless `detector` is None (a fleet's: its sensors, the rows counted per asset)."""
        fitted = detector if detector is not None else self.fleet
        needed = [str(name) for name in fitted.feature_names_in_]
        if not isinstance(model_input, pd.DataFrame):
            raise InvalidModelInput(f"expected a table of sensor readings with columns {', '.join(needed)}, "
                                    f"got {type(model_input).__name__}; send dataframe_split or dataframe_records")
        names = [str(c) for c in model_input.columns]
        missing = [n for n in needed if n not in names]
        if missing:
            shown = ", ".join(repr(n) for n in names[:12]) or "no columns"
            raise InvalidModelInput(f"column {missing[0]!r} is missing; the request has {shown}; "
                                    f"the model needs {', '.join(repr(n) for n in needed)}")
        enough = min_rows if min_rows is not None else (detector.window_size if detector is not None else 0)
        if (list(model_input.columns) == needed and len(model_input) >= enough
                and all(t == np.float64 for t in model_input.dtypes)
                and np.isfinite(model_input.to_numpy()).all()):
            return model_input  # the sensors alone, in order, as finite float64 already: nothing to convert
        frame = model_input.set_axis(names, axis=1)[needed]
        if len(frame) >= enough and all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):
            # Numbers already (what a JSON request of numbers gives): one conversion, one finiteness check.
            array = frame.to_numpy(dtype=np.float64)
            if np.isfinite(array).all():
                return pd.DataFrame(array, index=frame.index, columns=needed)
        values = {}
        for name in needed:
            column = pd.to_numeric(frame[name], errors="coerce")
            bad = column.isna() & frame[name].notna()
            if bad.any():
                from seqae.errors import shorten

                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InvalidModelInput(f"column {name!r} has {int(bad.sum())} non-numeric values "
                                        f"(first at row {row}: {shorten(frame[name].iloc[row])}); send numbers")
            if not np.isfinite(column.to_numpy(dtype=np.float64)).all():
                row = int(np.flatnonzero(~np.isfinite(column.to_numpy(dtype=np.float64)))[0])
                raise InvalidModelInput(f"column {name!r} has missing or infinite values (first at row {row}); "
                                        "fill them before sending")
            values[name] = column.to_numpy(dtype=np.float64)
        if detector is not None and min_rows is not None:
            if len(frame) < min_rows:
                raise InvalidModelInput(f"the request has {len(frame)} rows; with context_rows={min_rows - 1} "
                                        f"send the {min_rows - 1} context rows and at least one row to score")
        elif detector is not None and len(frame) < detector.window_size:
            raise InvalidModelInput(f"the request has {len(frame)} rows, fewer than one window "
                                    f"(window_size={detector.window_size}); send at least "
                                    f"{detector.window_size} consecutive rows")
        return pd.DataFrame(values, index=frame.index)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Scores, flags, alert ids and contributions of the request's rows (taken as one series;
        for a fleet model, each asset's rows as its own series).

        params: `threshold` (a number) the flag level on the calibrated score (1.0: the model's
        threshold); `reconstruction` (true) adds the expected readings; `context_rows` (k >= 0)
        answers only the rows after the first k, which are context: a client that slides a window
        over a feed, sending the last rows it already had answered before the new ones (at least
        `window_size - 1`, and the rules' `burn_in` more for decisions), gets the new rows' answers.
        """
        if self.fleet is not None:
            return self.predict_fleet(model_input, params)
        return pd.DataFrame(self.answer_columns(model_input, params))

    def predict_records(self, model_input: pd.DataFrame, params: dict | None = None) -> list[dict]:
        """`predict(None, model_input, params).to_dict(orient="records")`: the same rows, keys, values
        and Python types (float, int), built from the answer's arrays without a frame between (the
        scoring server's answer to a JSON request)."""
        if self.fleet is not None:
            return self.predict_fleet(model_input, params).to_dict(orient="records")
        columns = self.answer_columns(model_input, params)
        names = list(columns)
        return [dict(zip(names, row)) for row in zip(*(values.tolist() for values in columns.values()))]

    def predict_fleet(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """`predict` of a fleet model: each asset's rows to its detector, alert ids counted within the
        asset, in the request's order."""
        checked = scoring_params(params)
        if checked.context_rows is not None:
            raise InvalidModelInput("param 'context_rows' is not offered by a fleet model; send the rows of "
                                    "one machine to a model fitted on it alone")
        frame = self.check_fleet_input(model_input)
        if checked.reconstruction:
            raise InvalidModelInput("param 'reconstruction' is not offered by a fleet model; send the rows of "
                                    "one machine to a model fitted on it alone")
        return self.fleet.score_frame(frame, threshold=checked.threshold).reset_index(drop=True)

    def answer_columns(self, model_input: pd.DataFrame, params: dict | None = None) -> dict[str, np.ndarray]:
        """The columns of a single detector's answer (`predict`), in order, one value per answered row."""
        checked = scoring_params(params)
        context_rows, level = checked.context_rows, checked.threshold
        frame = self.check_input(model_input, None if context_rows is None else context_rows + 1)
        book = getattr(self.detector, "states_", None)
        states = book.given(model_input) if book is not None and book.columns else None
        if states is not None:  # the watched state columns the request holds: its rows' state_events
            frame = frame.assign(**{name: states[name].to_numpy() for name in states.columns})
        # The rows of the request are a feed of their own, decided from its first row by the model's rules.
        detection = self.detector.detect(frame, level=1.0 if level is None else level)
        columns = detection.columns()
        faults = getattr(self.detector, "faults_", None)
        if faults:  # a model that keeps labelled faults names the one each row's alert is like
            from seqae.alerts.faults import like_fault_rows

            columns["like_fault"] = like_fault_rows(detection.alert_ids, detection.alerts, detection.feature_names,
                                                    faults)
        if checked.reconstruction:
            expected = self.expected_readings(frame)
            columns.update({name: expected[name].to_numpy() for name in expected.columns})
        if context_rows is not None:
            columns = {name: values[context_rows:] for name, values in columns.items()}
        return columns

    def expected_readings(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`expected_<sensor>` per row of a checked frame, or `InvalidModelInput` for a model without a decoder."""
        detector = self.detector
        if not hasattr(detector, "reconstruct"):
            raise InvalidModelInput(f"param 'reconstruction': model {detector.model_type!r} has no decoder to say "
                                    "what it expected; send it to a neural model (lstm-ae, lstm-vae, dense-ae, conv-ae)")
        expected = detector.reconstruct(frame).reset_index(drop=True)
        return expected.set_axis([f"expected_{name}" for name in expected.columns], axis=1)


def _threshold(value) -> float | None:
    """The `threshold` param, the flag level on the calibrated score (1.0: the model's threshold),
    as a finite number, or None: the model's own (absent, or the float NaN that MLflow fills in
    from a fleet model's signature when a caller leaves it out)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        threshold = None if isinstance(value, (bool, np.bool_)) else float(value)
    except (TypeError, ValueError):
        threshold = None
    if threshold is None or not math.isfinite(threshold):
        raise InvalidModelInput(f"param 'threshold' must be a finite number, got {value!r}")
    return threshold


def _context_rows(value) -> int | None:
    """None (no context: the default scores; -1 is the signature's default) or k >= 0."""
    if value is None:
        return None
    try:
        rows = int(str(value).strip())
    except ValueError:
        rows = -2
    if isinstance(value, bool) or rows < -1:
        raise InvalidModelInput(f"param 'context_rows' must be a whole number of rows >= 0, got {value!r}")
    return None if rows == -1 else rows


def _wants_reconstruction(value) -> bool:
    if value is None or isinstance(value, (bool, np.bool_)):
        return bool(value)
    if str(value).strip().lower() in ("true", "1", "yes"):
        return True
    if str(value).strip().lower() in ("false", "0", "no", ""):
        return False
    raise InvalidModelInput(f"param 'reconstruction' must be true or false, got {value!r}")


mlflow.models.set_model(SeqaeDetectorModel())
