"""`seqae watch MODEL [CSV|-]` as one call: the model loaded, the watch's state read back
(`seqae.streaming.state.resume`), the feed followed row by row (`seqae.streaming.feed.watch`) until
it ends or a signal stops it, with a monitoring run beside the model's (`MonitoringRun`)."""

from __future__ import annotations

import os
from typing import Callable, TextIO

from seqae.data import ReadOptions
from seqae.streaming import feed
from seqae.streaming.state import resume
from seqae.tracking.models import load_detector
from seqae.tracking.monitor import MonitoringRun
from seqae.tracking.store import DEFAULT_EXPERIMENT


def watch_model(model_uri: str, data: str | None, out: TextIO, *, fmt: str = "json", from_start: bool = False,
                strict: bool = False, state_path: str | os.PathLike | None = None, state_every: int = 1000,
                report_every: int = 1000, track: bool = True, options: ReadOptions | None = None,
                experiment: str = DEFAULT_EXPERIMENT, device: str = "auto",
                warn: Callable[[str], None] = print) -> tuple[feed.WatchSummary, str | None]:
    """Score the rows of `data` (a file that keeps growing, or "-" / None for stdin) as they come,
    one answer per row on `out`; what the watch counted and its monitoring run's id (None when not
    `track`ed). A state file at `state_path` is read back first and kept every `state_every` rows."""
    loaded = load_detector(model_uri)
    if "device" in loaded.detector.get_params():
        loaded.detector.set_params(device=device)
    resumed = resume(state_path, loaded.detector, data, options=options)
    source = feed.LineSource(data, from_start=from_start, offset=resumed.offset, line=resumed.line)
    monitor = MonitoringRun(loaded, source=source.name, experiment=experiment, report_every=report_every, warn=warn,
                            alert_table=resumed.scorer.alert_table, drift=resumed.scorer.drift) if track else None
    status = "FAILED"
    try:
        with feed.StopSignals() as stop:
            summary = feed.watch(resumed.scorer, source, out, options=options, fmt=fmt, strict=strict,
                                 state_path=state_path, state_every=state_every, parser_state=resumed.parser,
                                 shaper_state=resumed.shaper, report=monitor, stop=stop, warn=warn)
        status = "FINISHED"
    finally:
        if monitor is not None:
            monitor.close(status)
    return summary, monitor.run_id if monitor is not None else None
