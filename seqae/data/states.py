"""What the state and constant columns did in training (`seqae.data.roles`), and the rows where a
scored file's do something training never saw.

A detector models the continuous readings; a command, mode or valve column is judged by what it
was in training instead, never by a z-score over a spread near zero. `StateBook.fit` records, per
column, the values it took and the transitions between consecutive rows (`a -> b`, a != b);
`StateBook.events` gives, for each scored row, the plain events it brings:

    valve_cmd went 0 -> 1, never seen in training     a transition training never made
    mode is 7, never seen in training                 a value training never held
    pump_id (constant 3 in training) changed to 4     a column constant in training moved

An event is reported on the row where the column changes (the first row of a feed, with no row
before it, counts as a change), so a column that stays on an unseen value is reported once. A
missing value (NaN) is no reading: the column's last reading stands. Each row's events depend on
the rows up to it alone, and the last reading of each column (`events`' `previous`) carries them
across pieces of a feed. Events are context (an alert lists those within it) and raise no alert
of their own; how often they fall inside labelled anomalies and on normal rows, and what alerts
from them would cost: docs/benchmarks.md, "Wide sensor files".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqae.data.roles import modelled_columns
from seqae.errors import DataError

WATCHED_ROLES = ("state", "constant")


class StateBook:
    """The values and transitions of each state and constant column in the training rows."""

    def __init__(self):
        self.roles_: dict[str, str] = {}  # column -> "state" or "constant"
        self.values_: dict[str, list[float]] = {}  # column -> the values training held, sorted
        self.transitions_: dict[str, set[tuple[float, float]]] = {}  # column -> the changes a -> b it made

    @property
    def columns(self) -> list[str]:
        """The columns the book watches, in the training table's order."""
        return list(self.roles_)

    def fit(self, frames, roles: dict[str, str]) -> "StateBook":
        """Record the state and constant columns (`roles`) of the training `frames` (one frame, or a
        list of them: separate recordings, between which no transition is counted). The state
        columns a detector models (`modelled_columns`: where no column is continuous) are left out:
        the model scores them."""
        frames = frames if isinstance(frames, (list, tuple)) else [frames]
        scored = set(modelled_columns(roles))
        watched = [name for name, role in roles.items() if role in WATCHED_ROLES and name not in scored]
        for frame in frames:
            missing = [name for name in watched if name not in frame.columns]
            if missing:
                raise DataError(f"the training rows have no column {missing[0]!r}, whose role is "
                                f"{roles[missing[0]]!r}; pass the columns the roles name")
        self.roles_ = {name: roles[name] for name in watched}
        self.values_, self.transitions_ = {}, {}
        for name in watched:
            seen, moves = set(), set()
            for frame in frames:
                readings = _finite(frame[name])
                seen.update(readings.tolist())
                moves.update(zip(readings[:-1].tolist(), readings[1:].tolist()))
            self.values_[name] = sorted(seen)
            self.transitions_[name] = {(a, b) for a, b in moves if a != b}
        return self

    def given(self, X) -> pd.DataFrame | None:
        """The watched columns a table `X` holds (a frame; None for an array or when it holds none)."""
        if not isinstance(X, pd.DataFrame):
            return None
        names = {str(c): c for c in X.columns}
        present = [name for name in self.columns if name in names]
        return pd.DataFrame({name: X[names[name]].to_numpy() for name in present}) if present else None

    def events(self, frame: pd.DataFrame, previous: dict | None = None) -> tuple[list[str], dict]:
        """Each row's events (`"; "`-joined, `""` for none) over the watched columns `frame` holds
        (others are skipped), and each column's last reading after these rows, the `previous` of the
        next call (`previous`: the last readings before these rows; None: the feed starts here)."""
        last = dict(previous or {})
        texts = [[] for _ in range(len(frame))]
        for name in self.columns:
            if name not in frame.columns:
                continue
            readings = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
            rows = np.flatnonzero(np.isfinite(readings))  # a missing value is no reading
            if not len(rows):
                continue
            values = readings[rows]
            before = np.concatenate([[np.nan if last.get(name) is None else last[name]], values[:-1]])
            for k in np.flatnonzero(values != before):  # NaN before: the feed's first reading
                event = self._event(name, None if np.isnan(before[k]) else float(before[k]), float(values[k]))
                if event:
                    texts[rows[k]].append(event)
            last[name] = float(values[-1])
        return ["; ".join(parts) for parts in texts], last

    def _event(self, name: str, before: float | None, value: float) -> str:
        seen = self.values_[name]
        if self.roles_[name] == "constant":  # reported where it leaves its value, not at each later move
            if seen and value != seen[0] and (before is None or before == seen[0]):
                return f"{name} (constant {_text(seen[0])} in training) changed to {_text(value)}"
            return ""
        if value not in seen:
            return f"{name} is {_text(value)}, never seen in training"
        if before is not None and (before, value) not in self.transitions_[name]:
            return f"{name} went {_text(before)} -> {_text(value)}, never seen in training"
        return ""

    def describe(self) -> str:
        """One phrase for the fit summary: which columns are watched, or "" when none."""
        constants = [name for name, role in self.roles_.items() if role == "constant"]
        states = [name for name, role in self.roles_.items() if role == "state"]
        parts = []
        if states:
            parts.append(f"{len(states)} state column{'s' if len(states) > 1 else ''} watched for values and "
                         "transitions never seen in training")
        if constants:
            shown = ", ".join(constants[:6]) + (f" and {len(constants) - 6} more" if len(constants) > 6 else "")
            parts.append(f"constant column{'s' if len(constants) > 1 else ''} watched for any change: {shown}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        """JSON-able: per column its role, the values seen and the transitions seen."""
        return {name: {"role": role, "values": self.values_[name],
                       "transitions": [list(move) for move in sorted(self.transitions_[name])]}
                for name, role in self.roles_.items()}

    @classmethod
    def from_dict(cls, state: dict) -> "StateBook":
        """The book `to_dict` wrote; a `DataError` naming the column whose record is damaged."""
        book = cls()
        if not isinstance(state, dict):
            raise DataError(f"'states' is {type(state).__name__}, not an object of columns")
        for name, record in state.items():
            try:
                role = str(record["role"])
                values = sorted(float(v) for v in record["values"])
                moves = {(float(a), float(b)) for a, b in record["transitions"]}
            except (KeyError, TypeError, ValueError):
                raise DataError(f"'states' of column {name!r} must hold a role, values and transitions "
                                "(pairs)") from None
            if role not in WATCHED_ROLES:
                raise DataError(f"'states' gives column {name!r} the role {role!r}, not one of "
                                f"{', '.join(WATCHED_ROLES)}")
            book.roles_[str(name)], book.values_[str(name)], book.transitions_[str(name)] = role, values, moves
        return book


def _finite(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    return values[np.isfinite(values)]


def _text(value: float) -> str:
    """A reading as an operator writes it: `1`, not `1.0`."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
