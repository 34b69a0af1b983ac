"""`python -m benchmarks.quality NAME [options]`: run one study; `--help` lists them, `NAME --help` explains one."""

from __future__ import annotations

import importlib
import sys

from benchmarks.quality import STUDIES

USAGE = "usage: python -m benchmarks.quality NAME [options]    (python -m benchmarks.quality NAME --help)"


def study(name: str):
    """The module of sub-command `name`."""
    return importlib.import_module(f"benchmarks.quality.{STUDIES[name]}")


def listing() -> str:
    """The usage line and every sub-command with the first line of its module's docstring."""
    width = max(map(len, STUDIES))
    lines = [USAGE, "", "seqae's detection quality on the dev sets (docs/benchmarks.md). Studies:", ""]
    lines += [f"  {name.ljust(width)}  {study(name).__doc__.strip().splitlines()[0]}" for name in STUDIES]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(listing(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in STUDIES:
        print(f"{USAGE}\nerror: no study {name!r}; choose from {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    return study(name).main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
