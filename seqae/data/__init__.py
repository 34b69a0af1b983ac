"""Sensor CSVs in, frames out: the data layer (it knows nothing of torch or MLflow).

    text.py           a file's text as pandas reads it (decompressed), and its separator
    options.py        ReadOptions: how a CSV is written, and the format decided from its first rows
    timestamps.py     timestamps as exports write them, in one convention (instants in UTC); rows in time order
    rows.py           text fields to readings and times; RowParser, a live feed's lines row by row
    regular.py        RowShaper: one row per time (--duplicates), a regular grid (--resample)
    csv.py            read_sensor_csv, read_fleet_csv: a whole file into a frame
    chunks.py         ChunkReader: a file a block of rows at a time, read as read_sensor_csv reads it
    training_rows.py  the rows a model learns from, and the rows a fitted model scores
    scaler.py         the per-sensor scaler fitted on training rows only
    period.py         a series' dominant period (auto's window, the span a feed follows levels over)
"""

from seqae.data.text import compression_of, open_text, sniff_separator
from seqae.data.options import DECIMAL_MARKS, DUPLICATE_POLICIES, FILL_POLICIES, TIME_UNITS, ReadOptions, time_text
from seqae.data.timestamps import (GAP_FACTOR, check_time_order, check_unique_times, mixed_offsets_error,
                                   parse_time_fields, parse_timestamps, time_gaps)
from seqae.data.rows import ParsedRows, RowParser, parse_numbers, parse_reading
from seqae.data.regular import RowShaper
from seqae.data.csv import fill_missing, read_fleet_csv, read_header, read_sensor_csv, read_table
from seqae.data.chunks import ChunkReader
from seqae.data.scaler import Scaler
from seqae.data.period import find_period
from seqae.data.training_rows import (FleetTrainingData, TrainingData, collect_csv_files, read_fleet_for_detector,
                                      options_for_detector, read_fleet_training, read_for_detector,
                                      read_training_data, read_training_files, shaper_for_detector)

__all__ = [
    "DECIMAL_MARKS", "DUPLICATE_POLICIES", "FILL_POLICIES", "GAP_FACTOR", "TIME_UNITS", "ChunkReader", "ParsedRows",
    "ReadOptions", "RowParser", "RowShaper", "Scaler", "FleetTrainingData", "TrainingData", "check_time_order",
    "check_unique_times", "collect_csv_files", "compression_of", "open_text",
    "read_fleet_training", "read_training_files", "fill_missing", "find_period", "mixed_offsets_error", "parse_numbers",
    "parse_reading", "parse_time_fields", "parse_timestamps", "read_fleet_csv", "read_fleet_for_detector",
    "options_for_detector", "read_for_detector", "read_header",
    "read_sensor_csv", "read_table", "read_training_data", "shaper_for_detector", "sniff_separator", "time_gaps",
    "time_text",
]
