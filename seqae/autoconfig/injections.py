"""Synthetic anomalies injected into copies of the training rows' held-out part: the only anomalies
`seqae fit --compare` scores detectors on (no labels are read).

The kinds are generic and sized in units of each sensor's own spread on the training rows (Goswami
et al., ICLR 2023, "Unsupervised Model Selection for Time-series Anomaly Detection"): level kinds
(spike, shift, drift, stuck) favour the level baseline, shape kinds (faster rhythm, wrong phase,
noise) the window models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqae import metrics
from seqae.autoconfig.window import MIN_WINDOW
from seqae.detectors.scoring import causal_smooth

INJECTION_KINDS = ("spike", "level_shift", "drift", "noise", "stuck", "faster", "phase")
INJECTIONS_PER_KIND = 2
MAX_INJECTED_RECORDINGS = 4  # with several recordings, anomalies go into the held-out rows of the longest few
INJECTION_LENGTH = (0.1, 1 / 3)  # an interval anomaly's length, as shares of the held-out rows


def inject(values: np.ndarray, kind: str, first: int, length: int, sensor: int,
           rng: np.random.Generator, spread: float) -> np.ndarray:
    """A copy of `values` (n_timepoints, n_features) with one anomaly of `kind` in `sensor`, rows
    `first`..`first + length - 1`, sized in units of the sensor's `spread`."""
    out = values.copy()
    span = slice(first, first + length)
    x = out[:, sensor]
    sign = rng.choice([-1.0, 1.0])
    if kind == "spike":
        x[span] += sign * 6.0 * spread
    elif kind == "level_shift":
        x[span] += sign * 2.5 * spread
    elif kind == "drift":
        x[span] += sign * np.linspace(0.0, 4.0 * spread, length)
    elif kind == "noise":
        x[span] += 1.0 * spread * rng.normal(size=length)
    elif kind == "stuck":
        x[span] = x[first - 1]
    elif kind == "faster":  # the same signal played at twice its speed
        source = np.arange(first, first + 2 * length, 2)
        x[span] = values[np.minimum(source, len(values) - 1), sensor]
    elif kind == "phase":  # readings from elsewhere in the series: in range, out of place
        offset = int(rng.integers(length, max(length + 1, first - length)))
        x[span] = values[first - offset:first - offset + length, sensor]
    else:
        raise ValueError(f"unknown injection kind {kind!r}; choose from {', '.join(INJECTION_KINDS)}")
    return out


def injection_suite(values: np.ndarray, n_heldout: int, random_state: int | None = 0,
                    kinds=INJECTION_KINDS, per_kind: int = INJECTIONS_PER_KIND):
    """Copies of the training rows, each with one anomaly in the last `n_heldout` rows.

    Returns a list of (values, labels of the held-out rows) and a table of what was injected."""
    rng = np.random.default_rng(random_state)
    n, n_features = values.shape
    heldout = n - n_heldout
    q75, q25 = np.percentile(values[:heldout], [75, 25], axis=0)
    spread = (q75 - q25) / 1.349
    spread = np.where(spread > 0, spread, values[:heldout].std(axis=0))
    spread = np.where(spread > 0, spread, 1.0)
    suite, rows = [], []
    for kind in kinds:
        for _ in range(per_kind):
            length = 1 + int(rng.integers(0, 3)) if kind == "spike" else \
                int(rng.integers(max(2, int(n_heldout * INJECTION_LENGTH[0])),
                                 max(3, int(n_heldout * INJECTION_LENGTH[1])) + 1))
            first = heldout + int(rng.integers(0, max(1, n_heldout - length)))
            length = min(length, n - first)
            sensor = int(rng.integers(0, n_features))
            modified = inject(values, kind, first, length, sensor, rng, float(spread[sensor]))
            labels = np.zeros(n_heldout, dtype=np.int8)
            labels[first - heldout:first - heldout + length] = 1
            suite.append((modified, labels))
            rows.append({"kind": kind, "first_row": first, "length": length, "sensor": sensor})
    return suite, pd.DataFrame(rows)


def recordings_suite(part_values: list[np.ndarray], n_heldouts: list[int], random_state: int | None):
    """`injection_suite` over recordings: `(recording, values, labels)` per copy and the table of
    what was injected where. One recording: its suite. Several: the suites of up to
    MAX_INJECTED_RECORDINGS of the longest (one anomaly of each kind in each, seeds random_state + k)."""
    if len(part_values) == 1:
        suite, injected = injection_suite(part_values[0], n_heldouts[0], random_state)
        return [(0, values, labels) for values, labels in suite], injected
    order = sorted(range(len(part_values)), key=lambda k: -len(part_values[k]))
    chosen = [k for k in order if n_heldouts[k] >= 2 * MIN_WINDOW][:MAX_INJECTED_RECORDINGS]
    suite, tables = [], []
    for j, k in enumerate(chosen):
        seed = None if random_state is None else random_state + j
        copies, table = injection_suite(part_values[k], n_heldouts[k], seed,
                                        per_kind=max(1, INJECTIONS_PER_KIND // len(chosen)))
        suite += [(k, values, labels) for values, labels in copies]
        tables.append(table.assign(recording=k + 1))
    return suite, pd.concat(tables, ignore_index=True)


def causal_mean(scores: np.ndarray, k: int) -> np.ndarray:
    """The detectors' `smoothing` of one score series (`scoring.causal_smooth`): row t becomes the
    mean of rows t-k+1..t (fewer at the start)."""
    return causal_smooth(np.asarray(scores, dtype=np.float64)[:, None], k)[:, 0]


def injected_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    """`metrics.auc_pr` of injected labels, a non-finite score ranked as the lowest."""
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0, posinf=1e300, neginf=-1e300)
    return metrics.auc_pr(labels, scores)
