"""Media as backup and restore see it: the MEDIA_ROOT folder, or the bucket when media is
object storage (MEDIA_STORAGE=s3). Either way a backup holds a plain media/ folder, so a
backup of one kind restores into the other (moving a site from a folder to a bucket).

Every function takes ``media_root`` and uses it only when media is a local folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage

from core.storage import media_open, storage_is_local
from ops.services.manifest import (
    BLOCK,
    MEDIA,
    BackupError,
    Manifest,
    file_copy_hashed,
    files_under,
    folder_has_files,
    media_copy,
)
from ops.services.stored_files import StoredFile, stored_files_mismatched


def media_where(media_root: Path) -> str:
    """Where media lives, for messages and the manifest."""
    if storage_is_local():
        return f"MEDIA_ROOT ({media_root})"
    prefix = getattr(default_storage, "location", "")
    return f"the bucket s3://{default_storage.bucket_name}/{prefix}".rstrip("/")


def bucket_names(folder: str = "") -> Iterator[str]:
    """Every stored name under ``folder``, in a stable order."""
    folders, files = default_storage.listdir(folder)
    prefix = f"{folder}/" if folder else ""
    for name in sorted(files):
        yield prefix + name
    for sub in sorted(folders):
        yield from bucket_names(prefix + sub)


def _stored_copy_hashed(name: str, target: Path) -> dict:
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with media_open(name) as reader, target.open("wb") as writer:
        while block := reader.read(BLOCK):
            digest.update(block)
            writer.write(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "size": size}


def media_backup(media_root: Path, target: Path) -> dict[str, dict]:
    """Copy every media file into ``target``; manifest entries named media/..."""
    if storage_is_local():
        return media_copy(media_root, target) if media_root.is_dir() else {}
    return {f"{MEDIA}/{name}": _stored_copy_hashed(name, target / name) for name in bucket_names()}


def media_has_files(media_root: Path) -> bool:
    if storage_is_local():
        return folder_has_files(media_root)
    return next(bucket_names(), None) is not None


def media_restore(folder: Path, manifest: Manifest, media_root: Path) -> int:
    """Write the backup's media files back, each checked against the manifest."""
    for name, entry in manifest.media_files().items():
        stored = name.removeprefix(f"{MEDIA}/")
        if storage_is_local():
            written = file_copy_hashed(folder / name, media_root / stored)
            if written != {"sha256": entry["sha256"], "size": entry["size"]}:
                raise BackupError(f"{name} changed while it was restored (sha256 or size)")
            continue
        with (folder / name).open("rb") as handle:
            saved = default_storage.save(stored, File(handle))
        if saved != stored:
            raise BackupError(f"{stored} was already in the bucket (stored as {saved})")
    return len(manifest.media_files())


def _stored_sha256(name: str) -> str:
    digest = hashlib.sha256()
    with media_open(name) as reader:
        while block := reader.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def media_mismatched(files: list[StoredFile], media_root: Path) -> list[str]:
    """What is missing from media, or differs from the sha256 its row stores."""
    if storage_is_local():
        return stored_files_mismatched(files, media_root)
    problems = []
    for stored in files:
        if not default_storage.exists(stored.name):
            problems.append(f"{stored.what} ({stored.name}) is missing")
        elif stored.sha256 and _stored_sha256(stored.name) != stored.sha256:
            problems.append(f"{stored.what} ({stored.name}) differs from its stored sha256")
    return problems


def media_clear(media_root: Path) -> None:
    if not storage_is_local():
        for name in list(bucket_names()):
            default_storage.delete(name)
        return
    import shutil

    for path in list(files_under(media_root)) if media_root.exists() else []:
        path.unlink()
    for child in media_root.iterdir() if media_root.exists() else []:
        if child.is_dir():
            shutil.rmtree(child)
