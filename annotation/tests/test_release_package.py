"""Dataset packages: the demo release file by file, Croissant through mlcroissant, the round
trip through the import and the training library, privacy, and the page, API and command."""

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from annotation.models import ImportJob, LabelRelease, Stimulus, Subject
from annotation.services.imports import external_import, import_job_execute
from annotation.services.release_formats import RATING_COLUMNS
from annotation.services.release_package import release_package_request
from annotation.services.releases import release_freeze
from annotation.services.traps import trap_stimuli_create
from annotation.tests.factories import AdminFactory, jpeg_bytes, rated_study_create
from benchmark.training.cli import main as training_cli
from benchmark.training.manifest import load_manifest
from fixtures.demo_study import load_demo_study
from published.readers import LAYOUTS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package_of(release: LabelRelease, **choices) -> LabelRelease:
    release = release_package_request(release=release, inline=True, **choices)
    assert release.package_status == LabelRelease.PackageStatus.DONE, release.package_error
    return release


def unpack(release: LabelRelease, dest: Path) -> Path:
    with zipfile.ZipFile(release.package_file.path) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        archive.extractall(dest)
    assert tops == {f"{release.study.slug}-v{release.version}"}
    return dest / tops.pop()


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def demo_release() -> LabelRelease:
    return LabelRelease.objects.get(study=load_demo_study().study)


def test_trap_images_are_no_anchors_of_the_package(demo_release, tmp_path):
    traps = trap_stimuli_create(study=demo_release.study, count=2)
    folder = unpack(package_of(demo_release), tmp_path)
    anchors = pd.read_csv(folder / "anchors.csv")
    assert set(anchors["role"]) == {"training"} and len(anchors) == 3
    names = {p.name for p in (folder / "images").rglob("*")}
    assert not names & {Path(t.image.name).name for t in traps}


def test_demo_package_file_by_file(demo_release, tmp_path):
    release = package_of(demo_release, licence="CC BY 4.0", citation="Doe et al., Demo DB, 2026")
    stored = Path(release.package_file.path)
    assert release.package_sha256 == sha(stored.read_bytes())
    assert release.package_size == stored.stat().st_size
    folder = unpack(release, tmp_path)
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert_sha256sums_list_every_file(folder, files)
    assert_mos_csv_holds_the_frozen_numbers_and_opens_every_image(folder, release)
    assert_anchors_are_the_training_images(folder, files)
    subjects = assert_ratings_and_subjects_are_pseudonymous(folder, release)
    assert_sidecar_names_no_creator(folder, subjects)
    assert_readme_describes_the_database_with_its_figures(folder)


def assert_sha256sums_list_every_file(folder: Path, files: set[str]) -> None:
    """Every file is listed in SHA256SUMS with its true sha256, and nothing else is."""
    sums = dict(
        reversed(line.split("  ", 1)) for line in (folder / "SHA256SUMS").read_text().splitlines()
    )
    assert set(sums) == files - {"SHA256SUMS"}
    assert all(sha((folder / name).read_bytes()) == digest for name, digest in sums.items())


def assert_mos_csv_holds_the_frozen_numbers_and_opens_every_image(
    folder: Path, release: LabelRelease
) -> None:
    mos = pd.read_csv(folder / "mos.csv", dtype={"settings": str})
    stored_mos = pd.read_csv(release.mos_file.path).set_index("stimulus_id")
    assert len(mos) == 60 == release.counts["stimuli"]
    assert list(mos.columns[:12]) == [
        "name", "image", "prompt_image", "stimulus_id", "sha256", "original_name",
        "generator", "prompt", "prompt_group", "settings", "role", "mos",
    ]  # fmt: skip
    for key in ("quality", "authenticity", "correspondence"):
        assert {f"mos_{key}", f"std_{key}", f"n_{key}", f"ci95_{key}"} <= set(mos.columns)
        # The CSV carries the frozen numbers exactly (full precision, same stimuli).
        assert (mos.set_index("stimulus_id")[f"mos_{key}"] == stored_mos[f"mos_{key}"]).all()
    assert (mos["n"] == mos["n_quality"]).all()
    assert set(mos["role"]) == {"normal"}
    assert json.loads(mos.loc[0, "settings"])["cfg"] == 7.5
    # pandas and PIL alone: every relative path opens, and is the image of that sha256.
    for row in mos.itertuples():
        assert row.image == f"images/{row.name}"
        assert sha((folder / row.image).read_bytes()) == row.sha256
        with Image.open(folder / row.image) as image:
            image.load()
    i2i = mos[mos["prompt_image"].fillna("") != ""]
    assert len(i2i) == 30 and all((folder / p).is_file() for p in i2i["prompt_image"])


