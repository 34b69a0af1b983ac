"""The figures' drawing shortcuts: decimation keeps every pixel column's extremes; labels fit the figure and
meet no other label; the alerts show above the flagged rows; flagged runs are one artist."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg

from seqae import plots


def test_decimate_keeps_the_lowest_and_highest_point_of_every_column_in_time_order():
    rng = np.random.default_rng(0)
    y = rng.normal(size=10_000)
    y[4321] = 50.0  # one spike, one dip: both must survive
    y[777] = -50.0
    x = np.arange(len(y)) * 2.0
    kept_x, kept_y = plots.decimate(x, y, 100)
    assert len(kept_y) <= 2 * 100 + 2
    assert np.all(np.diff(kept_x) > 0)
    np.testing.assert_array_equal(kept_y, y[(kept_x / 2).astype(int)])  # points of the series, not new ones
    for column in np.array_split(np.arange(len(y)), 100):
        assert y[column].max() in kept_y and y[column].min() in kept_y
    assert kept_x[0] == x[0] and kept_x[-1] == x[-1]


def test_decimate_leaves_short_series_and_series_with_gaps_whole():
    y = np.arange(150.0)
    assert len(plots.decimate(np.arange(150), y, 100)[1]) == 150
    y = np.arange(1000.0)
    y[10] = np.nan
    assert len(plots.decimate(np.arange(1000), y, 100)[1]) == 1000


def test_long_titles_and_sensor_names_stay_inside_the_figure():
    index = pd.date_range("2024-01-01", periods=300, freq="s", name="datetime")
    values = np.random.default_rng(1).normal(size=(300, 2))
    names = ["Volume Flow RateRMS with a long name", "Pressure"]
    figures = [
        plots.expected_readings(index, values, values + 0.1, names, (100, 120),
                                title="training data: alert 0: " + "a long description of the alert " * 6),
        plots.contribution_heatmap(index, np.abs(values), names),
        plots.score_timeline(index, np.abs(values[:, 0]) * 1e6, 2e6, np.zeros(300, dtype=np.int8)),
        plots.latent_scatter(values, np.abs(values[:, 0]), title="valve1-anomalies-of-march.csv: latent space "
                             "of 300 windows (PCA of encode())", marked={"alert 1: a long label": np.arange(300) > 280}),
    ]
    for figure in figures:
        figure.savefig(io.BytesIO(), format="png")
        renderer = FigureCanvasAgg(figure).get_renderer()
        box = figure.bbox
        for ax in figure.axes:
            for text in [ax.title, ax.xaxis.label, ax.yaxis.label, *drawn_ticks(ax.yaxis), *drawn_ticks(ax.xaxis)]:
                if text.get_text() and text.get_visible():
                    extent = text.get_window_extent(renderer)
                    assert box.x0 <= extent.x0 and extent.x1 <= box.x1 + 0.5, text.get_text()
                    assert box.y0 <= extent.y0 and extent.y1 <= box.y1 + 0.5, text.get_text()


def test_the_latent_legend_stays_inside_the_figure_and_off_the_points():
    values = np.random.default_rng(2).normal(size=(300, 4))
    long_label = ("flagged 2020-03-09 10:15:38+01:00 .. 2020-03-09 10:15:39+01:00, sensors "
                  + ", ".join(f"Accelerometer{k}RMS" for k in range(6)))
    figure = plots.latent_scatter(values, np.abs(values[:, 0]),
                                  marked={long_label: np.arange(300) > 280, "flagged 2020-03-09": np.arange(300) < 20})
    figure.savefig(io.BytesIO(), format="png")
    renderer = FigureCanvasAgg(figure).get_renderer()
    (legend,) = figure.legends
    extent, box, ax = legend.get_window_extent(renderer), figure.bbox, figure.axes[0]
    assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0, extent
    assert extent.y1 <= ax.xaxis.label.get_window_extent(renderer).y0  # below the axes and their label
    assert "\n" in legend.get_texts()[0].get_text()  # wrapped to the figure's width


def drawn_ticks(axis):
    """The tick labels matplotlib draws: those of ticks within the axis' view (its locator lists more)."""
    low, high = sorted(axis.get_view_interval())
    return [label for tick, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels())
            if low <= tick <= high]


def peaked_scores(n: int = 400):
    """Scores with one peak 100 times the threshold (6e7): the axis turns symlog."""
    scores = np.abs(np.random.default_rng(0).normal(size=n)) * 2e7
    scores[300:330] = np.linspace(1e8, 6e9, 30)
    return scores, 6e7


def test_symlog_tick_labels_do_not_meet():
    scores, threshold = peaked_scores()
    figure = plots.score_timeline(pd.RangeIndex(len(scores)), scores, threshold, scores > threshold)
    figure.savefig(io.BytesIO(), format="png")
    renderer = FigureCanvasAgg(figure).get_renderer()
    labels = [t for t in figure.axes[0].get_yticklabels() if t.get_text()]
    assert [t.get_text() for t in labels] == ["0", "6e+07", "$10^{9}$"]
    extents = sorted((t.get_window_extent(renderer) for t in labels), key=lambda box: box.y0)
    assert all(lower.y1 < upper.y0 for lower, upper in zip(extents, extents[1:]))


def test_symlog_ticks_keep_the_threshold_and_space_the_decades():
    assert plots.symlog_ticks(6e7, -3e6, 6e9) == [0.0, 6e7, 1e9]  # 1e8 is a quarter decade from 6e7
    assert plots.symlog_ticks(1.0, -5.0, 1e3) == [-1.0, 0.0, 1.0, 10.0, 100.0, 1000.0]
    many = plots.symlog_ticks(1.0, 0.0, 1e20)
    assert len(many) <= 2 + plots.MAX_DECADES and many[-1] == 1e20


def test_the_alerts_strip_shows_above_the_flagged_rows():
    scores, threshold = peaked_scores()
    alert_ids = np.where(scores > threshold, 1, -1)
    figure = plots.score_timeline(pd.RangeIndex(len(scores)), scores, threshold, scores > threshold,
                                  alert_ids=alert_ids)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    ax = figure.axes[0]
    x, _ = ax.transData.transform((315, 0))
    _, y = ax.transAxes.transform((0, plots.ALERT_STRIP / 2))
    red, green, blue, _ = pixels[int(pixels.shape[0] - y), int(x)].astype(int)
    assert blue > red > green  # purple (tab:purple is 148, 103, 189), not the flagged rows' pink


def test_flagged_runs_are_shaded_by_one_artist_however_many_there_are():
    flags = np.arange(4000) % 4 == 0  # 1,000 runs of one row
    index = pd.date_range("2024-03-31 00:00", periods=4000, freq="min", tz="Europe/Paris")
    figure = plots.score_timeline(index, flags * 2.0, 1.0, flags, alert_ids=np.where(flags, 0, -1))
    (ax,) = figure.axes
    assert len(ax.patches) == 0 and len(ax.collections) == 2  # the flagged rows, the alerts' strip
    shaded = ax.collections[0].get_paths()
    assert len(shaded) == 1000
    first = shaded[0].vertices[:, 0]  # the first run: from its row to the next row's time
    assert first.min() == pytest.approx(mdates.date2num(index[0])) and first.max() == pytest.approx(mdates.date2num(index[1]))
