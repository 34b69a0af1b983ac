"""An alert compared with the faults an operator labelled (`seqae feedback --fault`): the alert
table's `like_fault`.

    a kept fault (`detector.faults_`: its top sensors with their shares) --profile--> {sensor: share}
    an alert (`Alert.shares`: each sensor's summed positive contribution) --profile of as many
      sensors as the fault keeps--> {sensor: share}
      --cosine similarity over the sensors of both >= MATCH_SIMILARITY--> like that fault

Both profiles are taken over the same number of top sensors (the fault keeps its top 3), so that an
alert of the same pattern scores 1.0 whatever the small shares of its other sensors. The closest
fault above the cut-off is named (its first time and note); a match only annotates the alert, the
rules' decisions do not change. The cut-off was measured on SKAB (docs/benchmarks.md, "Operator
feedback").
"""

from __future__ import annotations

import math

import numpy as np

MATCH_SIMILARITY = 0.9  # the cosine similarity of two share profiles from which an alert is like a fault


def fault_profile(fault: dict) -> dict[str, float]:
    """A kept fault's `{sensor: share}` (`top_sensors`: [[name, share], ...]); empty when it has none."""
    profile = {}
    for entry in fault.get("top_sensors") or []:
        name, share = entry[0], entry[1]
        if share is not None and math.isfinite(float(share)) and float(share) > 0:
            profile[str(name)] = float(share)
    return profile


def alert_profile(shares, feature_names, top: int | None = None) -> dict[str, float]:
    """An alert's `{sensor: share}` of its `top` largest shares (all with None); empty when it has
    no positive share."""
    if shares is None or not len(feature_names):
        return {}
    shares = np.nan_to_num(np.asarray(shares, dtype=np.float64), nan=0.0).clip(min=0.0)
    total = shares.sum()
    if total <= 0:
        return {}
    order = np.argsort(-shares, kind="stable")[:top]
    return {str(feature_names[j]): float(shares[j] / total) for j in order if shares[j] > 0}


def similarity(first: dict[str, float], second: dict[str, float]) -> float:
    """The cosine similarity of two `{sensor: share}` profiles over the sensors of both (a sensor one
    lacks counts 0 there); 0.0 when either is empty."""
    names = sorted(set(first) | set(second))
    a = np.array([first.get(name, 0.0) for name in names])
    b = np.array([second.get(name, 0.0) for name in names])
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


def match_fault(shares, feature_names, faults, cutoff: float = MATCH_SIMILARITY) -> tuple[dict, float] | None:
    """The kept fault of `faults` an alert with `shares` is most like, with its similarity, when that
    reaches `cutoff`; None otherwise (no faults, no shares, none close enough)."""
    best = None
    for fault in faults or []:
        profile = fault_profile(fault)
        if not profile:
            continue
        score = similarity(alert_profile(shares, feature_names, top=len(profile)), profile)
        if score >= cutoff and (best is None or score > best[1]):
            best = (fault, score)
    return best


def like_fault(shares, feature_names, faults) -> str:
    """The alert table's `like_fault`: the matched fault's first time and note (`2026-03-04 10:00:00
    (valve stuck)`), or "" when the alert is like none of `faults`."""
    found = match_fault(shares, feature_names, faults)
    if found is None:
        return ""
    fault = found[0]
    note = str(fault.get("note") or "").strip()
    return f"{fault.get('start', '')}" + (f" ({note})" if note else "")


def like_fault_rows(alert_ids, alerts, feature_names, faults) -> np.ndarray:
    """`like_fault` per row: that of the row's alert (`alert_ids`, -1: none; `alerts`, the `Alert`s
    they name), "" where the row has no alert or its alert is like no fault."""
    alert_ids = np.asarray(alert_ids, dtype=np.int64)
    text = {alert.alert_id: like_fault(alert.shares, feature_names, faults) for alert in alerts or []}
    return np.array([text.get(int(k), "") for k in alert_ids], dtype=object)
