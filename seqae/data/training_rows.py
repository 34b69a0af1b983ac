"""The rows a model learns from, and the rows a fitted model scores, read from a CSV.

    read_training_data   the first `train_rows`, or the rows up to `train_until`, or all; the
                         label column, if named, never a sensor; how the file was read, for the run
    read_training_files  several recordings (files, or directories of them) for one model
    read_fleet_training  a fleet export's training rows, split by the asset column
    read_for_detector    the sensors a fitted detector needs (other columns ignored), and the labels
    read_fleet_for_detector  the same for a fleet model: each asset's rows, split by its asset column
    options_for_detector the read options that hold a fitted detector's state and constant columns
    shaper_for_detector  the row shaper of a live feed of a detector, holding those columns too
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from seqae.data.csv import read_fleet_csv, read_header, read_sensor_csv
from seqae.data.options import HOLD_ALL, ReadOptions
from seqae.data.regular import RowShaper
from seqae.data.roles import held_by_readings, held_columns
from seqae.errors import ConfigError, DataError, DataWarning, missing_columns_message


@dataclass
class TrainingData:
    """The rows a detector learns from and how they were read (logged with the run).

    From several files (`read_training_files`), `recordings` holds each file's TrainingData and
    `frame` their rows one after the other; a detector is fitted on `fit_input`, the list of
    their frames, so that no window spans two files."""

    frame: pd.DataFrame  # (n_timepoints, n_features) float sensors, indexed by time
    path: Path  # the file, or the directory or first file of several
    options: dict = field(default_factory=dict)
    recordings: list["TrainingData"] = field(default_factory=list)  # one per file, when there are several

    @property
    def fit_input(self):
        """What `fit` takes: the frame, or the list of each file's frame."""
        return [r.frame for r in self.recordings] if self.recordings else self.frame

    @property
    def name(self) -> str:
        """The file's name, or 'N files' (in run names and messages)."""
        return f"{len(self.recordings)} files" if self.recordings else self.path.name


@dataclass
class FleetTrainingData:
    """A fleet export's training rows, split by asset (`read_fleet_training`)."""

    assets: dict[str, pd.DataFrame]  # asset -> its training rows, (n_timepoints, n_features), time order
    path: Path
    asset_column: str
    options: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


def collect_csv_files(paths) -> list[Path]:
    """The CSV files named, a directory standing for its `*.csv` files (sorted by name); a
    `ConfigError` for a directory without any, or a file named twice."""
    files = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
            if not found:
                raise ConfigError(f"{path}: a directory without .csv files; give CSV files or a directory of them")
            files += found
        else:
            files.append(path)
    seen = set()
    for path in files:
        if path.resolve() in seen:
            raise ConfigError(f"{path}: named twice; give each recording once")
        seen.add(path.resolve())
    return files


def read_training_files(paths, *, columns=None, label_column=None, options: ReadOptions | None = None,
                        train_rows: int | None = None, train_until: str | None = None,
                        roles: dict | None = None) -> TrainingData:
    """Several recordings of the same sensors (files, or directories of them) as one TrainingData:
    each file read by `read_training_data` (`train_rows` / `train_until` apply to each), the
    sensors of the first required in every other, the same columns held in all (`roles`: as
    `read_training_data` has them, found on the training rows of all the files). One file gives
    what `read_training_data` gives."""
    return _held_as_roles(collect_csv_files(paths), columns, label_column, options or ReadOptions(), train_rows,
                          train_until, roles)


