"""The one file digest: sha256 of a file's bytes, read in blocks so large files fit in memory."""

from __future__ import annotations

import hashlib
import os

BLOCK = 1 << 20


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
