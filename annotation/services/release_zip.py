"""The zip writer of dataset packages and the bytes of its text entries.

Every entry lies under one top folder, is written in chunks and hashed as it goes, so a
20,000-image package is never in memory and SHA256SUMS needs no second read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

from django.core.files.storage import default_storage

CHUNK = 1 << 20


class PackageZip:
    """A zip under one top folder whose every entry is written in chunks and hashed."""

    def __init__(self, path: Path, *, top: str, date_time: tuple) -> None:
        self.zip = zipfile.ZipFile(path, "w", allowZip64=True)
        self.top = top
        self.date_time = date_time
        self.checksums: dict[str, str] = {}

    def write_chunks(self, name: str, chunks: Iterable[bytes], *, compress: bool = True) -> str:
        info = zipfile.ZipInfo(f"{self.top}/{name}", date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        digest = hashlib.sha256()
        # force_zip64: an entry's size is unknown until it is written (a large ratings file).
        with self.zip.open(info, "w", force_zip64=True) as entry:
            for chunk in chunks:
                digest.update(chunk)
                entry.write(chunk)
        self.checksums[name] = digest.hexdigest()
        return self.checksums[name]

    def write_bytes(self, name: str, data: bytes, *, compress: bool = True) -> str:
        return self.write_chunks(name, [data], compress=compress)

    def copy_stored(self, name: str, stored: str) -> str:
        """A file from storage, in 1 MiB chunks; images are already compressed."""
        with default_storage.open(stored, "rb") as handle:
            return self.write_chunks(name, iter(lambda: handle.read(CHUNK), b""), compress=False)

    def close(self) -> None:
        self.zip.close()


def csv_line(values: Iterable) -> bytes:
    """One CSV row (Unix line end), for entries streamed row by row."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(list(values))
    return buffer.getvalue().encode("utf-8")


def json_bytes(data: dict, *, sort_keys: bool = False) -> bytes:
    """A JSON entry: indented, with a final newline."""
    return (json.dumps(data, indent=2, sort_keys=sort_keys) + "\n").encode("utf-8")
