"""`manage.py restore SRC`: a backup into an empty database and an empty MEDIA_ROOT, verified.

Nothing is touched until the backup has proved whole: its manifest reads, it is a dump of
this site's engine, made by code whose migrations this checkout knows, and every file has
the manifest's size and sha256. Then the database is restored in one transaction (whole
or not at all), the media copied (hashed again as they are written), and the result
verified: rows per table as the manifest counted them, every release's and package's
stored sha256 against its file, every run's checkpoint present, the rating tallies
recounted (and repaired). Should anything fail after the database was restored, the
database and MEDIA_ROOT are emptied again and the error says so: a half restore is never
left posing as a finished one.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader

from annotation.services.tallies import TallyReport, tallies_repair
from ops.services.databases import (
    ENGINES,
    database_clear,
    database_restore,
    database_tables,
    dump_engine,
    engine_of,
    table_counts,
)
from ops.services.manifest import (
    BackupError,
    Manifest,
    files_verify,
    manifest_read,
)
from ops.services.media_store import (
    media_clear,
    media_has_files,
    media_mismatched,
    media_restore,
    media_where,
)
from ops.services.stored_files import stored_files_read


@dataclass
class RestoreReport:
    lines: list[str] = field(default_factory=list)
    tallies: TallyReport | None = None


@contextmanager
def _unpacked(src: Path) -> Iterator[Path]:
    """The backup folder: ``src`` itself, or a .tar unpacked beside it for the restore."""
    if src.is_dir():
        yield src
        return
    if not src.is_file() or not tarfile.is_tarfile(src):
        raise BackupError(f"No backup at {src}: give a backup folder or .tar.")
    unpacked = Path(tempfile.mkdtemp(prefix=f".{src.name}-", dir=src.parent))
    try:
        with tarfile.open(src) as archive:
            archive.extractall(unpacked, filter="data")
        yield unpacked
    except tarfile.TarError as error:
        raise BackupError(f"{src} is not a readable backup archive: {error}") from None
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


def _engine_check(manifest: Manifest, folder: Path, connection: BaseDatabaseWrapper) -> None:
    engine = engine_of(connection)
    if not (folder / manifest.database_file).is_file():
        raise BackupError(
            f"The backup in {folder} is damaged: {manifest.database_file} is missing."
        )
    found = dump_engine(folder / manifest.database_file)
    if manifest.engine != found:
        raise BackupError(
            f"{manifest.database_file} is not the {ENGINES.get(manifest.engine, manifest.engine)} "
            "dump its manifest names."
        )
    if found != engine:
        raise BackupError(
            f"The backup holds a {ENGINES.get(found, found)} database; this site's database "
            f"is {ENGINES[engine]}. Restore it where DATABASE_URL names {ENGINES.get(found)}."
        )


def _migrations_check(manifest: Manifest) -> list[str]:
    """Refuse a backup of newer code; note migrations this code has and the backup lacks."""
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    applied = {(app, name) for app, names in manifest.migrations.items() for name in names}
    unknown = sorted(applied - known)
    if unknown:
        app, name = unknown[0]
        raise BackupError(
            f"The backup was made by newer code: migration {app}.{name} is not in this "
            "checkout. Restore it with the version of the code that made it."
        )
    newer = len(known - applied)
    return [f"{newer} migration(s) newer than the backup: run manage.py migrate."] if newer else []


def _target_check(connection: BaseDatabaseWrapper, media_root: Path, *, force: bool) -> None:
    tables = database_tables(connection)
    name = connection.settings_dict["NAME"]
    if tables and not force:
        raise BackupError(
            f"The database {name} is not empty ({len(tables)} tables); restore into an empty "
            "database, or pass --force to replace what is there."
        )
    if media_has_files(media_root) and not force:
        raise BackupError(
            f"{media_where(media_root)} is not empty; restore into empty media, "
            "or pass --force to replace what is there."
        )


def _restored_verify(manifest: Manifest, connection: BaseDatabaseWrapper, media_root: Path):
    counts = table_counts(connection)
    for table, expected in manifest.tables.items():
        if counts.get(table) != expected:
            raise BackupError(f"table {table} has {counts.get(table)} rows, the backup {expected}")
    with connection.cursor() as cursor:
        stored = stored_files_read(cursor, set(counts))
    problems = media_mismatched(stored, media_root)
    if problems:
        raise BackupError(f"{problems[0]} ({len(problems)} problem(s) in all)")
    return len(counts), sum(counts.values()), len(stored)


def _undo(connection: BaseDatabaseWrapper, media_root: Path) -> None:
    database_clear(connection)
    media_clear(media_root)


def _restore_and_verify(
    folder: Path, manifest: Manifest, connection: BaseDatabaseWrapper, *, force: bool
) -> RestoreReport:
    media_root = Path(settings.MEDIA_ROOT).absolute()
    # Atomic in both engines: when this fails, the database is as it was.
    database_restore(connection, folder / manifest.database_file, replace=force)
    ContentType.objects.clear_cache()  # ids of the restored rows, not of the ones before
    try:
        if force:
            media_clear(media_root)
        media = media_restore(folder, manifest, media_root)
        tables, rows, stored = _restored_verify(manifest, connection, media_root)
        tallies = tallies_repair(using=connection.alias)
    except BaseException as error:
        _undo(connection, media_root)
        if not isinstance(error, Exception):
            raise
        raise BackupError(
            f"Restore failed and was undone (the database and MEDIA_ROOT are empty again): {error}."
        ) from error
    lines = [
        f"Restored the {ENGINES[manifest.engine]} database ({tables} tables, {rows} rows, as "
        f"the backup counted them) and {media} media files into {media_where(media_root)}.",
        f"Verified: every file's size and sha256 against the manifest; the {stored} files "
        "that releases and benchmark runs point at are there, with their stored sha256.",
        tallies.summary(),
    ]
    return RestoreReport(lines=lines, tallies=tallies)


def restore_from(src: Path, *, using: str = DEFAULT_DB_ALIAS, force: bool = False) -> RestoreReport:
    """Restore the backup ``src`` (folder or .tar) into the database of ``using`` and
    MEDIA_ROOT, both empty unless ``force``; BackupError in one line when it cannot."""
    src = Path(src).absolute()
    if not src.exists():
        raise BackupError(f"No backup at {src}.")
    connection = connections[using]
    with _unpacked(src) as folder:
        manifest = manifest_read(folder)
        _engine_check(manifest, folder, connection)
        notes = _migrations_check(manifest)
        _target_check(connection, Path(settings.MEDIA_ROOT).absolute(), force=force)
        files_verify(folder, manifest)
        report = _restore_and_verify(folder, manifest, connection, force=force)
    report.lines += notes
    return report
