"""The figures logged with every run, drawn from numpy arrays and pandas indexes (no MLflow here).

Each function returns a matplotlib `Figure` made without pyplot: no display, no global state, no
backend switched in the caller's process; saving it as PNG renders with Agg. Nothing to close.

Figures are drawn once, when saved: their margins are sized once from their labels (`_lay_out`), not
by a layout engine that measures every label again at each draw, and a series with more points than
the figure has pixel columns is cut to the lowest and highest point of each column (`decimate`), so
that a long file draws as fast as a short one and its spikes stay visible.
"""

from __future__ import annotations

import datetime
import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from seqae.intervals import flags_to_intervals

FLAG_COLOR = "tab:red"
LABEL_COLOR = "tab:orange"
ALERT_COLOR = "tab:purple"
MAX_SCATTER_POINTS = 4000  # latent points drawn; more are subsampled evenly
MARK_COLORS = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink")
EXPECTED_COLOR = "tab:green"
PAD_INCHES = 0.12  # blank space between a label and the figure's edge, and between neighbours
ALERT_STRIP = 0.06  # the alerts' strip along the bottom of the scores, a fraction of the axes' height
MAX_DECADES = 6  # powers of ten labelled above a symlog axis' threshold


def loss_curves(train_loss, validation_loss=(), best_epoch: int | None = None, title: str = "") -> Figure:
    """Training (and validation) loss per epoch, epochs counted from 1; the kept epoch marked.

    `best_epoch` is 1-based, as the x axis.
    """
    figure, ax = _figure((7, 4))
    epochs = np.arange(1, len(train_loss) + 1)
    ax.plot(epochs, train_loss, marker="o", markersize=3, label="training loss")
    if len(validation_loss):
        ax.plot(np.arange(1, len(validation_loss) + 1), validation_loss, marker="o", markersize=3,
                label="validation loss")
    if best_epoch is not None and best_epoch >= 1:
        ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept: epoch {best_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if len(train_loss) and min(train_loss) > 0 and max(train_loss) / min(train_loss) > 20:
        ax.set_yscale("log")
    ax.set_title(title or "Loss per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    _lay_out(figure, [ax])
    return figure


def score_timeline(index: pd.Index, scores: np.ndarray, threshold: float, flags: np.ndarray,
                   labels: np.ndarray | None = None, split_at: int | None = None,
                   title: str = "", alert_ids: np.ndarray | None = None) -> Figure:
    """Anomaly score over time with the threshold, flagged intervals shaded red, the alerts (rows
    of `alert_ids` >= 0) as a purple strip along the bottom and, when given, the labelled anomalies
    shaded orange beneath. `split_at`: first row held out for validation. Where the largest score
    is over 10 times the threshold, the axis is linear up to the threshold and logarithmic above,
    its ticks 0, the threshold and powers of ten apart enough for their labels (`symlog_ticks`)."""
    x = _axis(index)
    figure, ax = _figure((12, 4))
    if labels is not None:
        _shade(ax, x, labels, LABEL_COLOR, 0.25, "labelled anomaly")
    _shade(ax, x, flags, FLAG_COLOR, 0.18, "flagged")
    if alert_ids is not None:  # a strip along the bottom: the flagged rows' shading would hide a band
        _shade(ax, x, np.asarray(alert_ids) >= 0, ALERT_COLOR, 0.75, "alert", height=ALERT_STRIP)
    ax.plot(*decimate(x, scores, _pixel_columns(figure)), color="tab:blue", linewidth=0.8, label="score")
    ax.axhline(threshold, color=FLAG_COLOR, linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    if split_at is not None and 0 < split_at < len(x):
        ax.axvline(x[split_at], color="grey", linestyle=":", linewidth=1.2, label="validation starts")
    ax.set_xlabel(index.name or "row")
    ax.set_ylabel("anomaly score")
    finite = np.asarray(scores, dtype=np.float64)
    finite = finite[np.isfinite(finite)]  # rows warming up have no score
    if threshold > 0 and finite.size and float(np.max(finite)) > 10 * threshold:
        # One large peak would flatten everything else: linear up to the threshold, log above.
        ax.set_yscale("symlog", linthresh=threshold)
        ax.set_ylim(bottom=min(float(np.min(finite)), 0.0) - 0.05 * threshold)
        low, high = ax.get_ylim()
        ticks = symlog_ticks(threshold, low, high)
        ax.set_yticks(ticks, [_tick_text(t, threshold) for t in ticks])
        ax.minorticks_off()
        ax.set_ylabel("anomaly score (log above the threshold)")
    flagged = int(np.sum(flags))
    ax.set_title(title or f"Score per time point ({flagged} of {len(scores)} flagged)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small", ncol=5)
    _lay_out(figure, [ax])
    return figure


def contribution_heatmap(index: pd.Index, contributions: np.ndarray, feature_names, title: str = "") -> Figure:
    """Each sensor's share of the score over time (time × sensor), the sensors as rows."""
    values = np.asarray(contributions, dtype=np.float64).T  # (n_features, n_timepoints)
    figure, ax = _figure((12, 1.2 + 0.45 * len(feature_names)))
    # Colour scale up to the 99.5th percentile, so that one spike does not wash out the rest.
    values = np.nan_to_num(values, nan=0.0)  # rows warming up have no score
    top = float(np.quantile(values, 0.995)) if values.size else 1.0
    is_time = isinstance(index, pd.DatetimeIndex)
    if len(index) > 1:
        left, right = index[0], index[-1]
        if is_time:
            left, right = mdates.date2num(left), mdates.date2num(right)
        extent = (float(left), float(right), len(feature_names) - 0.5, -0.5)
    else:
        extent = None
    image = ax.imshow(values, aspect="auto", interpolation="nearest", cmap="magma",
                      vmin=min(0.0, float(values.min())), vmax=max(top, 1e-12), extent=extent)
    if is_time:
        ax.xaxis_date()
    ax.set_yticks(range(len(feature_names)), [str(n) for n in feature_names])
    ax.set_xlabel(index.name or "row")
    ax.set_title(title or "Per-sensor contribution to the score")
    colorbar = figure.colorbar(image, ax=ax, label="contribution", pad=0.01)
    _lay_out(figure, [ax], colorbar)
    return figure


def latent_scatter(latent: np.ndarray, window_scores: np.ndarray, title: str = "",
                   marked: dict[str, np.ndarray] | None = None) -> Figure:
    """The windows' latent vectors projected on their first two principal components, coloured by
    the window's anomaly score (the mean score of its rows). `marked`: a label (an alert) -> a 0/1
    mask over the windows (those covering its rows), drawn circled, one colour per label."""
    latent = np.asarray(latent, dtype=np.float64)  # (n_windows, latent_dim)
    window_scores = np.asarray(window_scores, dtype=np.float64)
    marked = {label: np.asarray(mask, dtype=bool) for label, mask in (marked or {}).items()}
    if len(latent) > MAX_SCATTER_POINTS:
        keep = np.linspace(0, len(latent) - 1, MAX_SCATTER_POINTS).astype(int)
        # an alert's windows are kept whole: they are few, and the point of the plot
        keep = np.union1d(keep, np.flatnonzero(np.any(list(marked.values()), axis=0))) if marked else keep
        latent, window_scores = latent[keep], window_scores[keep]
        marked = {label: mask[keep] for label, mask in marked.items()}
    centred = latent - latent.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    n_axes = min(2, components.shape[0])
    projected = centred @ components[:n_axes].T
    if n_axes == 1:
        projected = np.column_stack([projected[:, 0], np.zeros(len(projected))])
    variance = singular**2 / max(float(np.sum(singular**2)), 1e-300)
    figure, ax = _figure((6.5, 5.5))
    order = np.argsort(window_scores, kind="stable")  # most anomalous drawn last, on top
    points = ax.scatter(projected[order, 0], projected[order, 1], c=window_scores[order], s=6,
                        cmap="viridis", vmax=float(np.quantile(window_scores, 0.995)))
    colorbar = figure.colorbar(points, ax=ax, label="window score")
    for k, (label, mask) in enumerate(marked.items()):
        ax.scatter(projected[mask, 0], projected[mask, 1], s=40, facecolors="none", linewidths=1.2,
                   edgecolors=MARK_COLORS[k % len(MARK_COLORS)], label=f"{label} ({int(mask.sum())} windows)")
    if marked:  # below the axes, across the figure, each label wrapped to fit (`_lay_out`)
        figure.legend(*ax.get_legend_handles_labels(), loc="lower left", fontsize="small", frameon=False,
                      bbox_to_anchor=(PAD_INCHES / figure.get_figwidth(), PAD_INCHES / figure.get_figheight()))
    ax.set_xlabel(f"PC 1 ({100 * variance[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * variance[1]:.0f}% of variance)" if n_axes > 1 else "PC 2 (none)")
    ax.set_title(title or f"Latent space of {len(latent)} windows")
    ax.grid(alpha=0.3)
    _lay_out(figure, [ax], colorbar)
    return figure


def expected_readings(index: pd.Index, actual: np.ndarray, expected: np.ndarray, sensor_names,
                      span: tuple[int, int], title: str = "") -> Figure:
    """Why rows were flagged: each sensor's actual readings against what the model expected
    (`reconstruct`), one panel per sensor, the flagged rows `span` (first, last positions in
    `index`) shaded. `actual`, `expected`: (n_rows, n_sensors) in the sensors' units."""
    actual = np.asarray(actual, dtype=np.float64).reshape(len(index), -1)
    expected = np.asarray(expected, dtype=np.float64).reshape(len(index), -1)
    x = _axis(index)
    n_sensors = actual.shape[1]
    figure = Figure(figsize=(10, 1.2 + 2.0 * n_sensors))
    axes = np.atleast_1d(figure.subplots(n_sensors, 1, sharex=True))
    flags = np.zeros(len(index), dtype=np.int8)
    flags[span[0]:span[1] + 1] = 1
    for j, ax in enumerate(axes):
        _shade(ax, x, flags, FLAG_COLOR, 0.18, "flagged")
        ax.plot(*decimate(x, actual[:, j], _pixel_columns(figure)), color="tab:blue", linewidth=1.0, label="actual")
        ax.plot(*decimate(x, expected[:, j], _pixel_columns(figure)), color=EXPECTED_COLOR, linewidth=1.0,
                linestyle="--", label="expected")
        ax.set_ylabel(str(sensor_names[j]))
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize="small", ncol=3)
    axes[-1].set_xlabel(index.name or "row")
    axes[0].set_title(title or "Actual against expected readings")
    _lay_out(figure, list(axes))
    return figure


def symlog_ticks(threshold: float, low: float, high: float, max_decades: int = MAX_DECADES) -> list[float]:
    """Ticks in [`low`, `high`] for an axis linear within ±`threshold` and logarithmic beyond: 0,
    ±`threshold`, and the powers of ten beyond it at least half a decade from it (nearer, their
    labels would meet the threshold's), every k-th of them where more than `max_decades` would crowd."""
    ticks = [0.0, threshold, -threshold]
    for sign, end in ((1.0, high), (-1.0, -low)):
        if end <= threshold:
            continue
        decades = list(range(math.ceil(math.log10(threshold) + 0.5), math.floor(math.log10(end)) + 1))
        step = max(1, -(-len(decades) // max_decades))  # ceiling
        ticks += [sign * 10.0**k for k in decades[::-1][::step]]  # the largest kept: the top stays labelled
    return sorted(t for t in ticks if low <= t <= high)


def _tick_text(value: float, threshold: float) -> str:
    if value != 0 and abs(value) != threshold:
        exponent = round(math.log10(abs(value)))
        if 10.0**exponent == abs(value):
            return f"{'-' * (value < 0)}$10^{{{exponent}}}$"
    return f"{value:.3g}"


def decimate(x: np.ndarray, y: np.ndarray, n_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """`x`, `y` cut to at most `2 * n_columns` points for a line `n_columns` pixels wide: the rows
    split into `n_columns` runs of consecutive rows, each run drawn as its lowest and its highest
    point, in time order, so that every spike and dip still reaches its height. Series no longer than
    that, and series with missing values, are returned whole."""
    x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
    n_rows = len(y)
    if n_columns < 1 or n_rows <= 2 * n_columns or not np.all(np.isfinite(y)):
        return x, y
    rows_per_column = -(-n_rows // n_columns)  # ceiling
    n_runs = -(-n_rows // rows_per_column)
    padded = np.concatenate([y, np.full(n_runs * rows_per_column - n_rows, y[-1])]).reshape(n_runs, rows_per_column)
    starts = np.arange(n_runs) * rows_per_column
    lowest = np.minimum(starts + np.argmin(padded, axis=1), n_rows - 1)
    highest = np.minimum(starts + np.argmax(padded, axis=1), n_rows - 1)
    keep = np.unique(np.concatenate([lowest, highest, [0, n_rows - 1]]))  # sorted: time order
    return x[keep], y[keep]


def _figure(figsize: tuple[float, float]):
    figure = Figure(figsize=figsize)
    return figure, figure.subplots()


def _pixel_columns(figure: Figure) -> int:
    return int(figure.get_figwidth() * figure.dpi)


def _lay_out(figure: Figure, axes: list, colorbar=None) -> None:
    """Margins sized once from the figure's labels: the widest y tick label and the y label on the
    left, the x tick labels and the x label below, the title (wrapped to fit) above, on the right
    half the widest x tick label, or the colorbar's ticks and label. One measure of each label, and
    no layout engine that measures them all again at each draw.

    A title is centred on its axes, which a colorbar or a wide y label moves off the figure's
    centre: one wider than the room about that centre is wrapped again and the margins sized anew."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    width = figure.get_figwidth()
    for ax in axes:
        _wrap_title(ax, renderer, width - 2 * PAD_INCHES)
    for legend in figure.legends:
        _wrap_legend(legend, renderer, width - 2 * PAD_INCHES)
    _adjust_margins(figure, axes, colorbar, renderer)
    rewrapped = False
    for ax in axes:
        box = ax.get_position()
        centre = (box.x0 + box.x1) / 2 * width
        rewrapped |= _wrap_title(ax, renderer, 2 * (min(centre, width - centre) - PAD_INCHES))
    if rewrapped:
        _adjust_margins(figure, axes, colorbar, renderer)


def _adjust_margins(figure: Figure, axes: list, colorbar, renderer) -> None:
    width, height = figure.get_size_inches()
    dpi = figure.dpi

    def inches(texts, dimension: str) -> float:
        return max((getattr(t.get_window_extent(renderer), dimension) / dpi for t in texts if t.get_text()),
                   default=0.0)

    left = max(inches(ax.get_yticklabels(), "width") + inches([ax.yaxis.label], "width") for ax in axes)
    x_ticks = axes[-1].get_xticklabels()
    bottom = inches(x_ticks, "height") + inches([axes[-1].xaxis.label], "height") + 0.15
    bottom += sum(legend.get_window_extent(renderer).height / dpi + PAD_INCHES for legend in figure.legends)
    top = inches([axes[0].title], "height")
    right = PAD_INCHES + inches(x_ticks, "width") / 2  # the last tick label is centred on the right edge
    if colorbar is not None:  # the colorbar is on the right edge
        right = (PAD_INCHES + inches(colorbar.ax.get_yticklabels(), "width")
                 + inches([colorbar.ax.yaxis.label], "width") + 0.15)
    bottom, top = (bottom + PAD_INCHES) / height, 1 - (top + 0.1 + PAD_INCHES) / height
    gap = 0.15 + inches([ax.title for ax in axes[1:]], "height")  # between stacked panels, in inches
    panel = ((top - bottom) * height - (len(axes) - 1) * gap) / len(axes)
    figure.subplots_adjust(left=(left + 0.15 + PAD_INCHES) / width, right=1 - right / width,
                           bottom=bottom, top=top, hspace=gap / max(panel, 0.1))


def _wrap_title(ax, renderer, width_inches: float) -> bool:
    """Break a title wider than `width_inches` into lines that fit, at spaces; whether it did."""
    title = ax.title
    text = title.get_text()
    if not text:
        return False
    measured = title.get_window_extent(renderer).width / ax.figure.dpi
    if measured <= width_inches:
        return False
    chars_per_line = max(int(max(len(line) for line in text.splitlines()) * width_inches / measured * 0.95), 10)
    title.set_text("\n".join(textwrap.wrap(" ".join(text.split()), chars_per_line, break_on_hyphens=False)))
    return True


def _wrap_legend(legend, renderer, width_inches: float) -> None:
    """Break the labels of a legend wider than `width_inches` into lines that fit, at spaces."""
    measured = legend.get_window_extent(renderer).width / legend.figure.dpi
    if measured <= width_inches:
        return
    texts = legend.get_texts()
    longest = max(len(text.get_text()) for text in texts)
    chars_per_line = max(int(longest * width_inches / measured * 0.9), 10)
    for text in texts:
        text.set_text("\n".join(textwrap.wrap(text.get_text(), chars_per_line, break_on_hyphens=False)))


def _axis(index: pd.Index) -> np.ndarray:
    if isinstance(index, pd.DatetimeIndex):
        return np.asarray(index.to_pydatetime())
    return np.asarray(index)


def _shade(ax, x: np.ndarray, flags: np.ndarray, color: str, alpha: float, label: str, height: float = 1.0) -> None:
    """The runs of `flags` shaded from the bottom of `ax` up to `height` (a fraction of its height),
    as one artist however many runs there are (a span each took a file of thousands of runs seconds)."""
    runs = flags_to_intervals(flags)
    if not len(runs):
        return
    position = mdates.date2num(x) if len(x) and isinstance(x[0], datetime.datetime) else np.asarray(x, dtype=np.float64)
    boxes = []
    for first, last in runs:
        left, right = position[first], position[last + 1] if last + 1 < len(position) else position[last]
        boxes.append([(left, 0.0), (left, height), (right, height), (right, 0.0)])
    ax.add_collection(PolyCollection(boxes, transform=ax.get_xaxis_transform(), facecolors=color, alpha=alpha,
                                     linewidths=0, label=label), autolim=False)