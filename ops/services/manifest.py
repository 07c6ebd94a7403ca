"""A backup folder and its manifest: what the folder holds (every file's sha256 and size)
and the database's state when the backup was taken (engine, applied migrations, rows per
table). The layout:

    manifest.json
    database.dump | database.sqlite3    pg_dump --format=custom, or an SQLite database file
    media/...                           media as it was (MEDIA_ROOT or the bucket), file for file
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

FORMAT = "aigc-quality-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEDIA = "media"
BLOCK = 1 << 20


class BackupError(Exception):
    """What went wrong, in one line for the operator; nothing was left posing as done."""


@dataclass
class Manifest:
    engine: str
    database_file: str
    created_at: str
    django: str
    migrations: dict[str, list[str]]
    tables: dict[str, int]
    files: dict[str, dict] = field(default_factory=dict)  # name -> {"sha256", "size"}
    media_root: str = ""  # where the media came from (for the operator's information)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def media_files(self) -> dict[str, dict]:
        return {name: entry for name, entry in self.files.items() if name.startswith(MEDIA + "/")}

    def size(self) -> int:
        return sum(entry["size"] for entry in self.files.values())


def manifest_write(folder: Path, manifest: Manifest) -> None:
    text = json.dumps(asdict(manifest), indent=1, sort_keys=True)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _manifest_parse(data: object) -> Manifest:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} manifest")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"format version {data.get('format_version')!r}, this code reads 1")
    known = set(Manifest.__dataclass_fields__)
    manifest = Manifest(**{key: value for key, value in data.items() if key in known})
    files_ok = isinstance(manifest.files, dict) and all(
        _safe_name(name) and isinstance(entry, dict) and {"sha256", "size"} <= set(entry)
        for name, entry in manifest.files.items()
    )
    if not files_ok or manifest.database_file not in manifest.files:
        raise ValueError("its file list is malformed or lacks the database file")
    if not isinstance(manifest.tables, dict) or not isinstance(manifest.migrations, dict):
        raise ValueError("its table counts or migrations are malformed")
    return manifest


def manifest_read(folder: Path) -> Manifest:
    """The folder's manifest, or BackupError saying why it cannot be read."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} is not a backup: it has no {MANIFEST}.")
    try:
        return _manifest_parse(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise BackupError(f"{path} is corrupt or not a backup manifest: {error}.") from None


def file_copy_hashed(source: Path, target: Path) -> dict:
    """Copy ``source`` to ``target`` in blocks; its sha256 and size as read."""
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader, target.open("wb") as writer:
        while block := reader.read(BLOCK):
            digest.update(block)
            writer.write(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "size": size}


def file_entry(path: Path) -> dict:
    from common.files import sha256_of

    return {"sha256": sha256_of(path), "size": path.stat().st_size}


def files_under(root: Path) -> Iterator[Path]:
    """Every regular file under ``root``, in a stable order (links are not followed)."""
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


def folder_has_files(root: Path) -> bool:
    return next(files_under(root), None) is not None if root.exists() else False


def media_copy(root: Path, target: Path) -> dict[str, dict]:
    """Copy every file under ``root`` into ``target``; manifest entries named media/..."""
    files = {}
    for path in files_under(root):
        relative = path.relative_to(root).as_posix()
        files[f"{MEDIA}/{relative}"] = file_copy_hashed(path, target / relative)
    return files


def _file_problem(folder: Path, name: str, entry: dict) -> str:
    path = folder / name
    if not path.is_file():
        return f"{name} is missing"
    if path.stat().st_size != entry["size"]:
        return f"{name} has {path.stat().st_size} bytes, the manifest says {entry['size']}"
    if file_entry(path)["sha256"] != entry["sha256"]:
        return f"{name}'s sha256 differs from the manifest"
    return ""


def files_verify(folder: Path, manifest: Manifest) -> None:
    """Every file of the manifest present with its size and sha256, or BackupError."""
    for name, entry in manifest.files.items():
        problem = _file_problem(folder, name, entry)
        if problem:
            raise BackupError(f"The backup in {folder} is damaged: {problem}.")
