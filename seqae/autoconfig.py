"""Auto-configuration: pick a window and a detector for a training series without labels.

`auto_fit(frame)` is what `seqae fit` does with no options:

    training rows --ACF per sensor--> period --> window (as long as the held-out rows, cut to a
      whole number of periods) --> candidates at that window: the incumbent (one sensor: the
      nearest-normal-window distance; several: the mean of it and the level baseline scored by
      window, `SHAPE_AND_LEVEL`), the distance alone, the level baseline, PCA on windows, the LSTM
      autoencoder and the LSTM forecaster, each fitted once on the training rows (their last 20 %
      held out, as always)
      --> 14 copies of the training series, each with one synthetic anomaly injected into the
          held-out rows (spike, level shift, drift, noise, stuck sensor, faster rhythm, wrong phase),
          each copy scored whole --> each candidate's average precision (AP) on the held-out rows
      --> the incumbent, and a one-line verdict on the others (with `switch_z`, another candidate
          that beats it copy by copy by more than that many standard errors) --> AutoFitResult

Nothing here reads labels: the held-out rows are assumed normal, and the only anomalies the
selection sees are the ones it injected itself (Goswami et al., ICLR 2023, "Unsupervised Model
Selection for Time-series Anomaly Detection"). The kinds are generic and sized in units of each
sensor's own spread on the training rows: level kinds (spike, shift, drift, stuck) favour the level
baseline, shape kinds (faster rhythm, wrong phase, noise) the window models.

Why an incumbent rather than the best validation AP (docs/benchmarks.md, "Auto-configuration";
per file, choosing between the distance and the distance with the level baseline by the
injections scored below a fixed choice on every dev set, so the sensor count decides that one):
on the synthetic validation set, picking the best candidate per file by its AP on injected
anomalies scored 0.43, the nearest-window detector alone 0.49, and the same held on SKAB and
nab-dev. Injected anomalies in a few held-out rows reward scores that pinpoint a short anomaly,
and cannot show the slow changes of normal behaviour the later rows bring.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqae import metrics
from seqae.detectors import BaseDetector, make_detector
from seqae.detectors.scoring import causal_smooth
from seqae.errors import DataError

VALIDATION_FRACTION = 0.2  # the held-out share of the training rows, as every detector's default
MIN_WINDOW, MAX_WINDOW = 8, 256  # the window's range in rows
NETWORK_MAX_WINDOW = 64  # the LSTMs read at most this many rows per window (fit time grows with it)
PERIOD_MIN_LAG = 3  # the shortest period looked for (TSB-AD's find_length starts at 3 too)
PERIOD_MIN_ACF = 0.2  # an ACF peak weaker than this is not a period
INJECTION_KINDS = ("spike", "level_shift", "drift", "noise", "stuck", "faster", "phase")
INJECTIONS_PER_KIND = 2
MAX_INJECTED_RECORDINGS = 4  # with several recordings, anomalies go into the held-out rows of the longest few
INJECTION_LENGTH = (0.1, 1 / 3)  # an interval anomaly's length, as shares of the held-out rows
# Another candidate replaces the incumbent (the first) only when its validation AP is higher by more
# than this many standard errors of the paired difference over the injections. Infinite: never. At 2,
# and at any fixed margin from 0 to 0.3, switching lost to keeping the incumbent on every dev set
# (docs/benchmarks.md, "Auto-configuration"): the other candidates are fitted and reported, not chosen.
CHALLENGER_Z = float("inf")
BASELINES = ("deviation", "pca", "knn-window", "ensemble")
# The incumbent for several sensors: the nearest-normal-window distance plus the level baseline
# scored the same way (each window's mean squared reading given to its rows), each normalised on the
# held-out rows, averaged (docs/benchmarks.md, "Auto-configuration": SKAB 0.870 -> 0.905 offline,
# synthetic 0.504 -> 0.533; on nab-dev's single sensors the pair lost, 0.521 -> 0.473).
SHAPE_AND_LEVEL = [["knn-window", {}], ["deviation", {"score_reduction": "window"}]]

DESCRIPTIONS = {
    "deviation": "the level baseline",
    "pca": "PCA on windows",
    "knn-window": "the nearest-normal-window distance",
    "ensemble": "the nearest-normal-window distance with the level baseline",
    "lstm-ae": "the LSTM autoencoder",
    "lstm-vae": "the LSTM-VAE",
    "lstm-forecast": "the LSTM forecaster",
}


@dataclass
class Candidate:
    """One detector configuration that auto-configuration tries."""

    name: str  # e.g. "knn-window w=96"
    model_type: str
    params: dict


@dataclass
class AutoFitResult:
    """What `auto_fit` chose and why."""

    detector: BaseDetector  # fitted on all the training rows, with the chosen smoothing
    window_size: int  # the window the data suggested (each candidate's own is in `candidates`)
    period: int | None  # the dominant period in rows, None when the ACF shows none
    chosen: str  # the chosen candidate's name
    candidates: pd.DataFrame  # one row per candidate: name, model_type, params, validation_ap,
    #                           one AP column per injected kind, fit_seconds, chosen
    reason: str  # one console line: what was chosen and why
    smoothing: int = 1
    injections: pd.DataFrame = field(default_factory=pd.DataFrame)  # what was injected where
    fitted: dict = field(default_factory=dict)  # every candidate's fitted detector, by name (no smoothing)


# ---- period and window ------------------------------------------------------------------------------

def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """ACF of a 1-D series at lags 0..max_lag (FFT, biased estimator as statsmodels' `acf`)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = len(x)
    spectrum = np.fft.rfft(x, 2 * n)
    acov = np.fft.irfft(spectrum * np.conj(spectrum))[: max_lag + 1]
    return acov / acov[0] if acov[0] > 0 else np.zeros(max_lag + 1)


def find_period(values, *, min_lag: int = PERIOD_MIN_LAG, max_lag: int | None = None,
                min_acf: float = PERIOD_MIN_ACF) -> int | None:
    """The dominant period of a series in rows, or None: over the sensors, the lag of the highest
    local maximum of the autocorrelation between `min_lag` and `max_lag` (default: half the rows),
    if it is at least `min_acf`.

    >>> t = np.arange(1000)
    >>> find_period(np.sin(2 * np.pi * t / 50))
    50
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n = len(values)
    max_lag = n // 2 if max_lag is None else min(max_lag, n // 2)
    best_lag, best_acf = None, min_acf
    for j in range(values.shape[1]):
        x = values[:, j]
        if max_lag <= min_lag + 1 or not np.all(np.isfinite(x)) or np.ptp(x) == 0:
            continue
        r = autocorrelation(x, max_lag)
        inner = r[min_lag:max_lag]  # a peak needs a neighbour on each side
        peaks = np.flatnonzero((inner[1:-1] > inner[:-2]) & (inner[1:-1] >= inner[2:])) + min_lag + 1
        if len(peaks) == 0:
            continue
        top = peaks[np.argmax(r[peaks])]
        if r[top] >= best_acf:
            best_lag, best_acf = int(top), float(r[top])
    return best_lag


def choose_window(n_rows: int, period: int | None, validation_fraction: float = VALIDATION_FRACTION) -> int:
    """The window for `n_rows` training rows: as long as the held-out rows allow (every window must
    fit in them, and at most MAX_WINDOW rows), cut to a whole number of periods when there is one.

    Long windows let a window model see a level shift or a broken rhythm against its context; the
    held-out rows bound them because the detectors hold those out for validation."""
    cap = int(np.clip(int(n_rows * validation_fraction), MIN_WINDOW, MAX_WINDOW))
    if period is None or period >= cap:
        return cap
    return int(max(MIN_WINDOW, period * (cap // period)))


# ---- candidates -------------------------------------------------------------------------------------

def default_candidates(window_size: int, n_features: int = 1, *, networks: bool = True) -> list[Candidate]:
    """The candidates tried at `window_size`, the incumbent first, then the level baseline, PCA
    on windows and the networks (each at most NETWORK_MAX_WINDOW rows per window).

    The incumbent: for one sensor, the nearest-normal-window distance; for several, the mean of it
    and the level baseline scored by window (`SHAPE_AND_LEVEL`), with the distance alone second.
    The split by sensor count is the one rule here that no anomaly injected into the held-out rows
    could decide: per file, choosing between the two by the injections scored below this rule on
    every dev set (docs/benchmarks.md, "Auto-configuration"); across the dev sets the level member
    helped every set with several sensors and hurt the one with one. A window's nearest match over one
    sensor already pins that sensor's level; over several, the nearest match is a compromise
    between sensors, and a sensor whose level left its range can hide in it. PCA and the LSTM-AE give each window's mean error to
    its rows (`score_reduction="window"`), as the nearest-window distance does: on the dev sets
    that lifted PCA from 0.275 to 0.454 on nab-dev and the LSTM-AE from 0.187 to 0.430
    (docs/benchmarks.md, "Auto-configuration")."""
    w = int(window_size)
    net_w = int(min(w, NETWORK_MAX_WINDOW))
    knn = Candidate(f"knn-window w={w}", "knn-window", {"window_size": w})
    shape_and_level = Candidate(f"knn-window+deviation w={w}", "ensemble",
                                {"window_size": w, "members": [[t, dict(p)] for t, p in SHAPE_AND_LEVEL]})
    out = [
        *([knn] if n_features == 1 else [shape_and_level, knn]),
        Candidate("deviation", "deviation", {}),
        Candidate(f"pca w={w}", "pca", {"window_size": w, "scaling": "robust", "score_reduction": "window",
                                        "normalize_on": "validation"}),
    ]
    if networks:
        common = {"window_size": net_w, "scaling": "robust", "epochs": 30}
        out += [
            Candidate(f"lstm-ae w={net_w}", "lstm-ae", {**common, "latent_dim": 4, "score_reduction": "window"}),
            Candidate(f"lstm-forecast w={net_w}", "lstm-forecast", {**common, "hidden_size": 32}),
        ]
    return out


# ---- injected anomalies -----------------------------------------------------------------------------

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


def causal_mean(scores: np.ndarray, k: int) -> np.ndarray:
    """The detectors' `smoothing` of one score series (`scoring.causal_smooth`): row t becomes the
    mean of rows t-k+1..t (fewer at the start)."""
    return causal_smooth(np.asarray(scores, dtype=np.float64)[:, None], k)[:, 0]


def _ap(labels: np.ndarray, scores: np.ndarray) -> float:
    """`metrics.auc_pr` of injected labels, a non-finite score ranked as the lowest."""
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0, posinf=1e300, neginf=-1e300)
    return metrics.auc_pr(labels, scores)


# ---- selection ------------------------------------------------------------------------------------

def smoothing_options(window_size: int) -> tuple[int, ...]:
    """The smoothing lengths tried for the chosen candidate: none, a quarter window, a window."""
    return tuple(sorted({1, max(1, window_size // 4), max(1, window_size)}))


def auto_fit(frame, *, random_state: int | None = None, candidates: list[Candidate] | None = None,
             networks: bool = True, window_size: int | None = None, smoothing: bool = False,
             switch_z: float = CHALLENGER_Z, verbose: bool = False, device: str = "auto") -> AutoFitResult:
    """Fit every candidate on `frame` (all rows assumed normal), score each on copies of the
    training rows with anomalies injected into the held-out rows, and return the best, refitted
    with its best smoothing.

    Args:
        frame: the training rows (a frame of sensors, or an array), in time order; or a list of
            them, separate recordings of the same sensors: every candidate is fitted on all of
            them (no window spans two), the period is the longest one's, the window as long as
            the shortest one's held-out rows allow, and the anomalies are injected into the
            held-out rows of the longest few (`MAX_INJECTED_RECORDINGS`).
        random_state: seeds every network and the injections; same seed, same choice.
        candidates: replace `default_candidates(window)`.
        networks: include the LSTM candidates (False: the baselines only, in a second or two).
        window_size: replace the window `choose_window` derives from the period.
        smoothing: also choose the smoothing on the injected anomalies (off: on the dev sets it
            changed nothing or lowered the AP).
        switch_z: how many standard errors a challenger must beat the incumbent by (`select`);
            the default, infinite, keeps the incumbent.
        verbose: print one line per candidate.
        device: where the network candidates train and score (`seqae.devices`).
    """
    parts = list(frame) if isinstance(frame, (list, tuple)) else [frame]
    if not parts:
        raise DataError("auto-configuration got an empty list of recordings; give at least one")
    part_values = [_values(part) for part in parts]
    lengths = [len(v) for v in part_values]
    n_heldouts = [int(n * VALIDATION_FRACTION) for n in lengths]
    longest = int(np.argmax(lengths))
    if n_heldouts[longest] < 2 * MIN_WINDOW:
        raise DataError(f"auto-configuration needs at least {int(np.ceil(2 * MIN_WINDOW / VALIDATION_FRACTION))} "
                        f"training rows (it holds out {VALIDATION_FRACTION:.0%} to compare detectors on), got "
                        f"{lengths[longest]}" + (" in the longest recording" if len(parts) > 1 else "")
                        + "; give more rows or choose a model with --model")
    # The period of the longest recording; the window as long as the shortest one's held-out rows allow.
    period = find_period(part_values[longest])
    window = int(window_size) if window_size is not None else choose_window(min(lengths), period)
    candidates = candidates if candidates is not None else default_candidates(window, part_values[0].shape[1],
                                                                               networks=networks)
    suite, injected = _recordings_suite(part_values, n_heldouts, random_state)
    as_frame = [part if isinstance(part, pd.DataFrame) else pd.DataFrame(v) for part, v in zip(parts, part_values)]
    as_frame = as_frame[0] if len(parts) == 1 and not isinstance(frame, (list, tuple)) else as_frame

    rows, fitted, raw = [], {}, {}
    for candidate in candidates:
        params = dict(candidate.params)
        if "random_state" in make_detector(candidate.model_type).get_params():
            params["random_state"] = random_state
        if device != "auto" and "device" in make_detector(candidate.model_type).get_params():
            params["device"] = device
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            detector = make_detector(candidate.model_type, **params).fit(as_frame)
        fit_seconds = time.perf_counter() - started
        # Each copy scored in context: from the first row of the first window that covers a held-out
        # row (what a held-out row's score depends on), which gives the scores of the whole copy.
        scores = []
        for k, modified, _ in suite:
            first_heldout = lengths[k] - n_heldouts[k]
            context = max(0, first_heldout - (int(getattr(detector, "window_size", 1)) - 1))
            copy_scores = np.asarray(detector.anomaly_score(modified[context:]), dtype=np.float64)
            scores.append(copy_scores[first_heldout - context:])
        aps = np.array([_ap(labels, s) for s, (_, _, labels) in zip(scores, suite)])
        row = {"name": candidate.name, "model_type": candidate.model_type, "params": params,
               "validation_ap": float(np.nanmean(aps)), "fit_seconds": fit_seconds, "injection_aps": aps}
        for kind in injected["kind"].unique():
            row[f"ap_{kind}"] = float(np.nanmean(aps[injected["kind"].to_numpy() == kind]))
        rows.append(row)
        fitted[candidate.name], raw[candidate.name] = detector, scores
        if verbose:
            print(f"{candidate.name}: validation AP {row['validation_ap']:.3f} ({fit_seconds:.1f} s)")
    table = pd.DataFrame(rows)

    chosen = select(table, switch_z)
    name = table.loc[chosen, "name"]
    table["chosen"] = table.index == chosen

    detector = fitted[name]
    k_best, ap_best = 1, table.loc[chosen, "validation_ap"]
    if smoothing:
        own_window = int(table.loc[chosen, "params"].get("window_size", window))
        before = [np.asarray(detector.anomaly_score(part), dtype=np.float64)[: n - nh]
                  for part, n, nh in zip(part_values, lengths, n_heldouts)]
        for k in smoothing_options(own_window)[1:]:
            # smoothing is linear: a copy's smoothed score is the causal mean of its raw score, the
            # held-out rows' first means taking in the (unchanged) rows before them
            leads = [b[max(0, len(b) - (k - 1)):] for b in before]
            ap = float(np.nanmean([_ap(labels, causal_mean(np.concatenate([leads[j], s]), k)[len(leads[j]):])
                                   for s, (j, _, labels) in zip(raw[name], suite)]))
            if ap > ap_best + 1e-9:
                k_best, ap_best = k, ap
        if k_best > 1:
            params = dict(table.loc[chosen, "params"], smoothing=k_best)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                detector = make_detector(table.loc[chosen, "model_type"], **params).fit(as_frame)
    reason = _reason(table, chosen, period, window, k_best, ap_best, switching=bool(np.isfinite(switch_z)))
    return AutoFitResult(detector=detector, window_size=window, period=period, chosen=name, candidates=table,
                         reason=reason, smoothing=k_best, injections=injected,
                         fitted=fitted)


def _values(frame) -> np.ndarray:
    values = frame.to_numpy(dtype=np.float64) if isinstance(frame, pd.DataFrame) else np.asarray(frame, float)
    return values[:, None] if values.ndim == 1 else values


def _recordings_suite(part_values: list[np.ndarray], n_heldouts: list[int], random_state: int | None):
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


def select(table: pd.DataFrame, z: float = 2.0) -> int:
    """The row of `table` to keep: the first candidate (the incumbent) unless the best of the others
    beats it on the injected anomalies by more than `z` standard errors of the paired difference
    (the same injected copies score both, so the difference is taken copy by copy).

    The injections are few, short and in a few held-out rows, so a candidate's validation AP is
    noisy; and a window detector is at a disadvantage there (its score reaches the rows around an
    anomaly) that it is not on real anomalies, which last. The incumbent, chosen on the synthetic
    validation set, is kept unless the evidence against it is clear."""
    scores = table["validation_ap"].to_numpy(dtype=np.float64)
    if len(scores) == 1 or not np.isfinite(scores[1:]).any():
        return 0
    challenger = 1 + int(np.nanargmax(scores[1:]))
    if not np.isfinite(scores[0]):
        return challenger
    if not np.isfinite(z) or "injection_aps" not in table:
        return 0
    diff = np.asarray(table.loc[challenger, "injection_aps"]) - np.asarray(table.loc[0, "injection_aps"])
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return 0
    standard_error = diff.std(ddof=1) / np.sqrt(len(diff))
    return challenger if diff.mean() > z * standard_error and diff.mean() > 0 else 0


def _describe(row) -> str:
    return DESCRIPTIONS.get(row["model_type"], row["name"])


def _reason(table, chosen, period, window, smoothing, ap_smoothed, switching: bool) -> str:
    """One console line: what was chosen, on what evidence, and what it beat or what did not beat it."""
    what = table.loc[chosen]
    period_text = f"period {period} rows" if period else "no clear period"
    head = (f"auto: {what['name']}" + (f", smoothing {smoothing}" if smoothing > 1 else "")
            + f" ({period_text}, window {window}; validation AP {ap_smoothed:.2f} on anomalies injected into the "
              "held-out rows")
    others = table.drop(index=chosen)
    if others.empty:
        return head + ")"
    networks = others[~others["model_type"].isin(BASELINES)]
    rival = (networks if what["model_type"] in BASELINES and not networks.empty else others)
    rival = rival.loc[rival["validation_ap"].idxmax()]
    ours, theirs = what["validation_ap"], rival["validation_ap"]
    if chosen != 0:
        incumbent = table.loc[0]
        return (head + f"; it beat {_describe(incumbent)}: {ours:.2f} vs {incumbent['validation_ap']:.2f})")
    if theirs <= ours:
        return head + f"; {_describe(rival)} did not beat {_describe(what)} on this data: {theirs:.2f} vs {ours:.2f})"
    if switching:
        return (head + f"; {_describe(rival)} scored {theirs:.2f}, not clearly more than the injections' "
                f"noise, so {_describe(what)} is kept)")
    return (head + f"; {_describe(rival)} scored {theirs:.2f} there, a lead that has not carried over to real "
            f"anomalies on the dev sets, so {_describe(what)} is kept)")
