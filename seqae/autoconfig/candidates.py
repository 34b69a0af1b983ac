"""What `seqae fit` fits with no options (the default), and what `seqae fit --compare` sets beside it.

The default is one detector: the mean of its members' scores, each normalised by its own spread on
the held-out rows (`EnsembleDetector`), all at the window the data suggests. Its members, and why
each is there (docs/benchmarks.md, "The recurrent members" has the figures):

    knn-window     the distance to the nearest normal window: shapes and levels it has seen
    deviation      (several sensors) each sensor's level over a window: a sensor whose level left
                   its range cannot hide in a compromise match over all sensors
    lstm-ae        (several sensors) the LSTM autoencoder: the shape through time, where a window's
                   own rows do not match any remembered window but follow the learnt dynamics

Over one sensor the nearest window is the default alone: it already pins the level (the level
member lowered the AP), and the LSTM member, while it ranked slightly better after the fact, cost
the live decisions a tenth of the anomalies found on the one-sensor dev sets
(docs/benchmarks.md, "Decisions as live monitoring has them").
"""

from __future__ import annotations

from dataclasses import dataclass

NETWORK_MAX_WINDOW = 64  # a network candidate compared alone reads at most this many rows per window

DESCRIPTIONS = {
    "deviation": "the level baseline",
    "pca": "PCA on windows",
    "knn-window": "the nearest-normal-window distance",
    "ensemble": "the mean of its members",
    "lstm-ae": "the LSTM autoencoder",
    "lstm-vae": "the LSTM-VAE",
    "lstm-forecast": "the LSTM forecaster",
}
# why each member is in the default, for the console line
MEMBER_ROLES = {
    "knn-window": "the nearest normal window for the shapes and levels seen in training",
    "deviation": "the level baseline for each sensor's level",
    "lstm-ae": "the LSTM autoencoder for the shape through time",
}
# the recurrent member: each window's mean per sensor taken out (the level is the other members' job), a
# decoder that reads its previous reading, a code of 4 values, each window's mean error given to its rows
RECURRENT_MEMBER = ["lstm-ae", {"window_norm": "center", "decoder": "teacher_forcing", "latent_dim": 4,
                                "score_reduction": "window"}]
LEVEL_MEMBER = ["deviation", {"score_reduction": "window"}]


@dataclass
class Candidate:
    """One detector configuration that auto-configuration fits."""

    name: str  # e.g. "knn-window+deviation+lstm-ae w=80"
    model_type: str
    params: dict


def default_members(n_features: int, networks: bool = True) -> list[list]:
    """The default's members as (model type, parameters) pairs: the nearest normal windows, and for
    several sensors the level baseline and the LSTM autoencoder (unless `networks` is False)."""
    members = [["knn-window", {}]]
    if n_features > 1:
        members.append([LEVEL_MEMBER[0], dict(LEVEL_MEMBER[1])])
        if networks:
            members.append([RECURRENT_MEMBER[0], dict(RECURRENT_MEMBER[1])])
    return members


def default_candidate(window_size: int, n_features: int = 1, *, networks: bool = True) -> Candidate:
    """The default at `window_size`: the `EnsembleDetector` of `default_members`, or the
    nearest-normal-window distance alone when that is the one member."""
    w = int(window_size)
    members = default_members(n_features, networks)
    if len(members) == 1:
        return Candidate(f"knn-window w={w}", "knn-window", {"window_size": w})
    name = "+".join(model_type for model_type, _ in members)
    return Candidate(f"{name} w={w}", "ensemble", {"window_size": w, "members": members})


def default_candidates(window_size: int, n_features: int = 1, *, networks: bool = True) -> list[Candidate]:
    """What `seqae fit --compare` fits: the default first, then the nearest-normal-window distance
    alone (and with the level baseline, for several sensors), the level baseline, PCA on windows,
    and the networks alone (each at most NETWORK_MAX_WINDOW rows per window)."""
    w = int(window_size)
    net_w = int(min(w, NETWORK_MAX_WINDOW))
    default = default_candidate(w, n_features, networks=networks)
    out = [default]
    knn = Candidate(f"knn-window w={w}", "knn-window", {"window_size": w})
    pair = Candidate(f"knn-window+deviation w={w}", "ensemble",
                     {"window_size": w, "members": [["knn-window", {}], [LEVEL_MEMBER[0], dict(LEVEL_MEMBER[1])]]})
    out += [c for c in ([pair] if n_features > 1 else []) + [knn] if c.name != default.name]
    out += [
        Candidate("deviation", "deviation", {}),
        Candidate(f"pca w={w}", "pca", {"window_size": w, "scaling": "robust", "score_reduction": "window",
                                        "normalize_on": "validation"}),
    ]
    if networks:
        common = {"window_size": net_w, "scaling": "robust", "epochs": 30}
        out += [
            Candidate(f"lstm-ae w={net_w}", "lstm-ae", {**common, "latent_dim": 4, "score_reduction": "window"}),
            Candidate(f"lstm-vae w={net_w}", "lstm-vae", {**common, "latent_dim": 4, "score_reduction": "window",
                                                          "normalize_on": "validation"}),
            Candidate(f"lstm-forecast w={net_w}", "lstm-forecast", {**common, "hidden_size": 32}),
        ]
    return out
