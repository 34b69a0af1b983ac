"""Thresholds by kind name: the table every spec, pipeline file and saved model is read through.

| kind | class | the value |
|---|---|---|
| `quantile` | `QuantileThreshold(q=0.99)` | the `q` quantile of the normal scores |
| `ucl` | `UpperControlLimit(q=0.99, factor=1.5)` | SKAB's upper control limit: that quantile times `factor` |
| `fixed` | `FixedThreshold(value=0.0)` | a number the user chose |
| `far` | `FalseAlarmRateThreshold(target=0.01)` | conformal: expected normal flag rate <= `target` |
| `pot` | `PeaksOverThreshold(risk=1e-3, initial_quantile=0.98)` | 1 - `risk` quantile of a Pareto tail (SPOT) |
| `alerts` | `AlertBudgetThreshold(per_day=None, per_1000_rows=None)` | the alert rules raise that many alerts on normal rows |

The table lives above both `seqae.thresholds` and `seqae.alerts` (whose budget threshold is fitted
with the alert rules), so neither imports the other to make a kind known.
"""

from __future__ import annotations

import math
import re

from seqae.alerts.budget import AlertBudgetThreshold
from seqae.errors import ConfigError
from seqae.thresholds import (FalseAlarmRateThreshold, FixedThreshold, PeaksOverThreshold, QuantileThreshold,
                              Threshold, UpperControlLimit)

THRESHOLDS: dict[str, type[Threshold]] = {
    cls.kind: cls for cls in (QuantileThreshold, UpperControlLimit, FixedThreshold, FalseAlarmRateThreshold,
                              PeaksOverThreshold, AlertBudgetThreshold)
}


def make_threshold(kind: str, **params) -> Threshold:
    """Build a threshold by kind name (`quantile`, `ucl`, `fixed`, ...) with its parameters."""
    if kind not in THRESHOLDS:
        raise ConfigError(f"unknown threshold {kind!r}; choose one of {', '.join(sorted(THRESHOLDS))}")
    cls = THRESHOLDS[kind]
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"threshold {kind!r} takes no parameter {unknown[0]!r}; it takes {', '.join(valid) or 'none'}"
        )
    return cls(**params)


def threshold_from_dict(state: dict) -> Threshold:
    """Rebuild a threshold saved with `Threshold.to_dict` (fitted if the dict holds a `value`)."""
    threshold = make_threshold(state["kind"], **state.get("params", {}))
    if "value" in state:
        threshold.value_ = float(state["value"])
        threshold.load_fitted_state(state.get("fitted", {}))
    return threshold


def parse_threshold(spec: str) -> Threshold:
    """A threshold from a one-line spec: `KIND` or `KIND:NAME=VALUE,NAME=VALUE`, values numbers.

    The form the CLI's `--threshold` and pipeline files take. Parameters are checked at once.

    >>> parse_threshold("ucl:q=0.99,factor=1.5")
    UpperControlLimit()
    >>> parse_threshold("far:target=0.005")
    FalseAlarmRateThreshold(target=0.005)
    >>> parse_threshold("pot:risk=1e-4").risk
    0.0001
    """
    example = "e.g. 'quantile:q=0.995' or 'ucl:q=0.99,factor=1.5'"
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"threshold spec is empty; write KIND or KIND:NAME=VALUE,... ({example}); "
                          f"kinds: {', '.join(sorted(THRESHOLDS))}")
    kind, _, rest = spec.strip().partition(":")
    params: dict[str, float | int] = {}
    for item in rest.split(",") if rest.strip() else []:
        name, equals, text = (part.strip() for part in item.partition("="))
        if not equals or not name or not text:
            raise ConfigError(f"threshold spec {spec!r}: {item.strip()!r} is not NAME=VALUE; write {example}")
        if name in params:
            raise ConfigError(f"threshold spec {spec!r}: parameter {name!r} is given twice; give it once")
        params[name] = _parse_number(text, f"threshold spec {spec!r}: parameter {name!r}")
    try:
        threshold = make_threshold(kind.strip(), **params)
        threshold.check_params()
    except ConfigError as exc:
        raise ConfigError(f"threshold spec {spec!r}: {exc}") from None
    return threshold


def _parse_number(text: str, where: str) -> float | int:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{where} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {text!r}")
    return value
