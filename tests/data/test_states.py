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
