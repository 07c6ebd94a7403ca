"""Manifest imports are complete or nothing, with every bad row named."""

import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.test import override_settings
from PIL import Image

from annotation.imports.errors import ImportRejected
from annotation.imports.images import thumbnail_name
from annotation.models import Stimulus
from annotation.services import stimuli as stimuli_service
from annotation.services.imports import stimuli_import
from annotation.tests.factories import StudyFactory
from annotation.tests.research_support import (
    db_counts,
    image_set,
    media_files,
    write_image,
    write_manifest,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return StudyFactory()


def rejected(study, manifest: Path, images: Path | None = None) -> list[dict]:
    """Run an import that must fail; assert database and media are unchanged."""
    before_db, before_media = db_counts(), media_files()
    with pytest.raises(ImportRejected) as info:
        stimuli_import(study=study, manifest=manifest, images=images)
    assert db_counts() == before_db
    assert media_files() == before_media
    return info.value.report


def test_good_import_writes_stimuli_metadata_and_thumbnails(tmp_path, study):
    manifest = image_set(tmp_path, n=3)
    result = stimuli_import(study=study, manifest=manifest)
    assert result.created == 3
    stimuli = list(Stimulus.objects.filter(study=study).order_by("id"))
    assert [s.original_name for s in stimuli] == ["g0.jpg", "g1.jpg", "g2.jpg"]
    first = stimuli[0]
    assert first.generator == "MJ" and first.prompt_group == "p0"
    assert first.metadata == {"cfg": 7.5, "steps": 30, "seed": 1000}
    assert (first.width, first.height) == (40, 30)
    assert default_storage.exists(first.image.name)
    assert default_storage.exists(thumbnail_name(first.sha256))


def test_reference_images_are_stored(tmp_path, study):
    write_image(tmp_path / "ref.png", fmt="PNG", mode="RGBA", colour=(1, 2, 3))
    write_image(tmp_path / "a.jpg")
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "a.jpg", "reference": "ref.png"}])
    stimuli_import(study=study, manifest=manifest)
    assert Stimulus.objects.get(study=study).is_image_to_image


def test_every_bad_row_is_reported_and_nothing_written(tmp_path, study):
    write_image(tmp_path / "ok.jpg")
    (tmp_path / "text.jpg").write_text("not an image at all")
    good = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(good[: len(good) // 2])
    write_image(tmp_path / "cmyk.jpg", mode="CMYK", colour=(0, 50, 50, 0))
    (tmp_path / "copy.jpg").write_bytes(good)
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            {"image": "ok.jpg"},
            {"image": "missing.jpg"},
            {"image": "text.jpg"},
            {"image": "truncated.jpg"},
            {"image": "cmyk.jpg"},
            {"image": "copy.jpg"},
            {"image": "../outside.jpg"},
            {"image": ""},
        ],
    )
    report = rejected(study, manifest)
    by_row = {p["row"]: p["message"] for p in report}
    assert sorted(by_row) == [2, 3, 4, 5, 6, 7, 8]
    assert "file not found" in by_row[2]
    assert "not an image" in by_row[3]
    assert "corrupt" in by_row[4]
    assert "CMYK" in by_row[5]
    assert "same image content as row 1" in by_row[6]
    assert "'..'" in by_row[7]
    assert "no file name" in by_row[8]


def test_duplicate_of_an_image_already_in_the_study(tmp_path, study):
    manifest = image_set(tmp_path, n=2)
    stimuli_import(study=study, manifest=manifest)
    report = rejected(study, manifest)
    assert {p["message"] for p in report} == {"the same image is already in this study"}


@override_settings(STUDY_MAX_IMAGE_PIXELS=1000)
def test_image_over_the_pixel_limit(tmp_path, study):
    write_image(tmp_path / "big.jpg", size=(40, 30))
    report = rejected(study, write_manifest(tmp_path / "m.csv", [{"image": "big.jpg"}]))
    assert "over the limit of 1,000" in report[0]["message"]


def test_pillow_decompression_bomb_is_an_error(tmp_path, study, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    write_image(tmp_path / "bomb.png", size=(40, 30), fmt="PNG")
    write_image(tmp_path / "warn.png", size=(12, 12), fmt="PNG")  # between 1x and 2x: a warning
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "bomb.png"}, {"image": "warn.png"}])
    report = rejected(study, manifest)
    assert len(report) == 2
    assert all("too large to decode safely" in p["message"] for p in report)


def test_csv_that_is_not_utf8(tmp_path, study):
    write_image(tmp_path / "café.jpg")
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "café.jpg"}], encoding="latin-1")
    report = rejected(study, manifest)
    assert "not UTF-8" in report[0]["message"]


def test_missing_image_column(tmp_path, study):
    manifest = write_manifest(tmp_path / "m.csv", [{"file": "a.jpg", "prompt": "x"}])
    report = rejected(study, manifest)
    assert "missing column(s) image" in report[0]["message"]


def test_zip_import(tmp_path, study):
    manifest = image_set(tmp_path / "set", n=2)
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in (tmp_path / "set" / "img").iterdir():
            z.write(path, f"img/{path.name}")
    assert stimuli_import(study=study, manifest=manifest, images=archive).created == 2


def test_zip_path_traversal_is_refused(tmp_path, study):
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "a.jpg"}])
    archive = tmp_path / "evil.zip"
    jpeg = write_image(tmp_path / "src.jpg").read_bytes()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.jpg", jpeg)
        z.writestr("../escape.jpg", jpeg)
        z.writestr("/abs.jpg", jpeg)
    report = rejected(study, manifest, archive)
    messages = {p["image"]: p["message"] for p in report}
    assert "'..'" in messages["../escape.jpg"]
    assert "absolute" in messages["/abs.jpg"]
    assert not (tmp_path.parent / "escape.jpg").exists()


@override_settings(STUDY_IMPORT_MAX_UNCOMPRESSED_BYTES=10_000)
def test_zip_bomb_is_refused(tmp_path, study):
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "a.jpg"}])
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.jpg", b"\0" * 1_000_000)
    assert archive.stat().st_size < 10_000
    report = rejected(study, manifest, archive)
    assert "over the limit of 10,000" in report[0]["message"]


def test_not_a_zip(tmp_path, study):
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "a.jpg"}])
    (tmp_path / "x.zip").write_text("nope")
    report = rejected(study, manifest, tmp_path / "x.zip")
    assert "not a readable zip" in report[0]["message"]


def test_failure_while_writing_removes_written_files(tmp_path, study, monkeypatch):
    manifest = image_set(tmp_path, n=3)
    real = stimuli_service._save_path
    calls = {"n": 0}

    def flaky(name, path, written):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(name, path, written)

    monkeypatch.setattr(stimuli_service, "_save_path", flaky)
    before_db, before_media = db_counts(), media_files()
    with pytest.raises(OSError):
        stimuli_import(study=study, manifest=manifest)
    assert db_counts() == before_db
    assert media_files() == before_media
