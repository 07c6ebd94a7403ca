"""`manage.py backup DEST`: the whole platform, consistently, into a folder (or a .tar).

The database first (its dump and what the manifest records of it come from one snapshot),
then media file by file (MEDIA_ROOT, or the bucket with MEDIA_STORAGE=s3: stimulus images, release files and dataset packages,
benchmark checkpoints and predictions), each file hashed as it is copied; then the files
the snapshot's rows vouch for are checked in the copy, and the manifest is written last.
Everything is written under DEST.partial and renamed to DEST at the end: an interrupted
backup never looks like a finished one.
"""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import django
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from core.storage import storage_is_local
from ops.services.databases import DUMP_FILES, ENGINES, database_dump, engine_of
from ops.services.manifest import (
    BackupError,
    Manifest,
    file_entry,
    manifest_write,
)
from ops.services.media_store import media_backup, media_where
from ops.services.stored_files import stored_files_mismatched


@dataclass
class BackupResult:
    path: Path
    manifest: Manifest

    def summary(self) -> str:
        manifest = self.manifest
        rows = sum(manifest.tables.values())
        media = manifest.media_files()
        megabytes = manifest.size() / 1e6
        return (
            f"Backup written to {self.path}: {ENGINES[manifest.engine]} database "
            f"({len(manifest.tables)} tables, {rows} rows) and {len(media)} media files, "
            f"{megabytes:.1f} MB in all; manifest.json lists every file's sha256."
        )


def _destination_check(dest: Path, media_root: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists; a backup is written to a new folder or .tar.")
    if dest == media_root or media_root in dest.parents:
        raise BackupError(f"{dest} is inside MEDIA_ROOT ({media_root}); write it elsewhere.")


def _archive(folder: Path, dest: Path) -> None:
    """``folder``'s contents as the top of an uncompressed tar (images are compressed)."""
    partial = dest.with_name(dest.name + ".partial")
    try:
        with tarfile.open(partial, "w") as archive:
            for path in sorted(folder.iterdir()):
                archive.add(path, arcname=path.name)
        partial.rename(dest)
    finally:
        partial.unlink(missing_ok=True)


def _contents_write(folder: Path, *, using: str, media_root: Path) -> Manifest:
    connection = connections[using]
    engine = engine_of(connection)
    dump = folder / DUMP_FILES[engine]
    state = database_dump(connection, dump)
    files = media_backup(media_root, folder / "media")
    problems = stored_files_mismatched(state.stored_files, folder / "media")
    if problems:
        raise BackupError(
            f"Backup stopped: {problems[0]} in the copy of {media_where(media_root)} (changed "
            f"or removed while it was copied?); run the backup again ({len(problems)} "
            "problem(s) in all)."
        )
    files[dump.name] = file_entry(dump)
    manifest = Manifest(
        engine=engine,
        database_file=dump.name,
        created_at=timezone.now().isoformat(),
        django=django.get_version(),
        migrations=state.migrations,
        tables=state.tables,
        files=dict(sorted(files.items())),
        media_root=str(media_root) if storage_is_local() else media_where(media_root),
    )
    manifest_write(folder, manifest)
    return manifest


def backup_write(dest: Path, *, using: str = DEFAULT_DB_ALIAS) -> BackupResult:
    """Back up the database of ``using`` and MEDIA_ROOT into ``dest`` (a .tar when its name
    ends so, else a folder); BackupError (nothing left at ``dest``) when it cannot."""
    dest = Path(dest).absolute()
    media_root = Path(settings.MEDIA_ROOT).absolute()
    _destination_check(dest, media_root)
    archive = dest.suffix == ".tar"
    folder = dest.with_name(dest.name + (".partial-folder" if archive else ".partial"))
    shutil.rmtree(folder, ignore_errors=True)  # what an earlier interrupted backup left
    try:
        folder.mkdir(parents=True)
        manifest = _contents_write(folder, using=using, media_root=media_root)
        if archive:
            _archive(folder, dest)
        else:
            folder.rename(dest)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return BackupResult(dest, manifest)