def assert_anchors_are_the_training_images(folder: Path, files: set[str]) -> None:
    anchors = pd.read_csv(folder / "anchors.csv")
    assert len(anchors) == 3 and set(anchors["role"]) == {"training"}
    assert anchors["explanation"].str.len().min() > 0
    assert {"expected_quality", "expected_authenticity"} <= set(anchors.columns)
    assert len([f for f in files if f.startswith("images/")]) == 63


def assert_ratings_and_subjects_are_pseudonymous(
    folder: Path, release: LabelRelease
) -> pd.DataFrame:
    """ratings.csv is the frozen raw file under new pseudonyms; returns subjects.csv."""
    ratings = pd.read_csv(folder / "ratings.csv")
    raw = pd.read_csv(release.raw_file.path)
    assert tuple(ratings.columns) == RATING_COLUMNS
    assert len(ratings) == len(raw) == release.counts["ratings"]
    assert (ratings["score"].to_numpy() == raw["score"].to_numpy()).all()
    subjects = pd.read_csv(folder / "subjects.csv")
    assert list(subjects.columns) == ["subject", "ratings", "rejected", "rejected_on", "reasons"]
    assert set(subjects["subject"]) == set(ratings["subject"]) and len(subjects) == 20
    assert subjects["rejected"].sum() == release.counts["subjects_rejected"]
    assert not set(subjects["subject"]) & set(raw["subject"])
    return subjects


def assert_sidecar_names_no_creator(folder: Path, subjects: pd.DataFrame) -> None:
    sidecar = json.loads((folder / "release.json").read_text())
    assert "created_by" not in sidecar["release"]
    assert {r["subject"] for r in sidecar["method_config"]["rejections"]} <= set(
        subjects["subject"]
    )
    assert sidecar["licence"] == "CC BY 4.0"


def assert_readme_describes_the_database_with_its_figures(folder: Path) -> None:
    readme = (folder / "README.md").read_text()
    for heading in (
        "## Motivation", "## Composition", "## Collection process", "## Subjects",
        "## Preprocessing and labelling: the MOS", "### Reliability", "## Uses",
        "## Distribution", "## Maintenance",
    ):  # fmt: skip
        assert heading in readme
    assert "CC BY 4.0" in readme and "Doe et al., Demo DB, 2026" in readme
    assert "How real does the generated image look?" in readme  # a dimension's question
    assert "2 were rejected by screening" in readme
    for key in ("quality", "authenticity", "correspondence"):
        with Image.open(folder / f"figures/mos_{key}.png") as figure:
            assert figure.format == "PNG" and figure.size == (640, 360)
        svg = ElementTree.parse(folder / f"figures/mos_{key}.svg").getroot()
        bars = [e for e in svg if e.tag.endswith("rect") and e.get("fill") == "#3b6ea8"]
        assert len(bars) == 20
        assert f"figures/mos_{key}.png" in readme


