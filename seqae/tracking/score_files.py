"""`seqae score MODEL DATA.csv` as one call: any model URI loaded (`load_model`) and the file scored
in chunks, a fleet's rows each by its asset's detector (`seqae.fleet.score_fleet_csv`), a single
detector's as a live feed would (`seqae.streaming.score_csv`)."""

from __future__ import annotations

import os

from seqae.data import ReadOptions
from seqae.files import check_distinct_outputs
from seqae.fleet import FleetDetector, score_fleet_csv
from seqae.streaming import score_csv
from seqae.tracking.models import LoadedModel, load_model


def score_model_csv(model_uri: str, data: str | os.PathLike, output: str | os.PathLike, *,
                    intervals_path: str | os.PathLike | None = None,
                    reconstruction_path: str | os.PathLike | None = None, options: ReadOptions | None = None,
                    precision: str = "float32", ranking: bool = False,
                    device: str = "auto") -> tuple[LoadedModel, dict]:
    """The loaded model and what scoring `data` into `output` (and the alerts into `intervals_path`,
    the expected readings into `reconstruction_path`) counted: rows, anomalies, alerts (and assets,
    for a fleet). `device` is where a network scores; the outputs must be distinct files."""
    check_distinct_outputs({"--output": output, "--intervals": intervals_path,
                            "--reconstruction": reconstruction_path})
    loaded = load_model(model_uri)
    detector = loaded.detector
    if isinstance(detector, FleetDetector):  # each machine's rows to its own detector
        return loaded, score_fleet_csv(detector, data, output, intervals_path=intervals_path, options=options,
                                       precision=precision, reconstruction_path=reconstruction_path, ranking=ranking)
    if "device" in detector.get_params():
        detector.set_params(device=device)
    return loaded, score_csv(detector, data, output, intervals_path=intervals_path, options=options,
                             precision=precision, reconstruction_path=reconstruction_path, ranking=ranking)
