"""What each column of a sensor table is, from its training rows: a continuous reading, a state
(a command, mode or valve position: a few whole-number values), or a constant.

Wide telemetry exports carry dozens of 0/1 command and mode columns beside a few readings, many of
them constant for the whole training stretch. Scored like readings, a state column that was 0 in
all but a few training rows has a spread near zero, and its first toggle outweighs every reading by
orders of magnitude (a score of 1e7 where the reading moved by 3). So a detector models the
continuous columns, and the others are listed with their role rather than scored as readings.

    continuous  more than `MAX_STATES` distinct values, or any value that is not a whole number
    state       2 to `MAX_STATES` distinct whole-number values (0/1, on/off codes, mode numbers)
    constant    one distinct value in the training rows

How the rule was chosen: docs/benchmarks.md, "Wide sensor files".
"""

from __future__ import annotations

import numpy as np

from seqae.errors import ConfigError

ROLES = ("continuous", "state", "constant")
MAX_STATES = 16
HELD_ROLES = ("state", "constant")  # columns that hold their last reading: a value between two states is none


def column_roles(values: np.ndarray, names: list[str], given: dict | None = None) -> dict[str, str]:
    """Each column's role (`ROLES`) from its training `values` `(n_rows, n_columns)` (finite); `given`
    names the roles a user set for some columns, which replace the ones found."""
    values = np.asarray(values, dtype=np.float64)
    return _given_roles({name: _role(np.unique(values[:, j])) for j, name in enumerate(names)}, given, names)


def held_columns(roles: dict[str, str]) -> tuple[str, ...]:
    """The columns that take their last reading where `--fill interpolate` fills a gap or `--resample`
    makes a grid time, as a valve holds its position (0.5 between 0 and 1 is no state): the state and
    constant columns (`HELD_ROLES`) a detector leaves out of its model (`modelled_columns`)."""
    held = [name for name, role in roles.items() if role in HELD_ROLES]
    if len(held) == len(roles):  # no reading: the states are modelled, read as numbers
        held = [name for name in held if roles[name] == "constant"]
    return tuple(held)


def held_by_readings(values: np.ndarray, names: list[str], given: dict | None = None) -> tuple[str, ...]:
    """`held_columns` of rows whose roles are not known yet (a training file as it is read), by
    `column_roles`' rule over each column's finite readings in `values` `(n_rows, n_columns)`, the
    roles `given` replacing the ones found, as `column_roles` has them."""
    values = np.asarray(values, dtype=np.float64)
    roles = {}
    for j, name in enumerate(names):
        distinct = np.unique(values[:, j][np.isfinite(values[:, j])])
        roles[name] = _role(distinct) if distinct.size else "continuous"  # no reading: nothing to hold
    return held_columns(_given_roles(roles, given, names))


def _given_roles(roles: dict[str, str], given: dict | None, names: list[str]) -> dict[str, str]:
    """`roles` (found) with the ones a user set (`given`: column -> role) in their place, after a
    `ConfigError` for a column the data does not have or a role that is not one of `ROLES`."""
    if given is not None and not isinstance(given, dict):
        raise ConfigError(f"roles must be a dict of column -> role ({', '.join(ROLES)}), e.g. "
                          f"{{\"valve_cmd\": \"state\"}}, got {given!r}")
    for name, role in (given or {}).items():
        if name not in roles:
            raise ConfigError(f"roles names column {name!r}, which the data does not have; it has "
                              f"{', '.join(repr(n) for n in names[:10])}{' ...' if len(names) > 10 else ''}")
        if role not in ROLES:
            raise ConfigError(f"the role of {name!r} must be one of {', '.join(ROLES)}, got {role!r}")
    return {**roles, **(given or {})}


def _role(distinct: np.ndarray) -> str:
    """The role of a column whose distinct readings are `distinct` (sorted): one value is a constant,
    2 to `MAX_STATES` whole numbers a state, anything else a reading."""
    if distinct.size <= 1:
        return "constant"
    if distinct.size <= MAX_STATES and np.all(distinct == np.round(distinct)):
        return "state"
    return "continuous"


def modelled_columns(roles: dict[str, str]) -> list[str]:
    """The columns a detector models: the continuous ones; where there are none, the state columns
    (read as numbers: they are all the data says); a `ConfigError` when every column is constant."""
    continuous = [name for name, role in roles.items() if role == "continuous"]
    if continuous:
        return continuous
    states = [name for name, role in roles.items() if role == "state"]
    if states:
        return states
    raise ConfigError(f"every sensor is constant in the training rows ({', '.join(list(roles)[:10])}); there is "
                      "nothing to learn from them: fit on rows where the sensors move")


def describe_roles(roles: dict[str, str], modelled: list[str]) -> str:
    """One line: how many columns of each role, and which are left out of the model."""
    counts = {role: [n for n, r in roles.items() if r == role] for role in ROLES}
    left = [n for n in roles if n not in modelled]
    parts = [f"{len(counts[role])} {role}" for role in ROLES if counts[role]]
    text = f"{len(roles)} columns: " + ", ".join(parts)
    if left:
        shown = ", ".join(left[:6]) + (f" and {len(left) - 6} more" if len(left) > 6 else "")
        text += f"; modelled: {len(modelled)}, left out: {shown}"
    return text