def test_croissant_metadata_loads_in_mlcroissant(demo_release, tmp_path):
    mlc = pytest.importorskip("mlcroissant")
    release = package_of(demo_release, licence="CC BY 4.0", citation="Doe 2026")
    folder = unpack(release, tmp_path)
    dataset = mlc.Dataset(jsonld=folder / "croissant.json")
    assert dataset.metadata.license == ["CC BY 4.0"] or dataset.metadata.license == "CC BY 4.0"
    mos = pd.read_csv(folder / "mos.csv", keep_default_na=False)
    records = list(dataset.records(record_set="mos"))
    assert len(records) == len(mos)

    def text(value) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    for record, row in zip(records, mos.itertuples(), strict=True):
        assert text(record["mos/image"]) == row.image
        assert text(record["mos/sha256"]) == row.sha256
        assert record["mos/mos_quality"] == pytest.approx(row.mos_quality, rel=1e-12)
        assert record["mos/n_quality"] == row.n_quality
    ratings = list(dataset.records(record_set="ratings"))
    assert len(ratings) == release.counts["ratings"]


def test_round_trip_import_and_training_reader(demo_release, tmp_path):
    release = package_of(demo_release)
    folder = unpack(release, tmp_path)
    imported = external_import(layout="dataset-package", source=folder, name="Demo again")
    again = imported.release
    assert again.source == LabelRelease.Source.EXTERNAL and imported.created == 63

    def by_sha(study, path: str) -> pd.DataFrame:
        mos = pd.read_csv(path).set_index("stimulus_id")
        shas = dict(study.stimuli.values_list("id", "sha256"))
        return mos.set_axis([shas[pk] for pk in mos.index]).sort_index()

    before, after = (
        by_sha(demo_release.study, release.mos_file.path),
        by_sha(again.study, again.mos_file.path),
    )
    assert list(before.index) == list(after.index)
    for key in ("quality", "authenticity", "correspondence"):
        assert (before[f"mos_{key}"] == after[f"mos_{key}"]).all()
        assert (before[f"std_{key}"] == after[f"std_{key}"]).all()
    roles = dict(demo_release.study.stimuli.values_list("sha256", "role"))
    assert dict(again.study.stimuli.values_list("sha256", "role")) == roles
    assert list(roles.values()).count(Stimulus.Role.TRAINING) == 3
    old = {s.sha256: s for s in demo_release.study.stimuli.all()}
    for stimulus in again.study.stimuli.all():
        assert sha(Path(stimulus.image.path).read_bytes()) == stimulus.sha256
        source = old[stimulus.sha256]
        assert stimulus.expected_scores == source.expected_scores
        assert stimulus.explanation == source.explanation
        assert bool(stimulus.reference_image) == bool(source.reference_image)
        assert (stimulus.generator, stimulus.prompt_group) == (
            source.generator,
            source.prompt_group,
        )
    assert list(again.study.dimensions.values_list("key", "question")) == list(
        demo_release.study.dimensions.values_list("key", "question")
    )
    assert (again.study.scale_min, again.study.scale_max) == (0, 100)

    # The training library reads the package directly.
    manifest_path = tmp_path / "manifests" / "demo.csv"
    args = ["make-manifest", "dataset-package", "--data-dir", str(folder)]
    assert training_cli([*args, "--out", str(manifest_path)]) == 0
    manifest = load_manifest(manifest_path, ["mos_quality", "mos_correspondence"])
    assert len(manifest) == 60 and all(Path(p).is_file() for p in manifest.images)
    load_manifest(manifest_path, ["mos"], need_reference=False)
    # Its layout reads the same rows, every one labelled, as the other layouts' readers do.
    table = LAYOUTS["dataset-package"].read(folder)
    assert len(table.rows) == 60 and all(row.labelled for row in table.rows)
    assert {row.image for row in table.rows} == {
        Path(p).resolve().relative_to(folder.resolve()).as_posix() for p in manifest.images
    }


