"""The isolation forest on windows, with a numpy walk of its trees that says which sensors isolated a window."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from seqae.detectors.base import BaseDetector
from seqae.params import Integer, Param, Real
from seqae.windows import window_tensor


class IsolationForestDetector(BaseDetector):
    """Isolation forest on flattened windows (Liu, Ting and Zhou, 2008): a baseline without a network.

    Each window of `window_size` rows is one point of `window_size * n_features` values; a window is
    anomalous when random axis-parallel splits isolate it in few steps. The window's score is
    scikit-learn's `-score_samples`, `2 ** (-mean path length / c(max_samples))`, in (0, 1]; 0.5
    and above is what the original paper calls anomalous. This is the windowed IsolationForest of
    PyOD and TSB-AD.

    Which sensors moved: every split on a window's path through a tree isolates it from part of
    the training windows; log(training windows at the node / at the child it went to) measures
    how much. A sensor's share of the window's score is its share of that isolation, summed over
    the splits on its readings in every tree (in the spirit of DIFFI's local importance, Carletti
    et al. 2023). A window isolated by splits on one sensor's readings is blamed on that sensor.

    The fitted forest is kept as plain arrays (children, split feature and value, training
    samples per node), saved in `config.json`, and scored by a numpy walk of the trees that
    gives scikit-learn's scores.

    Parameters as every detector's (`BaseDetector`), with `normalization="none"` by default (the
    score stays the forest's score) and `normalize_on="train"`, and the forest's own.
    """

    model_type = "iforest"
    parameters = {
        "n_estimators": Param(100, Integer(1), "trees."),
        "max_samples": Param(256, Integer(1), "training windows drawn (without replacement) for each tree; "
                                              "at most all."),
        "max_features": Param(1.0, Real(0.0, 1.0, low_open=True),
                              "share of the window's values each tree may split on (1.0 = all)."),
    }
    defaults = {"normalization": "none", "normalize_on": "train"}

    def _fit_model(self, train_parts, validation_parts):
        n_features = self.n_features_in_
        windows = window_tensor(train_parts, self.window_size).reshape(-1, self.window_size * n_features)
        windows = windows.numpy()
        forest = IsolationForest(n_estimators=self.n_estimators, max_samples=min(self.max_samples, len(windows)),
                                 max_features=self.max_features, random_state=self.random_state)
        forest.fit(windows)
        self.forest_ = forest_arrays(forest)

    def _window_scores(self, windows):
        flat = windows.numpy().reshape(len(windows), -1)
        scores, shares = forest_scores(self.forest_, flat, windows.shape[2])
        n_features = windows.shape[2]
        # (batch, window, n_features): each step carries the window's score split by sensor; the
        # mean over sensors (what _contributions sums) is the window's score.
        elements = (scores[:, None] * shares * n_features).astype(np.float32)
        return np.repeat(elements[:, None, :], windows.shape[1], axis=1)

    def model_state(self):
        return {key: value.tolist() for key, value in self.forest_.items()}, {}

    def load_model_state(self, config, tensors):
        self.forest_ = {key: np.asarray(value, dtype=FOREST_DTYPES[key]) for key, value in config.items()}


FOREST_DTYPES = {"roots": np.int64, "left": np.int64, "right": np.int64, "feature": np.int64,
                  "value": np.float64, "n_samples": np.int64, "max_samples": np.int64}


def forest_arrays(forest: IsolationForest) -> dict[str, np.ndarray]:
    """A fitted IsolationForest as flat node arrays of all its trees (node ids global, leaves -1)."""
    roots, left, right, feature, value, n_samples = [], [], [], [], [], []
    offset = 0
    for tree, features in zip(forest.estimators_, forest.estimators_features_):
        t = tree.tree_
        leaf = t.children_left == -1
        roots.append(offset)
        left.append(np.where(leaf, -1, t.children_left + offset))
        right.append(np.where(leaf, -1, t.children_right + offset))
        # the tree's feature k is column features[k] of the window
        feature.append(np.where(leaf, -1, np.asarray(features)[np.maximum(t.feature, 0)]))
        value.append(t.threshold)
        n_samples.append(t.n_node_samples)
        offset += t.node_count
    return {"roots": np.asarray(roots), "left": np.concatenate(left), "right": np.concatenate(right),
            "feature": np.concatenate(feature), "value": np.concatenate(value),
            "n_samples": np.concatenate(n_samples), "max_samples": np.asarray([forest.max_samples_])}


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n points."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def forest_scores(forest: dict, flat: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores `(n_windows,)` and each sensor's share `(n_windows, n_features)` of flattened windows.

    `flat[:, k * n_features + f]` is sensor f at step k of the window.
    """
    # scikit-learn compares float32 inputs with float64 split values
    flat = np.asarray(flat, dtype=np.float32).astype(np.float64)  # (n_windows, window * n_features)
    n_windows, n_trees = len(flat), len(forest["roots"])
    nodes = np.broadcast_to(forest["roots"], (n_windows, n_trees)).copy()  # (n_windows, n_trees)
    depth = np.zeros((n_windows, n_trees), dtype=np.int64)
    per_sensor = np.zeros((n_windows, n_features))  # isolation gained by splits on each sensor
    active = forest["left"][nodes] != -1
    while active.any():
        window, node = np.nonzero(active)[0], nodes[active]
        column = forest["feature"][node]
        go_left = flat[window, column] <= forest["value"][node]
        child = np.where(go_left, forest["left"][node], forest["right"][node])
        # log of the share of the node's training windows the split left behind with this one
        gain = np.log(forest["n_samples"][node] / forest["n_samples"][child])
        np.add.at(per_sensor, (window, column % n_features), gain)
        nodes[active] = child
        depth[active] += 1
        active = forest["left"][nodes] != -1
    path_length = depth + _average_path_length(forest["n_samples"][nodes])  # (n_windows, n_trees)
    normaliser = _average_path_length(forest["max_samples"])[0]
    scores = 2.0 ** (-path_length.mean(axis=1) / normaliser) if normaliser > 0 else np.ones(n_windows)
    total = per_sensor.sum(axis=1, keepdims=True)
    shares = np.divide(per_sensor, total, out=np.full_like(per_sensor, 1.0 / n_features), where=total > 0)
    return scores, shares
