"""What a StateBook reports: a state's unseen value or transition, a constant leaving its value once."""

from __future__ import annotations

import pandas as pd

from seqae.data.states import StateBook


def test_a_constant_is_reported_where_it_leaves_its_value_and_a_state_where_it_does_something_new():
    train = pd.DataFrame({"flow": [1.0, 2.5, 3.1, 0.2, 4.4, 2.2], "valve": [0, 0, 1, 1, 0, 0],
                          "pump_id": [3, 3, 3, 3, 3, 3]})
    book = StateBook().fit(train, {"flow": "continuous", "valve": "state", "pump_id": "constant"})
    test = pd.DataFrame({"flow": [1.0] * 6, "valve": [0, 1, 2, 2, 1, 1], "pump_id": [3, 4, 5, 3, 6, 6]})
    events, last = book.events(test, {"valve": 0, "pump_id": 3})
    assert events == ["", "pump_id (constant 3 in training) changed to 4", "valve is 2, never seen in training",
                      "", "valve went 2 -> 1, never seen in training; pump_id (constant 3 in training) changed to 6",
                      ""]
    assert last == {"valve": 1, "pump_id": 6}


def test_resample_and_repeats_hold_a_state_column_at_its_last_reading(tmp_path):
    """`--resample 1min` over readings every 20 s: a grid time takes the mean of the readings within
    half a step of it, or the line between the readings around an empty span, for a reading; a state
    column takes its last reading at or before the grid time, whole or in chunks, as a valve holds
    its position. `--duplicates mean` keeps the last of a state column's repeats."""
    import numpy as np

    from seqae.data import ChunkReader, ReadOptions, read_sensor_csv

    seconds = [0, 20, 40, 60, 80, 100, 120, 140, 260, 280, 300]  # no reading from 150 s to 210 s
    valve = [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0]  # opens at 80 s, closed again by 260 s
    pressure = [1.1, 2.1, 3.1, 4.1, 8.1, 6.1, 7.1, 5.1, 9.1, 2.1, 4.1]
    times = pd.Timestamp("2026-03-01") + pd.to_timedelta(seconds, unit="s")
    path = tmp_path / "plant.csv"
    pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M:%S"), "pressure": pressure,
                  "valve": valve}).to_csv(path, index=False)
    grid = read_sensor_csv(path, ReadOptions(resample="1min", hold=("valve",)))  # as a model with a valve reads it
    assert list(grid.index.strftime("%H:%M")) == ["00:00", "00:01", "00:02", "00:03", "00:04", "00:05"]
    # a mean of 1/3 at 00:01 and a line at 2/3 at 00:03 were states never held
    assert list(grid["valve"]) == [0, 0, 1, 1, 1, 0]
    np.testing.assert_allclose(grid["pressure"], [1.6, 5.1, 6.1, 5.1 + 4.0 * 40 / 120, 9.1, 3.1])
    for hold in (("valve",), "states"):  # named, or found from the readings (training rows: few whole numbers)
        assert read_sensor_csv(path, ReadOptions(resample="1min", hold=hold)).equals(grid)
        for chunk_rows in (2, 5):
            blocks = ChunkReader(str(path), ["pressure", "valve"], ReadOptions(resample="1min", hold=hold), chunk_rows)
            np.testing.assert_array_equal(np.concatenate([values for _, values in blocks]), grid.to_numpy())
    assert read_sensor_csv(path, resample="1min")["valve"].iloc[1] == 1 / 3  # no column held: readings all

    repeated = tmp_path / "repeats.csv"
    pd.DataFrame({"timestamp": ["2026-03-01 00:00:00", "2026-03-01 00:00:00", "2026-03-01 00:01:00"],
                  "pressure": [1.5, 2.5, 3.5], "valve": [0, 1, 1]}).to_csv(repeated, index=False)
    merged = read_sensor_csv(repeated, ReadOptions(duplicates="mean", hold="states"))
    assert list(merged["pressure"]) == [2.0, 3.5] and list(merged["valve"]) == [1, 1]


def test_the_state_columns_a_model_scores_are_read_as_numbers():
    """Where no column is a reading the detector models the state columns (`modelled_columns`): they
    are interpolated and averaged as readings are, and only the constants hold."""
    import numpy as np

    from seqae.data.roles import held_by_readings, held_columns

    values = np.array([[0.0, 3.0, 0.25], [1.0, 3.0, np.nan], [np.nan, 3.0, 7.5]])
    assert held_by_readings(values, ["valve", "pump_id", "flow"]) == ("valve", "pump_id")
    assert held_by_readings(values[:, :2], ["valve", "pump_id"]) == ("pump_id",)
    assert held_columns({"valve": "state", "mode": "state"}) == ()


def test_roles_given_by_hand_decide_the_held_columns_and_are_checked():
    """`held_by_readings` with roles a user set: they replace the ones found, as in `column_roles`, and
    a column the rows lack or a role that is none is a one-line `ConfigError`."""
    import numpy as np
    import pytest

    from seqae.data.roles import held_by_readings
    from seqae.errors import ConfigError

    values = np.array([[0.0, 3.0, 0.25], [1.0, 3.0, np.nan], [np.nan, 3.0, 7.5]])
    names = ["valve", "pump_id", "flow"]
    assert held_by_readings(values, names, {"valve": "continuous", "flow": "state"}) == ("pump_id", "flow")
    with pytest.raises(ConfigError, match="roles names column 'gear', which the data does not have"):
        held_by_readings(values, names, {"gear": "state"})
    with pytest.raises(ConfigError, match="the role of 'flow' must be one of continuous, state, constant"):
        held_by_readings(values, names, {"flow": "reading"})
