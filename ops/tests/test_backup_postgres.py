"""Backup and restore on PostgreSQL: `manage.py backup` in its own process (pg_dump), then
a restore (pg_restore) into a second, empty database on the same server, dropped after."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from annotation.models import RatingSession
from annotation.services.tallies import tallies_verify
from annotation.tests.factories import rated_study_create
from annotation.tokens import token_hash
from ops.services.databases import database_tables, table_counts
from ops.services.manifest import file_entry, files_under
from ops.tests.support import database_alias, platform_build, site_as_used
from study_site.tests.helpers import postgres_required, run_manage, server_database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def target(settings, tmp_path):
    """A new, empty database beside the test database (and an empty media folder)."""
    postgres_required()
    name = f"{connection.settings_dict['NAME']}_restore"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        with database_alias(name) as alias:
            yield alias
    finally:
        settings.MEDIA_ROOT = tmp_path / "media"
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url_of(alias: str) -> str:
    source = server_database_url()
    return source.rsplit("/", 1)[0] + "/" + connections[alias].settings_dict["NAME"]


def _backup_as_a_user_would(dest: Path, media: Path, tmp_path: Path) -> str:
    done = run_manage(
        "backup",
        str(dest),
        DATABASE_URL=server_database_url(),
        MEDIA_ROOT=str(media),
        VAR_DIR=str(tmp_path / "var"),
        DEBUG="1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _restore_into(target: str, backup: Path, media: Path, settings) -> str:
    settings.MEDIA_ROOT = media
    out = io.StringIO()
    call_command("restore", str(backup), database=target, stdout=out)
    return out.getvalue()


def test_round_trip_gives_the_same_rows_downloads_pages_and_resume_points(
    media, target, settings, tmp_path
):
    platform = platform_build()
    counts = table_counts(connections["default"])
    said = _backup_as_a_user_would(tmp_path / "backup", media, tmp_path)
    assert "PostgreSQL database" in said, said
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["engine"] == "postgresql" and manifest["tables"] == counts
    assert (tmp_path / "backup" / "database.dump").read_bytes()[:5] == b"PGDMP"

    restored_media = tmp_path / "restored-media"
    said = _restore_into(target, tmp_path / "backup", restored_media, settings)
    assert "Rating tallies equal a recount" in said, said
    assert table_counts(connections[target]) == counts
    assert tallies_verify(using=target).ok
    cursors = dict(RatingSession.objects.using(target).values_list("subject__token_hash", "cursor"))
    for token, trials in platform.tokens.items():
        if trials is not None:
            assert cursors[token_hash(token)] == trials
    checkpoint = restored_media / platform.checkpoint
    assert file_entry(checkpoint) == manifest["files"][f"media/{platform.checkpoint}"]

    before = site_as_used(
        platform, database_url=server_database_url(), media_root=media, var=tmp_path / "v1"
    )
    after = site_as_used(
        platform, database_url=_url_of(target), media_root=restored_media, var=tmp_path / "v2"
    )
    assert after == before
    assert all(before[page][0] == 200 for page in platform.pages), before
    resumed = next(token for token, trials in platform.tokens.items() if trials == 3)
    assert before[resumed] == [302, f"/s/{resumed}/trials/3/"]

    with pytest.raises(CommandError, match="is not empty"):
        _restore_into(target, tmp_path / "backup", tmp_path / "elsewhere", settings)


def test_a_dump_pg_restore_refuses_leaves_the_database_as_it_was(media, target, settings, tmp_path):
    rated_study_create(stimuli=2, subjects=1)
    call_command("backup", str(tmp_path / "backup"), stdout=io.StringIO())
    dump = tmp_path / "backup" / "database.dump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])  # cut, hashes updated
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    manifest["files"]["database.dump"] = file_entry(dump)
    (tmp_path / "backup" / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(CommandError, match="pg_restore failed: ") as refused:
        _restore_into(target, tmp_path / "backup", tmp_path / "restored-media", settings)
    assert "\n" not in str(refused.value)
    assert database_tables(connections[target]) == []  # one transaction: nothing of it stays
    assert not list(files_under(tmp_path / "restored-media"))
