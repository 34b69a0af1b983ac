"""`seqae watch MODEL [CSV|-]` as one call: the model loaded, the watch's state read back
(`seqae.streaming.state.resume`), the feed followed row by row (`seqae.streaming.feed.watch`) until
it ends or a signal stops it, with a monitoring run beside the model's (`MonitoringRun`).

A watch of `models:/NAME@ALIAS` follows the alias (`AliasFollower`): at most every `check_every`
seconds it asks the registry which version the alias points at, and when that is another version
(`seqae feedback --alias`, `seqae fit --register --alias`) it loads it and answers from the next row
on with it (`seqae.streaming.switch.switched`: each row answered once, the live alerts carried
over). A restart with `--state` goes on with the version the state file names, then checks the
alias at once."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, TextIO

from mlflow.exceptions import MlflowException

from seqae.data import ReadOptions
from seqae.errors import ConfigError, DataError
from seqae.streaming import LiveScorer, feed
from seqae.streaming.state import resume, saved_model
from seqae.streaming.switch import RecentRows, switched
from seqae.tracking.models import LoadedModel, alias_of, alias_version, load_detector
from seqae.tracking.monitor import MonitoringRun
from seqae.tracking.store import DEFAULT_EXPERIMENT, reach_store

CHECK_EVERY = 30.0  # seconds between two looks at the alias


class AliasFollower:
    """The version `models:/NAME@ALIAS` points at, looked at every `check_every` seconds; `check`
    hands the watch the scorer of a new version (`seqae.streaming.feed.watch`'s `follow`)."""

    def __init__(self, model_uri: str, check_every: float = CHECK_EVERY, device: str = "auto",
                 warn: Callable[[str], None] = print):
        self.uri = model_uri
        self.name, self.alias = alias_of(model_uri)
        self.check_every, self.device, self.warn = float(check_every), device, warn
        self.version: str | None = None  # the version answering
        self.refused: str | None = None  # a version that could not take over (not tried again)
        self.last_check = float("-inf")
        self.monitor: MonitoringRun | None = None

    def load(self, version: str | None = None) -> LoadedModel:
        """Version `version` (default: the one the alias points at now), loaded to answer the watch."""
        version = version or alias_version(self.name, self.alias)
        loaded = load_detector(f"models:/{self.name}/{version}")
        if "device" in loaded.detector.get_params():
            loaded.detector.set_params(device=self.device)
        self.version = version
        return dataclasses.replace(loaded, uri=self.uri)

    def state(self) -> dict:
        """What the state file keeps: the registered model and the version answering."""
        return {"name": self.name, "alias": self.alias, "version": self.version}

    def check(self, scorer: LiveScorer, recent: RecentRows) -> LiveScorer | None:
        """The scorer of the version the alias points at now, when it is another one and
        `check_every` seconds have passed since the last look; None otherwise."""
        now = time.monotonic()
        if now - self.last_check < self.check_every:
            return None
        self.last_check = now
        try:
            version = alias_version(self.name, self.alias)
        except (ConfigError, MlflowException, OSError) as exc:  # the store is away for a while: keep answering
            self.warn(f"Warning: {self.uri}: cannot look at the alias ({exc}); version {self.version} goes on")
            return None
        if version in (self.version, self.refused):
            return None
        previous = self.version
        try:
            loaded = self.load(version)
            new = switched(scorer, loaded.detector, recent)
        except (ConfigError, DataError) as exc:
            self.version, self.refused = previous, version
            self.warn(f"Warning: {self.name} version {version} cannot take over from version {previous}: {exc}")
            return None
        row = scorer.n_rows + 1
        self.warn(f"model {self.name} version {previous} -> {version} at row {row}")
        if self.monitor is not None:
            self.monitor.switched(previous, version, row, loaded.detector, alert_table=new.alert_table,
                                  drift=new.drift, run_id=loaded.run_id)
        return new


def watch_model(model_uri: str, data: str | None, out: TextIO, *, fmt: str = "json", from_start: bool = False,
                strict: bool = False, state_path: str | os.PathLike | None = None, state_every: int = 1000,
                report_every: int = 1000, track: bool = True, options: ReadOptions | None = None,
                experiment: str = DEFAULT_EXPERIMENT, device: str = "auto", follow_alias: bool = True,
                check_every: float = CHECK_EVERY,
                warn: Callable[[str], None] = print) -> tuple[feed.WatchSummary, str | None]:
    """Score the rows of `data` (a file that keeps growing, or "-" / None for stdin) as they come,
    one answer per row on `out`; what the watch counted and its monitoring run's id (None when not
    `track`ed). A state file at `state_path` is read back first and kept every `state_every` rows.
    With `follow_alias`, a `models:/NAME@ALIAS` model is followed (`AliasFollower`)."""
    follower = None
    if follow_alias and alias_of(model_uri) is not None:
        if check_every <= 0:
            raise ConfigError(f"--check-every must be a positive number of seconds, got {check_every!r}")
        reach_store()
        follower = AliasFollower(model_uri, check_every, device, warn)
        saved = saved_model(state_path)
        same = saved is not None and saved["name"] == follower.name
        loaded = follower.load(str(saved["version"]) if same else None)
    else:
        loaded = load_detector(model_uri)
        if "device" in loaded.detector.get_params():
            loaded.detector.set_params(device=device)
    resumed = resume(state_path, loaded.detector, data, options=options)
    source = feed.LineSource(data, from_start=from_start, offset=resumed.offset, line=resumed.line)
    kept = resumed.alert_rows if track else None  # each alert's rows and followed level, for `seqae feedback`
    monitor = MonitoringRun(loaded, source=source.name, experiment=experiment, report_every=report_every, warn=warn,
                            alert_table=resumed.scorer.alert_table, drift=resumed.scorer.drift, alert_rows=kept,
                            version=None if follower is None else follower.version) if track else None
    if follower is not None:
        follower.monitor = monitor
    status = "FAILED"
    try:
        with feed.StopSignals() as stop:
            summary = feed.watch(resumed.scorer, source, out, options=options, fmt=fmt, strict=strict,
                                 state_path=state_path, state_every=state_every, parser_state=resumed.parser,
                                 shaper_state=resumed.shaper, report=monitor, stop=stop, warn=warn,
                                 follow=follower, recent=resumed.recent if follower is not None else None,
                                 alert_rows=kept)
        status = "FINISHED"
    finally:
        if monitor is not None:
            monitor.close(status)
    return summary, monitor.run_id if monitor is not None else None
