"""Sensor CSVs in, frames out: the data layer (it knows nothing of torch or MLflow).

    csv.py            ReadOptions, read_sensor_csv and the steps every reader shares
    timestamps.py     timestamps as exports write them, in one convention (instants in UTC)
    chunks.py         ChunkReader: a file a block of rows at a time, read as read_sensor_csv reads it
    training_rows.py  the rows a model learns from, and the rows a fitted model scores
    scaler.py         the per-sensor scaler fitted on training rows only
"""

from seqae.data.csv import (DECIMAL_MARKS, FILL_POLICIES, ReadOptions, fill_missing, parse_numbers, parse_reading,
                            read_fleet_csv, read_header, read_sensor_csv, read_table, sniff_separator)
from seqae.data.timestamps import (GAP_FACTOR, TIME_UNITS, check_unique_times, mixed_offsets_error,
                                   parse_time_fields, parse_timestamps, time_gaps, time_text)
from seqae.data.chunks import ChunkReader  # noqa: E402  (after csv: it reads through it)
from seqae.data.scaler import Scaler
from seqae.data.training_rows import (FleetTrainingData, TrainingData, collect_csv_files, read_fleet_training,
                                      read_for_detector, read_training_data, read_training_files)

__all__ = [
    "DECIMAL_MARKS", "FILL_POLICIES", "GAP_FACTOR", "TIME_UNITS", "ChunkReader", "ReadOptions", "Scaler",
    "FleetTrainingData", "TrainingData", "check_unique_times", "collect_csv_files", "read_fleet_training",
    "read_training_files", "fill_missing", "mixed_offsets_error", "parse_numbers",
    "parse_reading", "parse_time_fields", "parse_timestamps", "read_fleet_csv", "read_for_detector", "read_header",
    "read_sensor_csv", "read_table", "read_training_data", "sniff_separator", "time_gaps", "time_text",
]
