"""The mean of several detectors' normalised scores, as one detector.

Detectors that see different things miss different anomalies: the nearest-normal-window distance
sees a window's shape against the shapes it remembers, PCA on windows sees a window leave the
subspace normal windows span. Each member's per-sensor score is normalised by its own median and
MAD on the held-out rows (its `normalizer_`), so the members speak in the same units, and the
ensemble's score of a row is the mean of theirs:

    frame --scaler_ (the members' own: same rows, same method)--> windows
      --each member's window_scores, minus its centre, over its spread--> (batch, window, features) each
      --mean over the members--> element scores --the windows covering a row, averaged--> per sensor
      --summed over sensors--> the score (with `normalization="none"`, the default: the mean of the
         members' normalised scores)

The ensemble's own normaliser, threshold and alert rules are fitted on the held-out rows' scores
as each member computed them in its own fit (out of sample: a nearest-window member remembers the
held-out rows only after its calibration, so scoring them again afterwards would give distances of
zero).

Every member shares the ensemble's window, scaling and held-out share; a member's own parameters
(e.g. PCA's `score_reduction`) come with its model type in `members`. The members are saved inside
the ensemble's `weights.pt`, each as the files its own `save` writes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from seqae.detectors.base import BaseDetector
from seqae.detectors.registry import make_detector
from seqae.errors import ConfigError, DataError
from seqae.params import Param, Satisfies

# `--model ensemble`'s members (docs/benchmarks.md, "Auto-configuration"): the nearest normal
# windows and PCA on windows, each window's mean error given to its rows, PCA's normaliser on the
# held-out rows. (`seqae fit` with several sensors keeps another pair: autoconfig.SHAPE_AND_LEVEL.)
# (Lists, as config.json gives them back, so that a loaded ensemble's get_params equals the fitted one's.)
DEFAULT_MEMBERS = [["knn-window", {}], ["pca", {"score_reduction": "window", "normalize_on": "validation"}]]
# the ensemble's, given to each member (`roles`: every member models the same columns)
SHARED = ("window_size", "scaling", "validation_fraction", "random_state", "roles")


def _valid_members(members) -> bool:
    try:
        return len(members) >= 1 and all(isinstance(t, str) and isinstance(p, dict) for t, p in members)
    except (TypeError, ValueError):
        return False


class EnsembleDetector(BaseDetector):
    """The mean of its members' normalised scores (see the module docstring).

    Parameters as every detector's (`BaseDetector`), with `scaling="robust"` and
    `normalization="none"` by default (the ensemble's own normalisation of the mean: the members'
    are enough, and the score stays the mean of theirs), and `members`.
    """

    model_type = "ensemble"
    parameters = {
        "members": Param(
            DEFAULT_MEMBERS,
            Satisfies(lambda m, _: _valid_members(m), "",
                      message="members must be (model type, parameters) pairs, e.g. "
                              "[['knn-window', {{}}], ['pca', {{}}]], got {value!r}"),
            "(model type, parameters) pairs, e.g. `[[\"knn-window\", {}], [\"pca\", {\"n_components\": 0.9}]]`. "
            "A member may not set `smoothing` (the ensemble smooths) or the shared parameters (`window_size`, "
            "`scaling`, `validation_fraction`, `random_state`, `roles`: the ensemble's own), and its `score_reduction` "
            "must be `mean` or `window` (a row takes the mean of the windows covering it)."),
    }
    defaults = {"normalization": "none", "scaling": "robust"}

    def check_params(self) -> None:
        super().check_params()
        self.member_detectors()  # each member's type and parameters, checked

    def member_detectors(self) -> list[BaseDetector]:
        """The members, unfitted, with the shared parameters set; a one-line `ConfigError` for the
        first member that cannot be one."""
        out = []
        for k, (model_type, params) in enumerate(self.members):
            where = f"member {k + 1} ({model_type})"
            given = sorted(set(params) & set(SHARED + ("smoothing",)))
            if given:
                raise ConfigError(f"{where} sets {given[0]!r}, which the ensemble sets for every member; "
                                  "set it on the ensemble, or drop it")
            if model_type == self.model_type:
                raise ConfigError(f"{where}: an ensemble cannot hold an ensemble; list its members instead")
            detector = make_detector(model_type, **params)
            valid = detector.get_params()
            detector.set_params(**{k: getattr(self, k) for k in SHARED if k in valid})
            if "window_size" in valid:
                detector.set_params(window_size=self.window_size)
            if detector.score_reduction not in ("mean", "window"):
                raise ConfigError(f"{where} has score_reduction={detector.score_reduction!r}; an ensemble "
                                  "averages the windows covering a row: use 'mean' or 'window'")
            detector.check_params()
            out.append(detector)
        return out

    def fit(self, X, y=None) -> "EnsembleDetector":
        """Fit every member on `X`, then the ensemble's normaliser, threshold and alert rules on
        the members' own scores of the training rows."""
        self.check_params()
        self.members_ = [member.fit(X) for member in self.member_detectors()]
        return super().fit(X)

    # ---- BaseDetector hooks -----------------------------------------------------------------------

    def _fit_model(self, train_parts, validation_parts) -> None:
        scaler = self.scaler_.to_dict()
        for k, member in enumerate(self.members_):
            if member.scaler_.to_dict() != scaler:  # the same rows and method: cannot differ
                raise DataError(f"member {k + 1} scaled the training rows differently from the ensemble")

    def _training_element_scores(self, scaled_parts: list[np.ndarray]) -> list[np.ndarray]:
        return self._pooled(scaled_parts, "ranking")

    def _training_causal_elements(self, scaled_parts: list[np.ndarray]) -> list[np.ndarray]:
        return self._pooled(scaled_parts, "causal")

    def _pooled(self, scaled_parts: list[np.ndarray], kind: str) -> list[np.ndarray]:
        """The members' normalised element scores of the training rows as each computed them in its
        fit (`fit_contributions_`: (element - centre) / spread / n_features, before any smoothing),
        averaged, one array per recording."""
        n_features = scaled_parts[0].shape[1]
        pooled = np.mean([member.fit_contributions_[kind] * n_features for member in self.members_], axis=0)
        bounds = np.cumsum([0] + [len(part) for part in scaled_parts])
        return [pooled[first:last] for first, last in zip(bounds[:-1], bounds[1:])]

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        parts = []
        for member in self.members_:
            center, scale = member.normalizer_
            parts.append((member.window_scores(windows).astype(np.float64) - center) / scale)
        # float32 as every detector's element scores: their float64 sums over the windows covering a
        # row are then exact, so the scores do not depend on how windows are batched
        return np.mean(parts, axis=0).astype(np.float32)  # (batch, window, features)

    def verdict_gate(self):
        gates = [gate for gate in (member.verdict_gate() for member in self.members_) if gate is not None]
        if not gates:
            return None
        return lambda windows: np.logical_or.reduce([gate(windows) for gate in gates])

    def model_state(self):
        files = {}
        with tempfile.TemporaryDirectory() as tmp:
            for k, member in enumerate(self.members_):
                directory = member.save(Path(tmp) / str(k))
                for path in sorted(directory.iterdir()):
                    files[f"member{k}/{path.name}"] = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
        return {"n_members": len(self.members_)}, files

    def load_model_state(self, config, tensors):
        members = []
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(int(config["n_members"])):
                directory = Path(tmp) / str(k)
                directory.mkdir()
                names = [key.split("/", 1)[1] for key in tensors if key.startswith(f"member{k}/")]
                if "config.json" not in names:
                    raise DataError(f"weights.pt holds no member {k + 1}; save the ensemble again")
                for name in names:
                    (directory / name).write_bytes(tensors[f"member{k}/{name}"].numpy().tobytes())
                members.append(BaseDetector.load(directory))
        self.members_ = members
