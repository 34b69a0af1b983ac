"""Generated multi-sensor series with known injected anomalies: the demo's data and the tests'.

The sensors are noisy mixtures of a few shared periodic drivers (so they are correlated, as real
sensors of one machine are), sampled once a second. Anomalies are injected after `normal_rows`, each
into one sensor, so a detector can be checked on what it flags and on which sensor it blames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

ANOMALY_KINDS = ("spike", "level_shift", "noise", "frequency", "drift")


@dataclass(frozen=True)
class InjectedAnomaly:
    start: int  # first row, inclusive
    end: int  # last row, inclusive
    sensor: str
    kind: str


def make_sensor_data(
    n_timepoints: int = 3000,
    n_features: int = 4,
    *,
    normal_rows: int | None = None,
    anomalies: tuple[str, ...] = ("spike", "level_shift", "noise", "frequency"),
    anomaly_length: int = 40,
    noise: float = 0.05,
    start: str = "2026-01-01 00:00:00",
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.Series, list[InjectedAnomaly]]:
    """A frame of `n_features` sensors, its 0/1 labels, and the list of injected anomalies.

    Args:
        n_timepoints: rows, one per second from `start`.
        n_features: sensors, named `sensor_0`, `sensor_1`, ...
        normal_rows: rows at the start left free of anomalies (default: the first half).
        anomalies: kinds to inject, one interval each, spread evenly over the rest of the series,
            each into a sensor picked in turn: `spike` (one row, +8 std), `level_shift` (+3 std),
            `noise` (noise of the signal's own std added), `frequency` (the sensor's period
            halved), `drift` (a ramp to +4 std).
        anomaly_length: rows of each interval anomaly (a spike is one row).
        noise: standard deviation of the measurement noise, relative to the signal's.
        random_state: seed; same seed, same data.
    """
    rng = np.random.default_rng(random_state)
    normal_rows = n_timepoints // 2 if normal_rows is None else normal_rows
    # Each anomaly needs its slot (a start jitter of up to 9 rows + its length + a gap): no overlaps.
    if normal_rows + len(anomalies) * (anomaly_length + 10) + anomaly_length + 1 > n_timepoints:
        raise ValueError(f"{n_timepoints} rows cannot hold {normal_rows} normal rows and "
                         f"{len(anomalies)} anomalies of {anomaly_length} rows")
    unknown = [k for k in anomalies if k not in ANOMALY_KINDS]
    if unknown:
        raise ValueError(f"unknown anomaly kind {unknown[0]!r}; choose from {', '.join(ANOMALY_KINDS)}")

    t = np.arange(n_timepoints, dtype=np.float64)
    periods = np.array([50.0, 83.0, 131.0])
    phases = rng.uniform(0, 2 * np.pi, size=len(periods))
    mixing = rng.normal(size=(n_features, len(periods)))  # each sensor mixes the shared drivers
    offsets = rng.uniform(-5, 5, size=n_features)
    gains = rng.uniform(0.5, 3.0, size=n_features)

    def drivers(speed: np.ndarray) -> np.ndarray:  # (n_timepoints, n_drivers)
        return np.sin(2 * np.pi * speed[:, None] * t[:, None] / periods + phases)

    clean = drivers(np.ones(n_timepoints)) @ mixing.T  # (n_timepoints, n_features)
    clean /= clean.std(axis=0)
    values = clean + noise * rng.normal(size=clean.shape)

    names = [f"sensor_{j}" for j in range(n_features)]
    labels = np.zeros(n_timepoints, dtype=np.int8)
    injected: list[InjectedAnomaly] = []
    slots = np.linspace(normal_rows, n_timepoints - anomaly_length - 1, num=len(anomalies) + 1)[:-1]
    for i, (kind, slot) in enumerate(zip(anomalies, slots.astype(int))):
        j = i % n_features
        first = int(slot) + int(rng.integers(0, 10))
        last = first if kind == "spike" else first + anomaly_length - 1
        span = slice(first, last + 1)
        if kind == "spike":
            values[first, j] += 8.0
        elif kind == "level_shift":
            values[span, j] += 3.0
        elif kind == "noise":
            # Measurement noise x6 plus noise of the signal's own std: a burst that hides the shape.
            values[span, j] += 6.0 * noise * rng.normal(size=last - first + 1) + rng.normal(size=last - first + 1)
        elif kind == "frequency":
            fast = drivers(np.full(n_timepoints, 2.0)) @ mixing[j] / np.std(drivers(np.ones(n_timepoints)) @ mixing[j])
            values[span, j] = fast[span] + noise * rng.normal(size=last - first + 1)
        elif kind == "drift":
            values[span, j] += np.linspace(0.0, 4.0, last - first + 1)
        labels[span] = 1
        injected.append(InjectedAnomaly(first, last, names[j], kind))

    index = pd.date_range(start, periods=n_timepoints, freq="s", name="timestamp")
    frame = pd.DataFrame(values * gains + offsets, index=index, columns=names)
    return frame, pd.Series(labels, index=index, name="anomaly"), injected


def write_demo_csv(path, **kwargs) -> list[InjectedAnomaly]:
    """Write `make_sensor_data(**kwargs)` as a CSV (timestamp, sensors, `anomaly` label column)."""
    frame, labels, injected = make_sensor_data(**kwargs)
    out = frame.copy()
    out["anomaly"] = labels
    out.to_csv(path, index_label="timestamp", float_format="%.6g")
    return injected


def injected_table(injected: list[InjectedAnomaly]) -> pd.DataFrame:
    return pd.DataFrame([asdict(a) for a in injected], columns=["start", "end", "sensor", "kind"])


def make_fleet_data(n_assets: int = 3, n_timepoints: int = 1000, n_features: int = 3, *,
                    asset_column: str = "machine", anomalies: tuple[str, ...] = (), normal_rows: int | None = None,
                    anomaly_length: int = 40, random_state: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A fleet export: `n_assets` machines (`m00`, `m01`, ...) each with `make_sensor_data`'s
    sensors (seed `random_state + k`, so every machine has its own levels and mixing), their rows
    interleaved in time order as one export of a whole fleet writes them, an `asset_column` first.

    Returns the frame (indexed by timestamp, repeated once per machine) and its 0/1 labels."""
    width = max(2, len(str(n_assets - 1)))
    frames, labels = [], []
    for k in range(n_assets):
        frame, label, _ = make_sensor_data(n_timepoints, n_features, normal_rows=normal_rows, anomalies=anomalies,
                                           anomaly_length=anomaly_length, random_state=random_state + k)
        frame.insert(0, asset_column, f"m{k:0{width}d}")
        frames.append(frame.assign(_order=np.arange(n_timepoints) * n_assets + k))
        labels.append(label)
    fleet = pd.concat(frames)
    order = np.argsort(fleet["_order"].to_numpy(), kind="stable")
    return fleet.drop(columns="_order").iloc[order], pd.concat(labels).iloc[order]
