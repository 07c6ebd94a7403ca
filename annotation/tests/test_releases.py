"""Label releases: freeze, versions, immutability, downloads (page, API, command), checksums."""

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import AnalysisRun, LabelRelease
from annotation.services import release_formats
from annotation.services.analysis_runs import analysis_run_request, release_freeze_request
from annotation.services.release_formats import RAW_COLUMNS
from annotation.services.releases import release_freeze
from annotation.tests.factories import (
    AdminFactory,
    DimensionFactory,
    StudyFactory,
    rated_study_create,
    rating_add,
)
from benchmark.training.manifest import load_manifest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


@pytest.fixture
def study():
    return rated_study_create(subjects=7, stimuli=5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def media_files(root: Path) -> set[str]:
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def content(response) -> bytes:
    assert response.status_code == 200, response
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def test_freeze_writes_mos_raw_and_sidecar_with_their_sha256(study, media):
    release = release_freeze(study=study, options={"screening": ["bt500", "correlation"]})
    assert (release.version, release.source) == (1, LabelRelease.Source.STUDY)
    folder = f"releases/{study.pk}/v1"
    assert release.mos_file.name == f"{folder}/mos.csv"
    assert release.raw_file.name == f"{folder}/raw.csv"
    mos_bytes = (media / release.mos_file.name).read_bytes()
    raw_bytes = (media / release.raw_file.name).read_bytes()
    assert sha(mos_bytes) == release.mos_sha256 and sha(raw_bytes) == release.raw_sha256

    mos = list(csv.DictReader(io.StringIO(mos_bytes.decode())))
    assert len(mos) == 5 == release.counts["stimuli"]
    header = mos_bytes.decode().splitlines()[0].split(",")
    assert header[:7] == [
        "stimulus_id", "image", "original_name", "generator", "prompt", "prompt_group", "mos",
    ]  # fmt: skip
    assert header[7:11] == ["mos_quality", "std_quality", "n_quality", "ci95_quality"]
    assert "reference" not in header  # no image-to-image stimuli in this study
    assert all(row["mos"] == row["mos_quality"] for row in mos)
    assert all(row["image"].startswith("../../../studies/") for row in mos)

    raw = list(csv.DictReader(io.StringIO(raw_bytes.decode())))
    assert tuple(raw[0]) == RAW_COLUMNS
    assert len(raw) == 7 * 5 * 2 == release.counts["ratings"]
    assert {r["dimension"] for r in raw} == {"quality", "authenticity"}

    sidecar = json.loads((media / folder / "release.json").read_bytes())
    assert sidecar["release"] == {
        "id": release.pk,
        "version": 1,
        "source": "study",
        "created_at": release.created_at.isoformat(),
        "created_by": None,
    }
    assert sidecar["files"]["mos"]["sha256"] == release.mos_sha256
    assert sidecar["files"]["raw"]["sha256"] == release.raw_sha256
    config = sidecar["method_config"]
    assert config["options"]["screening"] == ["bt500", "correlation"]
    assert config["library"]["name"] == "analysis" and config["library"]["version"]
    assert {m["method"] for m in config["methods"]} >= {"bt500", "correlation", "mos"}
    assert all(m["version"] for m in config["methods"])
    assert (
        config["subjects"]["total"]
        == 7
        == config["subjects"]["kept"] + config["subjects"]["rejected"]
    )
    assert set(sidecar["columns"]["mos"]) == set(header)
    assert "Student t" in sidecar["columns"]["mos"]["ci95_quality"]
    assert set(sidecar["columns"]["raw"]) == set(RAW_COLUMNS)


def test_mos_csv_loads_in_the_training_library_with_every_file_present(study):
    release = release_freeze(study=study, options=None)
    manifest = load_manifest(release.mos_file.path, ["mos", "mos_quality", "mos_authenticity"])
    assert len(manifest) == 5
    assert all(Path(p).is_file() for p in manifest.images)
    assert sorted(manifest.stimulus_ids.astype(int)) == sorted(
        study.stimuli.values_list("id", flat=True)
    )


def test_later_ratings_never_change_a_release_and_a_second_freeze_is_v2(study, media):
    first = release_freeze(study=study, options=None)
    before = {
        name: (media / name).read_bytes()
        for name in media_files(media)
        if name.startswith(f"releases/{study.pk}/v1/")
    }
    assert set(before) == {
        f"releases/{study.pk}/v1/{n}" for n in ("mos.csv", "raw.csv", "release.json")
    }
    rating_add(study=study, score=99.0)
    second = release_freeze(study=study, options=None)
    assert second.version == 2 and second.counts["ratings"] == first.counts["ratings"] + 1
    assert second.raw_sha256 != first.raw_sha256
    for name, data in before.items():
        assert (media / name).read_bytes() == data, name
    first.refresh_from_db()
    assert sha(before[first.mos_file.name]) == first.mos_sha256
    assert sha(before[first.raw_file.name]) == first.raw_sha256
    assert second.mos_file.name.startswith(f"releases/{study.pk}/v2/")


def test_bad_input_is_refused_and_nothing_is_written(study, media):
    with pytest.raises(ValidationError, match="Unknown analysis option"):
        release_freeze(study=study, options={"screening": ["bt500"], "normalize": "zscore"})
    empty = StudyFactory()
    DimensionFactory(study=empty)
    with pytest.raises(ValidationError, match="has no ratings"):
        release_freeze(study=empty, options=None)
    assert LabelRelease.objects.count() == 0
    assert not any(name.startswith("releases/") for name in media_files(media))


def test_a_failure_while_writing_leaves_no_release_and_no_file(study, media, monkeypatch):
    def broken(release):
        raise OSError("disk full")

    monkeypatch.setattr(release_formats, "sidecar_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        release_freeze(study=study, options=None)
    assert LabelRelease.objects.count() == 0
    assert not any(name.startswith("releases/") for name in media_files(media))
    monkeypatch.undo()
    assert release_freeze(study=study, options=None).version == 1


def test_downloads_from_page_api_and_command_match_the_stored_sha256(study, tmp_path):
    release = release_freeze(study=study, options=None, created_by=study.owner)
    sidecar = json.loads(
        content(_page_get(study, "research:release_download", release.version, "sidecar"))
    )
    expected = {"mos": release.mos_sha256, "raw": release.raw_sha256}
    assert {k: sidecar["files"][k]["sha256"] for k in expected} == expected
    assert sidecar["release"]["created_by"] == study.owner.username

    # Page downloads.
    for what, digest in expected.items():
        data = content(_page_get(study, "research:release_download", release.version, what))
        assert sha(data) == digest, what

    # API downloads and detail.
    api = APIClient()
    api.force_login(study.owner)
    detail = api.get(reverse("api:release_detail", args=[study.pk, 1])).json()
    assert detail["mos_sha256"] == release.mos_sha256 and detail["counts"] == release.counts
    for what, digest in expected.items():
        response = api.get(detail["files"][what], HTTP_ACCEPT="text/csv")
        assert response["Content-Type"].startswith("text/csv")
        assert sha(content(response)) == digest, what
    api_sidecar = json.loads(content(api.get(detail["files"]["sidecar"])))
    assert api_sidecar == sidecar
    listed = api.get(reverse("api:release_list", args=[study.pk])).json()["results"]
    assert [r["version"] for r in listed] == [1]

    # Command exports: the stored file, checked against the recorded sha256.
    for what, digest in expected.items():
        out = tmp_path / f"{what}.csv"
        call_command(
            "study", "export", study.slug, "--release", "1", "--what", what, "--out", str(out),
            stderr=io.StringIO(),
        )  # fmt: skip
        assert sha(out.read_bytes()) == digest, what
    out = tmp_path / "release.json"
    call_command(
        "study", "export", study.slug, "--what", "sidecar", "--out", str(out), stderr=io.StringIO()
    )
    assert json.loads(out.read_bytes()) == sidecar


def _page_get(study, name, *args):
    from django.test import Client

    client = Client()
    client.force_login(study.owner)
    return client.get(reverse(name, args=[study.pk, *args]))


def test_command_freeze_releases_analyse_and_live_export(study, tmp_path):
    out = io.StringIO()
    call_command(
        "study", "freeze", study.slug, "--screening", "bt500,correlation", "--by",
        study.owner.username, stdout=out,
    )  # fmt: skip
    release = LabelRelease.objects.get(study=study)
    assert f"Froze {study.slug} v1" in out.getvalue() and release.mos_sha256 in out.getvalue()
    assert release.created_by == study.owner
    assert release.method_config["options"]["screening"] == ["bt500", "correlation"]
    call_command("study", "freeze", study.slug, "--screening", "none", stdout=io.StringIO())
    listing = io.StringIO()
    call_command("study", "releases", study.slug, stdout=listing)
    lines = listing.getvalue().splitlines()
    assert lines[0].startswith("v1\tstudy") and "screening bt500,correlation" in lines[0]
    assert lines[1].startswith("v2\tstudy") and "screening none" in lines[1]
    analysed = io.StringIO()
    call_command("study", "analyse", study.slug, "--normalisation", "zscore", stdout=analysed)
    assert "70 ratings" in analysed.getvalue()
    live = tmp_path / "live.csv"
    call_command("study", "export", study.slug, "--live", "--out", str(live), stderr=io.StringIO())
    rows = list(csv.DictReader(live.open()))
    assert len(rows) == 70 and tuple(rows[0]) == RAW_COLUMNS
    for args, message in (
        (["freeze", study.slug, "--options", '{"screenin": []}'], "Unknown analysis option"),
        (["freeze", study.slug, "--options", "{"], "not valid JSON"),
        (["export", study.slug, "--release", "9", "--out", str(live)], "has no release 9"),
        (["freeze", "nope"], "No study"),
    ):
        with pytest.raises(CommandError, match=message):
            call_command("study", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert LabelRelease.objects.count() == 2


def test_command_export_refuses_a_file_that_no_longer_matches_its_sha256(study, tmp_path):
    release = release_freeze(study=study, options=None)
    Path(release.mos_file.path).write_text("tampered\n")
    with pytest.raises(CommandError, match="does not match"):
        call_command(
            "study", "export", study.slug, "--out", str(tmp_path / "m.csv"), stderr=io.StringIO()
        )


def test_releases_page_freezes_and_lists_with_download_links(client, study):
    client.force_login(study.owner)
    url = reverse("research:release_list", args=[study.pk])
    assert "No releases yet" in client.get(url).content.decode()
    form = {
        "screening": ["bt500"],
        "normalisation": "none",
        "repeat_policy": "first",
        "bt500_ddof": 1,
        "correlation_threshold": 0.75,
        "repeat_threshold": 0.25,
        "gold_threshold": 0.25,
        "confidence": 0.95,
    }
    response = client.post(reverse("research:release_freeze", args=[study.pk]), form, follow=True)
    page = response.content.decode()
    assert "Release v1 frozen: 5 stimuli from 70 ratings" in page
    release = LabelRelease.objects.get()
    assert release.created_by == study.owner
    for what in ("mos", "raw", "sidecar"):
        assert reverse("research:release_download", args=[study.pk, 1, what]) in page
    assert release.mos_sha256 in page
    detail = client.get(reverse("research:study_detail", args=[study.pk])).content.decode()
    assert reverse("research:release_download", args=[study.pk, 1, "mos"]) in detail
    missing = client.get(reverse("research:release_download", args=[study.pk, 1, "other"]))
    assert missing.status_code == 404
    bad = client.post(
        reverse("research:release_freeze", args=[study.pk]), {**form, "confidence": 7}, follow=True
    )
    assert "Check the analysis options" in bad.content.decode()
    assert LabelRelease.objects.count() == 1


def test_live_ratings_csv_streams_current_ratings(client, study):
    client.force_login(study.owner)
    response = client.get(reverse("research:ratings_live_csv", args=[study.pk]))
    assert response.streaming and response["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(content(response).decode())))
    assert len(rows) == 70
    rating_add(study=study)
    again = client.get(reverse("research:ratings_live_csv", args=[study.pk]))
    assert len(content(again).decode().splitlines()) == 1 + 71


def test_large_freeze_runs_on_the_worker(study, settings, django_capture_on_commit_callbacks):
    settings.ANALYSIS_INLINE_MAX_RATINGS = 10
    settings.CELERY_TASK_ALWAYS_EAGER = True  # .delay() runs the task here, as a worker would
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = release_freeze_request(study=study, options=None, created_by=study.owner)
    assert outcome.release is None and outcome.run.kind == AnalysisRun.Kind.FREEZE
    assert LabelRelease.objects.count() == 0 and len(callbacks) == 1
    callbacks[0]()
    run = AnalysisRun.objects.get(pk=outcome.run.pk)
    assert run.status == AnalysisRun.Status.DONE, run.error
    assert run.release.version == 1 and run.release.created_by == study.owner
    assert [e["step"] for e in run.log][0] == "loading ratings"


def test_admin_cannot_add_change_or_delete_a_release(client, study):
    release = release_freeze(study=study, options=None)
    client.force_login(AdminFactory())
    change = reverse("admin:annotation_labelrelease_change", args=[release.pk])
    page = client.get(change)
    assert page.status_code == 200  # view only
    assert 'name="_save"' not in page.content.decode()
    assert client.post(change, {"version": 7, "mos_sha256": "0" * 64}).status_code == 403
    assert client.get(reverse("admin:annotation_labelrelease_add")).status_code == 403
    delete = reverse("admin:annotation_labelrelease_delete", args=[release.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    release.refresh_from_db()
    assert release.version == 1 and len(release.mos_sha256) == 64
    # Analysis runs are a cache: listed and viewable, never added or edited by hand.
    run = analysis_run_request(study=study, options=None)
    assert client.get(reverse("admin:annotation_analysisrun_changelist")).status_code == 200
    view = client.get(reverse("admin:annotation_analysisrun_change", args=[run.pk]))
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert client.get(reverse("admin:annotation_analysisrun_add")).status_code == 403


def test_api_has_no_update_path_for_releases(study):
    release_freeze(study=study, options=None)
    api = APIClient()
    api.force_login(study.owner)
    urls = [
        reverse("api:release_detail", args=[study.pk, 1]),
        reverse("api:release_mos", args=[study.pk, 1]),
        reverse("api:release_raw", args=[study.pk, 1]),
        reverse("api:release_sidecar", args=[study.pk, 1]),
        reverse("api:release_list", args=[study.pk]),
    ]
    for url in urls:
        for method in ("put", "patch", "delete"):
            response = getattr(api, method)(url, {"version": 5}, format="json")
            assert response.status_code == 405, (method, url)
    assert LabelRelease.objects.get().version == 1


def test_an_imported_database_release_has_a_stored_sidecar_like_a_freeze(client, tmp_path):
    from django.core.files.storage import default_storage

    from annotation.services.imports import external_import
    from annotation.tests.research_support import write_image

    source = tmp_path / "db"
    source.mkdir()
    (source / "info_train.csv").write_text("A_1.png,a fox,3.5\nB_2.png,a cat,2.25\n")
    for i, name in enumerate(["A_1.png", "B_2.png"]):
        write_image(source / name, fmt="PNG", colour=(i * 60, 5, 5))
    owner = AdminFactory()
    release = external_import(layout="aigiqa20k", source=source, name="20k", owner=owner).release
    # Written by the same release_write as a freeze, so the sidecar is a stored file.
    assert default_storage.exists(f"releases/{release.study_id}/v1/release.json")
    client.force_login(owner)
    args = [release.study_id, release.version]
    data = content(client.get(reverse("research:release_download", args=[*args, "mos"])))
    assert sha(data) == release.mos_sha256
    sidecar = json.loads(
        content(client.get(reverse("research:release_download", args=[*args, "sidecar"])))
    )
    assert sidecar["release"]["source"] == "external" and "raw" not in sidecar["files"]
    assert sidecar["files"]["mos"]["sha256"] == release.mos_sha256
    assert sidecar["columns"]["mos"]["mos_quality"] == "mean opinion score on dimension quality"
    assert client.get(reverse("research:release_download", args=[*args, "raw"])).status_code == 404


def test_the_migration_stores_the_sidecar_of_an_external_release_imported_without_one(tmp_path):
    import importlib

    from django.core.files.storage import default_storage

    from annotation.services.imports import external_import
    from annotation.tests.research_support import write_image

    (tmp_path / "info_train.csv").write_text("A_1.png,a fox,3.5\n")
    write_image(tmp_path / "A_1.png", fmt="PNG")
    release = external_import(layout="aigiqa20k", source=tmp_path, name="old").release
    name = f"releases/{release.study_id}/v1/release.json"
    expected = default_storage.open(name).read()
    default_storage.delete(name)  # as imported before release_write wrote sidecars
    migration = importlib.import_module("annotation.migrations.0004_external_release_sidecars")
    migration.sidecars_write(None, None)
    assert default_storage.open(name).read() == expected
