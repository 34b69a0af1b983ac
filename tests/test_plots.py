"""The figures' drawing shortcuts: decimation keeps every pixel column's extremes; labels fit the figure."""

import io

import numpy as np
import pandas as pd
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
    ]
    for figure in figures:
        figure.savefig(io.BytesIO(), format="png")
        renderer = FigureCanvasAgg(figure).get_renderer()
        box = figure.bbox
        for ax in figure.axes:
            for text in [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_yticklabels(), *ax.get_xticklabels()]:
                if text.get_text() and text.get_visible():
                    extent = text.get_window_extent(renderer)
                    assert box.x0 <= extent.x0 and extent.x1 <= box.x1 + 0.5, text.get_text()
                    assert box.y0 <= extent.y0 and extent.y1 <= box.y1 + 0.5, text.get_text()
