"""Files the database vouches for: every label release's MOS and raw CSV and dataset
package (each row stores its sha256) and every benchmark run's checkpoint and predictions.

Read with plain SQL from a DB-API cursor, so that a backup reads them from its own snapshot
(PostgreSQL) or copy (SQLite), and a restore from the restored database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from annotation.models import LabelRelease
from benchmark.models import BenchmarkRun
from common.files import sha256_of


@dataclass(frozen=True)
class StoredFile:
    what: str  # "release 3 v1 package", for the operator
    name: str  # relative to MEDIA_ROOT
    sha256: str = ""  # the digest the row stores; "" where it stores none (a checkpoint)


def _release_files(cursor) -> list[StoredFile]:
    cursor.execute(
        "SELECT study_id, version, mos_file, mos_sha256, raw_file, raw_sha256, package_file, "
        f"package_sha256, package_status FROM {LabelRelease._meta.db_table} "
        "ORDER BY study_id, version"
    )
    rows = cursor.fetchall()
    found = []
    for study, version, mos, mos_sha, raw, raw_sha, package, package_sha, status in rows:
        label = f"study {study} release v{version}"
        found.append(StoredFile(f"{label} MOS CSV", mos, mos_sha))
        if raw:
            found.append(StoredFile(f"{label} raw CSV", raw, raw_sha))
        if package and status == LabelRelease.PackageStatus.DONE:
            found.append(StoredFile(f"{label} dataset package", package, package_sha))
    return found


def _run_files(cursor) -> list[StoredFile]:
    cursor.execute(
        f"SELECT id, checkpoint_path, predictions_path FROM {BenchmarkRun._meta.db_table} "
        "ORDER BY id"
    )
    found = []
    for run, checkpoint, predictions in cursor.fetchall():
        if checkpoint:
            found.append(StoredFile(f"benchmark run {run} checkpoint", checkpoint))
        if predictions:
            found.append(StoredFile(f"benchmark run {run} predictions", predictions))
    return found


def stored_files_read(cursor, tables: set[str]) -> list[StoredFile]:
    found = []
    if LabelRelease._meta.db_table in tables:
        found += _release_files(cursor)
    if BenchmarkRun._meta.db_table in tables:
        found += _run_files(cursor)
    return found


def stored_files_mismatched(files: list[StoredFile], root: Path) -> list[str]:
    """What is missing under ``root``, or differs from the sha256 its row stores."""
    problems = []
    for stored in files:
        path = root / stored.name
        if not path.is_file():
            problems.append(f"{stored.what} ({stored.name}) is missing")
        elif stored.sha256 and sha256_of(path) != stored.sha256:
            problems.append(f"{stored.what} ({stored.name}) differs from its stored sha256")
    return problems
