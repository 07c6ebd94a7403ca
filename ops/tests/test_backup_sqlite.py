"""Backup and restore on SQLite (file databases in tmp_path): the round trip of a platform
mid-collection, a .tar, and every kind of bad input refused in one line, leaving nothing."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from annotation.models import RatingSession
from annotation.services.tallies import tallies_verify
from annotation.tests.factories import rated_study_create
from annotation.tokens import token_hash
from ops.services.databases import database_tables, table_counts
from ops.services.manifest import file_entry, files_under
from ops.tests.support import database_alias, platform_build, site_as_used

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def sqlite_only():
    if connections["default"].vendor != "sqlite":
        pytest.skip("the SQLite round trip (TEST_DATABASE_URL names PostgreSQL)")


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def target(settings, tmp_path):
    """An empty file database and media folder to restore into."""
    with database_alias(str(tmp_path / "restored.sqlite3")) as alias:
        yield alias
    settings.MEDIA_ROOT = tmp_path / "media"


def _command(*args: str, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def _restore_into(target: str, backup: Path, media: Path, settings, *args: str) -> str:
    settings.MEDIA_ROOT = media
    return _command("restore", str(backup), *args, database=target)


def _left_empty(target: str, media: Path) -> bool:
    return not database_tables(connections[target]) and not list(files_under(media))


def test_round_trip_gives_the_same_rows_downloads_pages_and_resume_points(
    media, target, settings, tmp_path
):
    platform = platform_build()
    counts = table_counts(connections["default"])
    said = _command("backup", str(tmp_path / "backup"))
    assert said.startswith(f"Backup written to {tmp_path / 'backup'}: SQLite database")
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["engine"] == "sqlite" and manifest["tables"] == counts
    assert f"media/{platform.checkpoint}" in manifest["files"]
    assert "0012_rating_tally_truncate" in manifest["migrations"]["annotation"]

    restored_media = tmp_path / "restored-media"
    said = _restore_into(target, tmp_path / "backup", restored_media, settings)
    assert "Rating tallies equal a recount" in said, said
    assert table_counts(connections[target]) == counts
    assert tallies_verify(using=target).ok
    cursors = RatingSession.objects.using(target).values_list("subject__token_hash", "cursor")
    assert {token_hash(t): n for t, n in platform.tokens.items() if n is not None} == {
        h: n for h, n in cursors if h in {token_hash(t) for t in platform.tokens}
    }
    checkpoint = restored_media / platform.checkpoint
    assert file_entry(checkpoint) == manifest["files"][f"media/{platform.checkpoint}"]

    source = connections["default"].settings_dict["NAME"]
    before = site_as_used(
        platform, database_url=f"sqlite:///{source}", media_root=media, var=tmp_path / "v1"
    )
    after = site_as_used(
        platform,
        database_url=f"sqlite:///{tmp_path / 'restored.sqlite3'}",
        media_root=restored_media,
        var=tmp_path / "v2",
    )
    assert after == before
    assert all(before[page][0] == 200 for page in platform.pages), before
    assert all(before[page][1] for page in platform.pages if "/releases/v" in page)
    resumed = next(token for token, trials in platform.tokens.items() if trials == 3)
    assert before[resumed] == [302, f"/s/{resumed}/trials/3/"]


def test_a_tar_backup_restores_too(media, target, settings, tmp_path):
    rated_study_create(stimuli=2, subjects=2)
    counts = table_counts(connections["default"])
    said = _command("backup", str(tmp_path / "nightly.tar"))
    assert (tmp_path / "nightly.tar").is_file() and "nightly.tar" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media", "nightly.tar"]
    _restore_into(target, tmp_path / "nightly.tar", tmp_path / "restored-media", settings)
    assert table_counts(connections[target]) == counts
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # unpacked, removed


@pytest.fixture
def backup(media, tmp_path) -> Path:
    rated_study_create(stimuli=2, subjects=1)
    _command("backup", str(tmp_path / "backup"))
    return tmp_path / "backup"


def _manifest_edit(backup: Path, edit) -> None:
    path = backup / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_a_backup_is_never_written_over_an_existing_one(backup):
    with pytest.raises(CommandError, match="already exists; a backup is written to a new"):
        _command("backup", str(backup))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", "No backup at"),
        ("manifest", "manifest.json is corrupt or not a backup manifest"),
        ("image", r"is damaged: media/studies/.*sha256 differs from the manifest"),
        ("engine", "holds a PostgreSQL database; this site's database is SQLite"),
        ("newer", "made by newer code: migration annotation.0999_from_the_future is not"),
    ],
)
def test_bad_input_is_refused_in_one_line_and_nothing_is_restored(
    backup, target, settings, tmp_path, damage, message
):
    source = backup
    if damage == "missing":
        source = tmp_path / "no-such-backup"
    elif damage == "manifest":
        (backup / "manifest.json").write_text('{"format": "aigc-quality-backup", "files": ')
    elif damage == "image":
        image = next(files_under(backup / "media" / "studies"))
        image.write_bytes(image.read_bytes()[:-1] + b"\x00")
    elif damage == "newer":
        _manifest_edit(
            backup, lambda data: data["migrations"]["annotation"].append("0999_from_the_future")
        )
    else:  # a PostgreSQL dump where this site runs SQLite
        dump = backup / "database.dump"
        dump.write_bytes(b"PGDMP" + b"\x00" * 100)
        (backup / "database.sqlite3").unlink()

        def engine(data):
            del data["files"]["database.sqlite3"]
            data.update(engine="postgresql", database_file=dump.name)
            data["files"][dump.name] = file_entry(dump)

        _manifest_edit(backup, engine)
    with pytest.raises(CommandError, match=message) as refused:
        _restore_into(target, source, tmp_path / "restored-media", settings)
    assert "\n" not in str(refused.value)
    assert _left_empty(target, tmp_path / "restored-media")


def test_a_restore_that_fails_its_verification_is_undone(backup, target, settings, tmp_path):
    _manifest_edit(backup, lambda data: data["tables"].update(annotation_rating=999))
    with pytest.raises(CommandError, match="Restore failed and was undone.*annotation_rating"):
        _restore_into(target, backup, tmp_path / "restored-media", settings)
    assert _left_empty(target, tmp_path / "restored-media")


def test_a_database_or_media_root_that_is_not_empty_needs_force(backup, target, settings, tmp_path):
    with pytest.raises(CommandError, match="The database .* is not empty .* --force"):
        _restore_into("default", backup, tmp_path / "restored-media", settings)
    (tmp_path / "restored-media").mkdir()
    (tmp_path / "restored-media" / "stray.txt").write_text("left over")
    with pytest.raises(CommandError, match=r"MEDIA_ROOT \(.*\) is not empty"):
        _restore_into(target, backup, tmp_path / "restored-media", settings)
    said = _restore_into(target, backup, tmp_path / "restored-media", settings, "--force")
    assert "Rating tallies equal a recount" in said
    assert not (tmp_path / "restored-media" / "stray.txt").exists()
    assert table_counts(connections[target]) == table_counts(connections["default"])


def test_tallies_that_drifted_before_the_backup_are_repaired_by_the_restore(
    media, target, settings, tmp_path
):
    study = rated_study_create(stimuli=2, subjects=2)
    study.stimuli.update(rating_tally=0)  # as a write with the triggers disabled would leave
    _command("backup", str(tmp_path / "backup"))
    said = _restore_into(target, tmp_path / "backup", tmp_path / "restored-media", settings)
    assert "differ from a recount of the 8 ratings in stimuli: 2 (repaired)" in said, said
    assert tallies_verify(using=target).ok