def _held_as_roles(files: list[Path], columns, label_column, options: ReadOptions, train_rows, train_until,
                   roles) -> TrainingData:
    """The training rows of `files`, the columns whose role in them is state or constant (found on
    their readings, `roles` replacing some: `seqae.data.roles.held_by_readings`) holding their last
    reading, unless `options.hold` names the held columns. The roles are found on the training rows
    read with every column held (their values readings, never one between two), which are the rows
    the held columns then have; they are read again, the others drawn and averaged, where that differs."""
    if options.hold is not None:
        return _training_files(files, columns, label_column, options, train_rows, train_until)
    readings = _training_files(files, columns, label_column, options.replace(hold=HOLD_ALL), train_rows, train_until)
    names = list(readings.frame.columns)
    held = held_by_readings(readings.frame.to_numpy(), names, roles)
    if not options.blends or set(held) == set(names):
        return readings
    with warnings.catch_warnings():  # the first reading said them
        warnings.simplefilter("ignore", DataWarning)
        return _training_files(files, columns, label_column, options.replace(hold=held), train_rows, train_until)


def _training_files(files: list[Path], columns, label_column, options: ReadOptions, train_rows,
                    train_until) -> TrainingData:
    """The training rows of each of `files` (`_training_rows`), one TrainingData."""
    first = _training_rows(files[0], columns, label_column, options, train_rows, train_until)
    if len(files) == 1:
        return first
    sensors = list(first.frame.columns)
    recordings = [first] + [_training_rows(path, sensors, label_column, options, train_rows, train_until)
                            for path in files[1:]]
    frame = pd.concat([r.frame for r in recordings])
    folder = files[0].parent if all(f.parent == files[0].parent for f in files) else None
    merged = {**first.options,
              "data_path": str(folder.resolve()) if folder else "(several directories)",
              "n_files": len(files),
              "files": ",".join(f.name for f in files)[:6000],
              "n_rows_in_file": sum(r.options["n_rows_in_file"] for r in recordings),
              "n_train_rows": len(frame)}
    return TrainingData(frame, folder or files[0], merged, recordings)


def read_fleet_training(path, asset_column: str, *, columns=None, label_column=None,
                        options: ReadOptions | None = None, train_rows: int | None = None,
                        train_until: str | None = None, roles: dict | None = None) -> FleetTrainingData:
    """A fleet export's training rows per asset (`seqae.data.read_fleet_csv`): each asset's first
    `train_rows`, or its rows up to `train_until`, or all; the label column never a sensor. The state
    and constant columns of each asset's training rows hold their last reading, as in
    `read_training_data`."""
    if train_rows is not None and train_until is not None:
        raise ConfigError("give either --train-rows or --train-until, not both")
    path = Path(path)
    options = options or ReadOptions()
    if options.hold is not None:
        return _fleet_training(path, asset_column, columns, label_column, options, train_rows, train_until)
    readings = _fleet_training(path, asset_column, columns, label_column, options.replace(hold=HOLD_ALL),
                               train_rows, train_until)  # as in _held_as_roles, each asset's own
    held = {asset: held_by_readings(frame.to_numpy(), list(frame.columns), roles)
            for asset, frame in readings.assets.items()}
    for hold in set(held.values()) if options.blends else ():
        if set(hold) == set(next(iter(readings.assets.values())).columns):
            continue
        with warnings.catch_warnings():  # the first reading said them
            warnings.simplefilter("ignore", DataWarning)
            again = _fleet_training(path, asset_column, columns, label_column, options.replace(hold=hold),
                                    train_rows, train_until)
        readings.assets.update({asset: again.assets[asset] for asset in held if held[asset] == hold})
    return readings


