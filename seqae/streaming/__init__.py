"""Scoring rows as they arrive, with the state a restart needs.

    chunked.py  score_csv: a CSV of any length scored in chunks of rows, in bounded memory (`seqae score`)
    live.py     LiveScorer: new rows scored from the rows before them alone (a detector's Feed), the
                alert rules run row by row, and the state a restart needs (`state()` / `restore`)
    feed.py     a feed of CSV lines (a pipe, or a file that keeps growing) read line by line, and
                `watch`, the loop behind `seqae watch`
    state.py    the watch's state file: written whole, read back into the scorer and the place to go on from
    switch.py   a feed handed from one model to another between two rows (a watch following a model alias)
    alert_rows.py  the rows each alert of a watch was raised on, and its followed level (for `seqae feedback`)
"""

from seqae.streaming.live import AlertEvent, LiveScorer
from seqae.streaming.chunked import score_csv

__all__ = ["AlertEvent", "LiveScorer", "score_csv"]
