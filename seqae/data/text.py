"""A CSV file's text as pandas reads it: decompressed (by the name's ending), and the separator its
header line holds most of.

    open_text        the file as text, `.gz`, `.bz2`, `.xz`, `.zip` (one CSV) and `.zst` decompressed
    sniff_separator  `;`, `,` or tab: the one the header line holds most of (`header_separator`)
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile

from seqae.errors import DataError


SEPARATORS = (";", ",", "\t")  # the separators a header is sniffed for


# Compressed CSVs as pandas reads them (by the name's ending): opened decompressed to sniff the header.
COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".lzma": lzma.open}


def header_separator(header: str) -> str:
    """`;`, `,` or tab, whichever the header line holds most of; `,` for a one-column header."""
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def sniff_separator(path: str | os.PathLike) -> str:
    """The separator of a CSV file: `header_separator` of its first line (decompressed, for a file
    pandas reads compressed)."""
    with open_text(path) as fh:
        return header_separator(fh.readline())


def compression_of(path: str | os.PathLike) -> str | None:
    """The ending that makes pandas read a file compressed (`.gz`, `.bz2`, `.xz`, `.zip`, ...), or None."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    return suffix if suffix in COMPRESSED or suffix in (".zip", ".zst") else None


def open_text(path: str | os.PathLike):
    """The file as text (UTF-8, a byte-order mark dropped, undecodable bytes replaced), decompressed
    when its name ends as a compressed file's: what pandas reads from it."""
    suffix = compression_of(path)
    if suffix in COMPRESSED:
        return COMPRESSED[suffix](path, "rt", newline="", encoding="utf-8-sig", errors="replace")
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise DataError(f"{path}: a zip archive with {len(members)} files; pandas reads one CSV per zip: "
                                "zip the CSV alone")
            data = archive.read(members[0])
        return io.StringIO(data.decode("utf-8-sig", errors="replace"), newline="")
    if suffix == ".zst":
        try:
            import zstandard
        except ImportError:
            raise DataError(f"{path}: a zstandard-compressed file, and the zstandard package is not installed; "
                            "install it or decompress the file") from None
        reader = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        return io.TextIOWrapper(reader, encoding="utf-8-sig", errors="replace", newline="")
    return open(path, newline="", encoding="utf-8-sig", errors="replace")