def test_no_subject_field_but_the_pseudonym_and_ticked_demographics_leaves(tmp_path):
    study = rated_study_create(subjects=6, stimuli=4)
    secrets_of = []
    for index, subject in enumerate(study.subjects.order_by("id")):
        subject.label = f"participant-label-{index}-zq"
        subject.demographics = {
            "age": 30 + index,
            "email": f"person{index}@example.org",
            "comment": f"free text about me number {index}xq",
            "ip": f"203.0.113.{index + 7}",
        }
        subject.save()
        # Moments no other part of the package can share.
        moment = datetime(2019, 1 + index, 3, 4, 5, 6, tzinfo=UTC)
        Subject.objects.filter(pk=subject.pk).update(
            consented_at=moment, created_at=moment + timedelta(minutes=7)
        )
        subject.refresh_from_db()
        secrets_of.append(subject)
    release = release_freeze(study=study, options={"screening": ["bt500"]})
    with pytest.raises(ValidationError, match="shoe_size"):
        release_package_request(release=release, demographics=["shoe_size"], inline=True)
    release = package_of(release, demographics=["age"])
    with zipfile.ZipFile(release.package_file.path) as archive:
        texts = {
            name: archive.read(name).decode("utf-8", errors="replace")
            for name in archive.namelist()
        }
    for subject in secrets_of:
        forbidden = [
            subject.label,
            subject.token_hash,
            subject.demographics["email"],
            subject.demographics["comment"],
            subject.demographics["ip"],
            subject.consented_at.isoformat()[:19],
            subject.created_at.isoformat()[:19],
        ]
        for name, text in texts.items():
            leaked = [value for value in forbidden if value in text]
            assert not leaked, f"{name} holds {leaked}"
    top = f"{study.slug}-v{release.version}"
    subjects = list(csv.DictReader(io.StringIO(texts[f"{top}/subjects.csv"])))
    assert list(subjects[0]) == ["subject", "ratings", "rejected", "rejected_on", "reasons", "age"]
    assert sorted(int(row["age"]) for row in subjects) == [30, 31, 32, 33, 34, 35]
    ratings_header = texts[f"{top}/ratings.csv"].splitlines()[0].split(",")
    assert "session" not in ratings_header and "created_at" not in ratings_header
    # Pseudonyms: the same within the package, new in the next package.
    first = {row["subject"] for row in subjects}
    in_ratings = {line.split(",")[1] for line in texts[f"{top}/ratings.csv"].splitlines()[1:]}
    assert in_ratings == first
    release = package_of(release, demographics=[])
    with zipfile.ZipFile(release.package_file.path) as archive:
        again = list(csv.DictReader(io.StringIO(archive.read(f"{top}/subjects.csv").decode())))
    assert "age" not in again[0] and not {row["subject"] for row in again} & first


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_page_button_worker_download_api_and_command(
    client, tmp_path, django_capture_on_commit_callbacks
):
    study = rated_study_create(subjects=5, stimuli=3)
    release = release_freeze(study=study, options={"screening": []})
    client.force_login(study.owner)
    page = reverse("research:release_list", args=[study.pk])
    assert "not packaged" in client.get(page).content.decode()
    form = {"version": release.version, "licence": "CC0 1.0", "citation": "Lab 2026"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("research:release_package", args=[study.pk]), form)
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.package_status == LabelRelease.PackageStatus.DONE
    assert (release.licence, release.citation) == ("CC0 1.0", "Lab 2026")
    html = client.get(page).content.decode()
    download = reverse("research:release_download", args=[study.pk, 1, "package"])
    assert download in html and release.package_sha256[:10] in html
    response = client.get(download)
    body = b"".join(response.streaming_content)
    assert response["Content-Type"] == "application/zip"
    assert sha(body) == release.package_sha256

    api = APIClient()
    api.force_login(study.owner)
    base = reverse("api:release_detail", args=[study.pk, 1])
    detail = api.get(base).json()
    assert detail["package_sha256"] == release.package_sha256
    assert detail["files"]["package_zip"].endswith("/releases/1/package.zip")
    zipped = api.get(base + "package.zip")
    assert sha(b"".join(zipped.streaming_content)) == release.package_sha256
    with django_capture_on_commit_callbacks(execute=True):
        queued = api.post(base + "package/", {"licence": "CC BY 4.0"}, format="json")
    assert queued.status_code == 202 and queued.json()["package_status"] == "pending"
    rebuilt = api.get(base).json()
    assert rebuilt["package_status"] == "done" and rebuilt["licence"] == "CC BY 4.0"
    bad = api.post(base + "package/", {"demographics": ["email"]}, format="json")
    assert bad.status_code == 400

    out = tmp_path / "pkg.zip"
    call_command(
        "study", "package", study.slug, "--citation", "Cmd 2026", "--out", str(out),
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    release.refresh_from_db()
    assert sha(out.read_bytes()) == release.package_sha256 and release.citation == "Cmd 2026"


def test_unbuilt_package_answers_404(client):
    study = rated_study_create(subjects=4, stimuli=3)
    release_freeze(study=study, options={"screening": []})
    admin = AdminFactory()
    client.force_login(admin)
    url = reverse("research:release_download", args=[study.pk, 1, "package"])
    assert client.get(url).status_code == 404
    assert Subject.objects.filter(study=study).count() == 4


def test_import_job_takes_the_package_zip_as_uploaded(tmp_path):
    study = rated_study_create(subjects=5, stimuli=4)
    for index, stimulus in enumerate(study.stimuli.order_by("id")):
        # Distinct pictures, as a real import requires (the factory's may encode alike).
        data = jpeg_bytes(colour=(40 + 50 * index, 200 - 40 * index, 90))
        Path(stimulus.image.path).write_bytes(data)
        Stimulus.objects.filter(pk=stimulus.pk).update(sha256=sha(data))
    Stimulus.objects.filter(pk=study.stimuli.order_by("id").first().pk).update(
        role=Stimulus.Role.GOLD, expected_scores={"quality": 70.0, "authenticity": 60.0}
    )
    release = package_of(release_freeze(study=study, options={"screening": []}))
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.EXTERNAL,
        options={
            "layout": "dataset-package",
            "archive": release.package_file.path,
            "name": "Round trip",
        },
    )
    job = import_job_execute(job=job)
    assert job.status == ImportJob.Status.DONE, job.error_report
    again = LabelRelease.objects.get(pk=job.result["release"])
    before = pd.read_csv(release.mos_file.path)
    after = pd.read_csv(again.mos_file.path)
    assert list(after["mos_quality"]) == list(before["mos_quality"])
    gold = again.study.stimuli.get(role=Stimulus.Role.GOLD)
    assert gold.expected_scores == {"quality": 70.0, "authenticity": 60.0}
    assert Path(release.package_file.path).is_file()  # the import leaves the package alone

    # The imported (external) release packages too: MOS and images, no ratings or subjects.
    again = package_of(again)
    folder = unpack(again, tmp_path / "again")
    assert not (folder / "ratings.csv").exists() and not (folder / "subjects.csv").exists()
    assert list(pd.read_csv(folder / "mos.csv")["mos_quality"]) == list(before["mos_quality"])
    assert "holds no individual ratings" in (folder / "README.md").read_text()


def test_release_frozen_without_reliability_gets_it_from_its_raw_ratings(tmp_path):
    study = rated_study_create(subjects=6, stimuli=5)
    release = release_freeze(study=study, options={"screening": []})
    recorded = release.method_config.pop("reliability")
    assert recorded["rows"] and "split-half SRCC (SB)" in recorded["columns"]
    LabelRelease.objects.filter(pk=release.pk).update(method_config=release.method_config)
    folder = unpack(package_of(LabelRelease.objects.get(pk=release.pk)), tmp_path)
    readme = (folder / "README.md").read_text()
    assert "### Reliability" in readme
    # The same figures the freeze recorded, from re-running the analysis on ratings.csv's source.
    first = recorded["rows"][0]
    assert "| " + " | ".join(str(v) for v in first) + " |" in readme
