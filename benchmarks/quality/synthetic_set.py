"""Write the synthetic set (protocol.py's 32 files with injected anomalies) into a folder.

    python -m benchmarks.quality synthetic-set /tmp/skab-validation
    seqae run pipelines/skab-lstm-ae.toml --data-dir /tmp/skab-validation

The files are laid out like SKAB's (`;`, `datetime`, `anomaly`, `changepoint`; 400 training rows),
so every pipeline runs on them unchanged; `injected.csv` says what was injected where. The
pipelines' settings were chosen on this set, never on SKAB's test labels (docs/benchmarks.md, Levers).
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.quality import common, protocol


def main(argv=None) -> int:
    parser = common.parser(__name__, __doc__)
    parser.add_argument("out_dir", type=Path, help="folder to write the files into")
    parser.add_argument("--skab-dir", type=Path, default=protocol.SKAB_DIR, help="SKAB's folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="where and how the anomalies are injected")
    parser.add_argument("--contaminate", action="store_true",
                        help="also put each anomaly's twin into 40 of the training rows")
    args = parser.parse_args(argv)
    if not (args.skab_dir / "anomaly-free" / "anomaly-free.csv").is_file():
        print(f"error: {args.skab_dir} has no anomaly-free/anomaly-free.csv; pass --skab-dir", file=sys.stderr)
        return 2
    table = protocol.write_synthetic_set(args.skab_dir, args.out_dir, random_state=args.seed,
                                         contaminate=args.contaminate)
    print(f"wrote {len(table)} files to {args.out_dir}")
    return 0