def _fleet_training(path: Path, asset_column: str, columns, label_column, options: ReadOptions, train_rows,
                    train_until) -> FleetTrainingData:
    """The training rows of each asset of a fleet export read by `options` as they are."""
    assets = read_fleet_csv(path, asset_column, options, columns=columns,
                            label_columns=[label_column] if label_column else [])
    n_rows = sum(len(frame) for frame in assets.values())
    kept = {}
    for asset, frame in assets.items():
        where = f"{path}, {asset_column} {asset!r}"
        if train_rows is not None:
            if train_rows < 1:
                raise ConfigError(f"--train-rows must be at least 1, got {train_rows}")
            if train_rows > len(frame):
                raise DataError(f"{where}: --train-rows {train_rows} asks for more rows than it has ({len(frame)})")
            frame = frame.iloc[:train_rows]
        elif train_until is not None:
            first = frame.index[0]
            frame = frame.loc[:_index_key(frame.index, train_until, path, options.timezone)]
            if frame.empty:
                raise DataError(f"{where}: no rows at or before --train-until {train_until}; its first row is at "
                                f"{first}")
        kept[asset] = frame
    first = next(iter(kept.values()))
    read = {"data_path": str(path.resolve()), "asset_column": asset_column, "n_assets": len(kept),
            "columns": ",".join(columns) if columns else "(all numeric)", "time_column": first.index.name or "(none)",
            "label_column": label_column or "(none)", "sep": options.sep or "(sniffed)", "fill": options.fill,
            "train_rows": train_rows if train_rows is not None else "(all)", "train_until": train_until or "(none)",
            "n_rows_in_file": n_rows, "n_train_rows": sum(len(f) for f in kept.values()),
            "n_features": first.shape[1], "sensors": ",".join(first.columns)}
    return FleetTrainingData(kept, path, asset_column, read)


def read_training_data(path, *, columns=None, time_column=None, label_column=None, sep=None,
                       fill=None, train_rows: int | None = None, train_until: str | None = None,
                       options: ReadOptions | None = None, roles: dict | None = None) -> TrainingData:
    """Read a sensor CSV and keep the training rows: the first `train_rows`, or those up to and
    including the time `train_until`, or all. The label column, if named, is never a sensor.
    `options`: how the file is written; `time_column`, `sep` and `fill`, when given, replace its fields.
    Unless `options.hold` says otherwise, the state and constant columns of the training rows
    (`seqae.data.roles`: found on their readings, `roles` replacing some, as a detector's `roles`
    parameter does) hold their last reading through a gap and on a grid, as the model will read them
    (`options_for_detector`)."""
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill)
    return _held_as_roles([Path(path)], columns, label_column, options, train_rows, train_until, roles)


def _training_rows(path: Path, columns, label_column, options: ReadOptions, train_rows,
                   train_until) -> TrainingData:
    """The training rows of one file read by `options` as they are, and how they were read."""
    if train_rows is not None and train_until is not None:
        raise ConfigError("give either --train-rows or --train-until, not both")
    frame = read_sensor_csv(path, options, columns=columns, label_columns=[label_column] if label_column else [])
    n_rows = len(frame)
    if train_rows is not None:
        if train_rows < 1:
            raise ConfigError(f"--train-rows must be at least 1, got {train_rows}")
        if train_rows > n_rows:
            raise DataError(f"{path}: --train-rows {train_rows} asks for more rows than the file has ({n_rows})")
        frame = frame.iloc[:train_rows]
    elif train_until is not None:
        first = frame.index[0]
        frame = frame.loc[:_index_key(frame.index, train_until, path, options.timezone)]
        if frame.empty:
            raise DataError(f"{path}: no rows at or before --train-until {train_until}; the first row is at {first}")
    options = {
        "data_path": str(path.resolve()),
        "columns": ",".join(columns) if columns else "(all numeric)",
        "time_column": frame.index.name or "(none)",
        "label_column": label_column or "(none)",
        "sep": options.sep or "(sniffed)",
        "fill": options.fill,
        **{key: value for key, value in (("decimal", options.decimal), ("time_unit", options.time_unit),
                                         ("timezone", options.timezone), ("dayfirst", options.dayfirst),
                                         ("skip_rows", options.skip_rows), ("resample", options.resample))
           if value is not None},
        **({"sort": True} if options.sort else {}),
        **({"duplicates": options.duplicates} if options.duplicates != "error" else {}),
        "train_rows": train_rows if train_rows is not None else "(all)",
        "train_until": train_until or "(none)",
        "n_rows_in_file": n_rows,
        "n_train_rows": len(frame),
        "n_features": frame.shape[1],
        "sensors": ",".join(frame.columns),
    }
    return TrainingData(frame, path, options)


