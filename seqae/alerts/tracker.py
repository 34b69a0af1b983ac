"""The alert rules run over a feed, one row after another: calibrated scores, flags and alerts.

    raw score --the normal reference (seqae.alerts.reference)--> calibrated score c (1.0 = threshold)
      --c > level--> rows above the level --episodes: gap, minimum length, fire level, extreme, record,
      evidence, hysteresis, cooldown, settle--> alerts --> flags: the rows an alert is on, from the row it fired
      rows judged normal --`delay` rows later--> the reference

A flag is a decision, not a score above the level: a row is flagged when an alert is on at it, as
the operator watching the feed is told then; rows of an episode before it fires, and a lone row
above the level, are not (their calibrated score says how high they were).

An episode that would fire where its window is like one an operator judged normal (`known`, from
the model's verdicts) fires hidden: the rules go on exactly as for the alert it would have been (its
rows join the reference if it settles, it joins what follows within its cooldown, it is the record
the next episodes must beat), but it is not raised, no row of it is flagged, and it has no id. It is
raised at its first row above the level that is like no verdict, if one comes. A verdict thus
changes nothing but the alerts it hides.

Each row is decided from the rows before it alone; `update` takes the rows of a feed in chunks of
any size (down to one) and gives the same numbers whatever the chunks (`AlertRules.apply` runs one
tracker over a whole series). A row's alert id is settled once no later row can change it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from seqae.alerts.alert import Alert, alert_from_state, alert_state
from seqae.alerts.record import Record
from seqae.alerts.reference import REFRESH_ROWS
from seqae.errors import ConfigError, DataError


class Step(NamedTuple):
    """What `update` decided about its rows, and the alert ids settled by it."""

    scores: np.ndarray  # (n,) calibrated scores; NaN where the row had no raw score
    flags: np.ndarray  # (n,) 0/1: an alert is on at the row (it fired there or before, and goes on through it)
    warming_up: np.ndarray  # (n,) True: no raw score yet, or the feed's first rows calibrating the reference
    alert_ids: np.ndarray  # the alert ids of the rows settled by this call, continuing from the last


class Decisions(NamedTuple):
    """`AlertRules.apply` of a whole series."""

    scores: np.ndarray
    flags: np.ndarray
    warming_up: np.ndarray
    alert_ids: np.ndarray  # one per row, -1: none
    alerts: list[Alert]


class AlertTracker:
    """The rules as a state machine over a feed's rows (`seqae.alerts` says what each rule does)."""

    def __init__(self, rules, level: float = 1.0):
        rules.check_fitted()
        if not np.isfinite(level) or level <= 0:
            raise ConfigError(f"the flag level must be a positive number (1.0: the model's threshold), got {level!r}")
        self.rules = rules
        self.level = float(level)
        self.close_level = rules.hysteresis * self.level
        self.extreme_level = rules.extreme * self.level
        self.fire_level = rules.fire_level * self.level
        self.reference = rules.reference()
        self.alerts: list[Alert] = []  # the alerts raised (the last `keep` of them after `forget(keep)`)
        self.n_alerts = 0  # alerts raised so far: the next one's id
        self.n_rows = 0  # rows seen
        self.n_scored = 0  # rows with a raw score
        self.n_settled = 0  # rows whose alert id has been returned
        self._episode: Alert | None = None  # the episode going on (fired or not)
        self._on = False  # the episode's last row was at or above its level
        self._quarantine: list[tuple[int, float]] = []  # the episode's rows: normal or not, decided when it ends
        self._last_closed: Alert | None = None  # an alert that ended, within its cooldown
        self._since = -1  # the row the episode began, or went on from within its cooldown
        self._alarm_row = -1  # the last row a fired alert went on through (its flag)
        self._learn_until = -1  # rows before this one join the reference whatever they score
        # the record rule: the highest raw score of the last `rules.record` rows no alert was on at, and
        # the score the episode going on must beat to fire (-inf: none)
        self._record = Record(rules.record)
        self._to_beat = -np.inf
        self._excess = 0.0  # the episode's calibrated scores beyond the flag level, summed (the evidence rule)
        self._finished = False

    # ---- the feed -----------------------------------------------------------------------------------

    def update(self, scores, contributions=None, index=None, on_step: Callable[[int], None] | None = None,
               known=None) -> Step:
        """Decide the next rows of the feed from their raw scores (NaN: no score yet).

        `contributions` (n, n_features): each sensor's share, for the top sensors and the cooldown;
        `index`: the rows' times, kept on each alert; `on_step(k)`: called after each row `k` of
        these that could change an alert (an episode going on, a flag, an alert's close made final).
        `known` (n,) bool: the rows whose window is like one operators judged normal
        (`BaseDetector.verdict_gate`). An episode that would fire at such a row fires hidden (the
        module docstring): it is not raised and flags nothing, and the rules go on as for the alert
        it would have been, so the rest of the feed is decided as without the verdict; its first row
        above the flag level that is not such a row raises it. `known` may also be a function of row
        positions among these (an int array) giving theirs: it is asked, once per refresh block, of
        the block's scored rows past burn-in above the flag level alone, the only rows it decides."""
        if self._finished:
            raise ConfigError("this AlertTracker has finished; start a new one with AlertRules.tracker()")
        raw = np.asarray(scores, dtype=np.float64).reshape(-1)
        n = raw.size
        if contributions is not None:
            contributions = np.asarray(contributions, dtype=np.float64)
            if contributions.ndim != 2 or len(contributions) != n:
                raise DataError(f"contributions must be (n_timepoints, n_features) with {n} rows, "
                                f"got shape {contributions.shape}")
        ask = known if callable(known) else None
        if known is not None and ask is None:
            known = np.asarray(known, dtype=bool).reshape(-1)
            if known.size != n:
                raise DataError(f"known must hold one value per row ({n}), got {known.size}")
        elif ask is not None:
            known = np.zeros(n, dtype=bool)
        calibrated = np.full(n, np.nan)
        flags = np.zeros(n, dtype=np.int8)
        warming = np.zeros(n, dtype=bool)
        reference, burn_in = self.reference, self.rules.burn_in
        first, k = self.n_rows, 0
        while k < n:
            t = first + k
            if t % REFRESH_ROWS == 0:
                reference.refresh(t)
            # Idle rows up to the next refresh: calibrated at once; only flags and episodes need the rules.
            stop = min(n, k + REFRESH_ROWS - t % REFRESH_ROWS)
            block = raw[k:stop]
            c = (block - reference.median) / reference.spread
            calibrated[k:stop] = c
            if ask is not None:  # the calibration is fixed for the block: ask of its rows that it decides
                scored = np.isfinite(block)
                past_burn_in = self.n_scored + np.cumsum(scored) - scored >= burn_in
                rows = k + np.flatnonzero((c > self.level) & past_burn_in)
                if rows.size:
                    known[rows] = np.asarray(ask(rows), dtype=bool).reshape(-1)
            j = k
            while j < stop:
                x, t = raw[j], first + j
                if not np.isfinite(x):
                    warming[j] = True
                    calibrated[j] = np.nan
                    if self._finalize(t) and on_step is not None:
                        on_step(j)
                elif self.n_scored < burn_in:
                    self.n_scored += 1
                    warming[j] = True
                    reference.admit(t, x, at_once=True)  # joins at the next refresh
                    self._record.remember(t, x)
                else:
                    self.n_scored += 1
                    above = calibrated[j] > self.level
                    judged_normal = above and known is not None and bool(known[j])
                    if self._step(t, x, calibrated[j], above, None if contributions is None else contributions[j],
                                  None if index is None else index[j], judged_normal) and on_step is not None:
                        on_step(j)
                    flags[j] = self._alarm_row == t
                    if not flags[j]:  # an alert's rows never hide the next one
                        self._record.remember(t, x)
                j += 1
            k = stop
        self.n_rows = first + n
        return Step(calibrated, flags, warming, self._settle(self._pending_from()))

    def finish(self) -> np.ndarray:
        """End of the data: an alert still on stays open (`closed` False), an episode that never fired
        is dropped, an ended alert's close is made final; the alert ids of the remaining rows."""
        if not self._finished:
            episode = self._episode
            if episode is not None and not episode.raised:
                self._episode = None
            if self._last_closed is not None:
                self._close(self._last_closed, "ended")
            self._finished = True
        return self._settle(self.n_rows)

    def run(self, scores, contributions=None, index=None) -> Decisions:
        """`update` of a whole series, then `finish`."""
        step = self.update(scores, contributions, index)
        return Decisions(step.scores, step.flags, step.warming_up, np.concatenate([step.alert_ids, self.finish()]),
                         self.alerts)

    def earliest_open_row(self) -> int:
        """The first row a later row can still admit to the normal reference (an episode's rows wait for
        it to end or settle); every row before it is decided."""
        return self._episode.start if self._episode is not None else self.n_rows

    @property
    def idle(self) -> bool:
        """No episode is going on and no ended alert waits for its close."""
        return self._episode is None and self._last_closed is None

    # ---- the rules, one row at a time -----------------------------------------------------------

    def _step(self, row: int, score: float, c: float, above: bool, contribution, time, known: bool = False) -> bool:
        """One scored row; `known`: above the level and like a pattern judged normal (`update`)."""
        rules, reference = self.rules, self.reference
        changed = self._finalize(row)
        episode = self._episode
        if episode is not None:
            fired = episode.fired
            if self._on and (c >= self.close_level if fired else above):
                self._extend(row, score, c, above, contribution, time, known)
                return True
            self._on = False
            waited = row - episode.end - 1  # rows below the close level since its last row
            if above and waited <= rules.min_gap:
                self._on = True
                self._extend(row, score, c, above, contribution, time, known)
                return True
            if waited < rules.min_gap:
                self._quarantine.append((row, score))
                return True
            self._end_episode()
            changed = True
        if row < self._learn_until or not above:
            reference.admit(row, score)
            return changed
        previous = self._last_closed
        if (previous is not None and contribution is not None and previous.shares is not None
                and int(np.argmax(contribution)) == previous.top):
            self._episode, self._last_closed = previous, None  # the same sensors again: the alert goes on
            self._since = row
        else:
            shares = None if contribution is None else np.zeros(len(contribution))
            self._episode = Alert(-1, row, row, -1, row, -np.inf, score, 0.0, 0, shares, start_time=time,
                                  peak_time=time)
            self._since = row
            self._to_beat = self._record.before(row)
            self._excess = 0.0
        self._quarantine = []
        self._on = True
        self._extend(row, score, c, above, contribution, time, known)
        return True

    def _extend(self, row: int, score: float, c: float, above: bool, contribution, time, known: bool = False) -> None:
        episode = self._episode
        episode.end, episode.end_time = row, time
        self._quarantine.append((row, score))
        episode.n_flagged += int(above)
        if above:
            self._excess += c - self.level
        if c > episode.peak_score:
            episode.peak, episode.peak_score, episode.peak_raw, episode.peak_time = row, float(c), float(score), time
            episode.peak_severity = self.reference.severity(score)
        if contribution is not None and episode.shares is not None:
            episode.shares += np.clip(contribution, 0.0, None)
        if (not episode.fired and (episode.n_flagged >= self.rules.min_length or c >= self.extreme_level)
                and c >= self.fire_level and episode.peak_raw > self._to_beat and self._excess >= self.rules.evidence):
            episode.fired_at, episode.fired_time = row, time
            episode.hidden = known
            if not known:
                self._raise(episode)
        elif episode.hidden and above and not known:  # no longer like what was judged normal: raised now
            episode.hidden = False
            episode.fired_at, episode.fired_time = row, time
            self._raise(episode)
        if episode.raised:
            self._alarm_row = row
        self._settle_if_lasting(row)

    def _raise(self, episode: Alert) -> None:
        episode.alert_id = self.n_alerts
        self.n_alerts += 1
        self.alerts.append(episode)

    def _settle_if_lasting(self, row: int) -> None:
        """An alert on for `settle` rows since it fired, or an episode `settle` rows old that never
        fired, is a state that lasts: a possible new normal. Its rows join the reference, and so do
        the next `settle` rows, whatever they score. An alert that went on after its cooldown counts
        from the row it went on again: flags that came back are not a state that lasted."""
        episode, settle = self._episode, self.rules.settle
        if episode is None or not settle:
            return
        since = row - max(self._since, episode.fired_at if episode.fired else episode.start)
        if since < settle:
            return
        for earlier, score in self._quarantine:
            self.reference.admit(earlier, score)
        self._quarantine = []
        self._learn_until = row + settle + 1
        if episode.fired:
            self._close(episode, "settled")
        self._episode, self._on = None, False

    def _end_episode(self) -> None:
        """The episode ended. One that never fired was a normal excursion: all its rows join the
        reference (leaving them out would cut its tail off at the threshold, and the threshold would
        sink). An alert's rows up to its end were not normal; the gap rows after it were."""
        episode = self._episode
        self._episode, self._on = None, False
        for row, score in self._quarantine:
            if not episode.fired or row > episode.end:
                self.reference.admit(row, score)
        self._quarantine = []
        if episode.fired:
            self._last_closed = episode
            if not self.rules.cooldown:
                self._close(episode, "ended")

    def _finalize(self, row: int) -> bool:
        """An ended alert whose cooldown has passed without a new episode joining it is closed for good."""
        previous = self._last_closed
        if previous is not None and row - previous.end - 1 > self.rules.cooldown:
            self._close(previous, "ended")
            return True
        return False

    def _close(self, alert: Alert, reason: str) -> None:
        alert.closed, alert.reason = True, reason
        if self._last_closed is alert:
            self._last_closed = None

    # ---- which rows are settled -----------------------------------------------------------------

    def _pending_from(self) -> int:
        """The first row whose alert id a later row may still change."""
        pending = self.n_rows
        episode = self._episode
        if episode is not None:  # a hidden alert may still be raised, and its rows take its id
            pending = episode.end + 1 if episode.raised else episode.start
        last = self._last_closed
        if last is not None:
            pending = min(pending, last.end + 1 if last.raised else last.start)
        return max(pending, self.n_settled)

    def _settle(self, upto: int) -> np.ndarray:
        first = self.n_settled
        ids = np.full(upto - first, -1, dtype=np.int64)
        for alert in reversed(self.alerts):
            if alert.end < first:
                break
            lo, hi = max(alert.start, first), min(alert.end, upto - 1)
            if lo <= hi:
                ids[lo - first:hi - first + 1] = alert.alert_id
        self.n_settled = upto
        return ids

    def forget(self, keep: int) -> None:
        """Keep only the last `keep` alerts in `alerts` (and in `state()`), so that a feed scored for
        months holds a bounded list; ids go on counting (`n_alerts`). An alert that can still change
        is never dropped: the one going on, one within its cooldown, and any with rows whose alert id
        is not settled yet."""
        drop = len(self.alerts) - max(int(keep), 0)
        for k in range(max(drop, 0)):
            alert = self.alerts[k]
            if alert is self._episode or alert is self._last_closed or alert.end >= self.n_settled:
                drop = k
                break
        if drop > 0:
            del self.alerts[:drop]

    # ---- saving (a live feed restarted where it stopped) ------------------------------------------

    def state(self) -> dict:
        """Everything the tracker holds, JSON-able (times as ISO text), for `from_state`."""
        episode = self._episode
        return {
            "n_rows": self.n_rows, "n_scored": self.n_scored, "n_settled": self.n_settled, "on": self._on,
            "since": self._since,
            "finished": self._finished, "learn_until": self._learn_until, "level": self.level,
            "alerts": [alert_state(a) for a in self.alerts], "n_alerts": self.n_alerts,
            # the episode and the alert within its cooldown (`_kept_state`)
            "episode": _kept_state(episode), "last_closed": _kept_state(self._last_closed),
            "quarantine": [[row, score] for row, score in self._quarantine],
            "reference": self.reference.state(),
            "recent": self._record.state(),
            "to_beat": None if self._to_beat == -np.inf else float(self._to_beat),
            "excess": float(self._excess),
        }

    @classmethod
    def from_state(cls, rules, state: dict) -> "AlertTracker":
        """A tracker of `rules` that goes on from `state()`, as if it had seen the same rows."""
        try:
            tracker = cls(rules, float(state.get("level", 1.0)))
            tracker.alerts = [alert_from_state(a) for a in state["alerts"]]
            tracker.n_alerts = int(state["n_alerts"])
            by_id = {alert.alert_id: alert for alert in tracker.alerts}
            tracker.n_rows, tracker.n_settled = int(state["n_rows"]), int(state["n_settled"])
            tracker.n_scored, tracker._learn_until = int(state["n_scored"]), int(state["learn_until"])
            tracker._on, tracker._finished = bool(state["on"]), bool(state["finished"])
            tracker._since = int(state["since"])
            episode, last = state["episode"], state["last_closed"]
            tracker._episode, tracker._last_closed = _kept_from_state(episode, by_id), _kept_from_state(last, by_id)
            tracker._quarantine = [(int(row), float(score)) for row, score in state["quarantine"]]
            tracker._record.load_state(state.get("recent", []))
            to_beat = state.get("to_beat")
            tracker._to_beat = -np.inf if to_beat is None else float(to_beat)
            tracker._excess = float(state.get("excess", 0.0))
            tracker.reference.load_state(state["reference"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DataError(f"not the state of an alert tracker ({type(exc).__name__}: {exc})") from None
        return tracker


def _kept_state(alert: Alert | None):
    """An alert the tracker holds beside its list: a raised one by its id (it is in `alerts`), one
    not raised (an episode not fired yet, or a hidden alert) whole."""
    if alert is None:
        return None
    return alert.alert_id if alert.raised else alert_state(alert)


def _kept_from_state(state, by_id: dict[int, Alert]) -> Alert | None:
    """The alert `_kept_state` gave; `by_id`: the tracker's alerts by id."""
    if state is None:
        return None
    return by_id[state] if isinstance(state, int) else alert_from_state(state)