def _index_key(index: pd.Index, text: str, path: Path, timezone: str | None = None):
    if isinstance(index, pd.DatetimeIndex):
        try:
            key = pd.Timestamp(text)
        except (ValueError, TypeError):
            raise ConfigError(f"--train-until {text!r} is not a timestamp; write it like "
                              f"{index[0].isoformat()}") from None
        if index.tz is None and key.tz is not None:
            raise ConfigError(f"--train-until {text!r} has a UTC offset, and the times of {path} have none; write "
                              f"it like {index[0].isoformat()}")
        if index.tz is not None:  # the index is in UTC: a time without an offset is read as the file's are
            key = key.tz_localize(timezone or "UTC") if key.tz is None else key
            key = key.tz_convert(index.tz)
        return key
    if index.name is None:
        raise DataError(f"{path}: --train-until needs a time column, and the file has none; "
                        "use --train-rows or name one with --time-column")
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--train-until {text!r} is not a number, and the time column "
                          f"{index.name!r} holds numbers") from None


def read_for_detector(detector, path, *, time_column=None, label_column=None,
                      sep=None, fill=None, options: ReadOptions | None = None):
    """Read the sensors `detector` was fitted on from a CSV (other columns are ignored); with
    `label_column`, also the labels: `(frame, labels)`. `options`: how the file is written;
    `time_column`, `sep` and `fill`, when given, replace its fields."""
    options = options_for_detector(detector, (options or ReadOptions()).replace(time_column=time_column, sep=sep,
                                                                                fill=fill))
    needed = _sensors_in_header(detector, path, options)
    labels = [label_column] if label_column else []
    return read_sensor_csv(path, options, columns=needed, label_columns=labels, return_labels=bool(label_column))


def options_for_detector(detector, options: ReadOptions | None = None) -> ReadOptions:
    """`options` holding the state and constant columns of `detector`'s fitted table (`roles_`,
    `seqae.data.roles.held_columns`) through a filled gap and at a grid time, as its training rows
    held them; a model saved without roles holds none."""
    return (options or ReadOptions()).replace(hold=held_columns(getattr(detector, "roles_", None) or {}))


def shaper_for_detector(detector, name: str, options: ReadOptions, columns) -> RowShaper | None:
    """The `RowShaper` a live feed of `detector` puts its rows (`columns`, in order) through, the
    detector's state and constant columns holding their last reading (`options_for_detector`); None
    where `options` keep the rows as they come."""
    if not RowShaper.needed(options.duplicates, options.resample):
        return None
    held = options_for_detector(detector).hold
    return RowShaper(name, options.duplicates, options.resample, hold=[str(c) in held for c in columns])


def read_fleet_for_detector(fleet, path, *, label_column=None, options: ReadOptions | None = None):
    """`read_for_detector` for a fleet model (`seqae.fleet.FleetDetector`): the sensors it was
    fitted on, each asset's rows as a file of their own (`read_fleet_csv`): `{asset: frame}`, and
    with `label_column`, `({asset: frame}, {asset: labels})`."""
    options = options or ReadOptions()
    needed = _sensors_in_header(fleet, path, options)
    labels = [label_column] if label_column else []
    return read_fleet_csv(path, fleet.asset_column, options, columns=needed, label_columns=labels,
                          return_labels=bool(label_column))


def _sensors_in_header(detector, path, options: ReadOptions) -> list[str]:
    """The sensors `detector` was fitted on, after a one-line error naming those the file's header lacks."""
    needed = [str(name) for name in detector.feature_names_in_]
    header = read_header(path, options.sep)
    if header is not None:
        missing = [name for name in needed if name not in header]
        if missing:
            raise DataError(missing_columns_message(missing, header, needed, str(path)))
    return needed
