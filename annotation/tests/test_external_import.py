"""Published databases become a closed study plus an external label release."""

import csv
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from django.test import override_settings

from annotation.imports.errors import ImportRejected
from annotation.models import ImportJob, LabelRelease, Stimulus, Study
from annotation.services.imports import external_import, import_job_create
from annotation.tests.factories import ResearcherFactory
from annotation.tests.research_support import db_counts, media_files, write_image

pytestmark = pytest.mark.django_db


def release_rows(release: LabelRelease) -> list[dict]:
    with release.mos_file.open("rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == release.mos_sha256
    return list(csv.DictReader(io.StringIO(data.decode())))


@pytest.mark.slow
def test_agiqa3k_real_sample(shared_data):
    owner = ResearcherFactory()
    result = external_import(
        layout="agiqa3k", source=shared_data / "agiqa3k-sample", name="AGIQA-3K sample", owner=owner
    )
    study = result.study
    assert study.status == Study.Status.CLOSED and study.owner == owner
    assert result.created == 300 == study.stimuli.count()
    assert sorted(study.dimensions.values_list("key", flat=True)) == ["align", "quality"]
    assert sorted(set(study.stimuli.values_list("generator", flat=True))) == [
        "AttnGAN", "DALLE2", "glide", "midjourney", "sd1.5", "xl2.2",
    ]  # fmt: skip
    assert study.stimuli.values("prompt_group").distinct().count() == 30
    release = result.release
    assert release.source == LabelRelease.Source.EXTERNAL
    assert release.method_config["layout"] == "agiqa3k"
    assert release.counts["stimuli"] == 300
    rows = release_rows(release)
    assert list(rows[0])[:6] == [
        "stimulus_id",
        "image",
        "original_name",
        "generator",
        "prompt",
        "prompt_group",
    ]
    source = {
        r["name"]: r for r in csv.DictReader((shared_data / "agiqa3k-sample/data.csv").open())
    }
    first = rows[0]
    assert float(first["mos_quality"]) == pytest.approx(
        float(source[first["original_name"]]["mos_quality"])
    )
    assert float(first["std_align"]) == pytest.approx(
        float(source[first["original_name"]]["std_align"])
    )
    # The training library reads the release as it is.
    from benchmark.training.manifest import load_manifest

    manifest = load_manifest(release.mos_file.path, ["mos_quality", "mos_align"])
    assert len(manifest) == 300


def test_pku_i2iqa_labels_with_user_images(tmp_path, shared_data):
    source = (shared_data / "pku-i2iqa-mos" / "mos.csv").read_text().splitlines()
    subset = [source[0], *source[1:5], *source[801:803]]
    (tmp_path / "mos.csv").write_text("\n".join(subset) + "\n")
    for i, line in enumerate(subset[1:]):
        name = Path(next(csv.reader([line]))[0]).name
        write_image(tmp_path / name, colour=(i * 30, 10, 10))
    result = external_import(layout="pku-i2iqa", source=tmp_path, name="PKU subset")
    assert result.created == 6
    assert set(result.study.stimuli.values_list("generator", flat=True)) == {"MJ", "SD"}
    rows = release_rows(result.release)
    assert {"mos_quality", "mos_authenticity", "mos_correspondence"} <= set(rows[0])
    assert rows[0]["prompt_group"] == "000"


def test_aigiqa20k_headerless_info_csv(tmp_path):
    (tmp_path / "info_train.csv").write_text(
        'DALLE2_0000.png,"a cat",3.5\nSD15_0001.png,"a cat",2.25\nSD15_0002.png,"a dog",4\n'
    )
    for i, name in enumerate(["DALLE2_0000.png", "SD15_0001.png", "SD15_0002.png"]):
        write_image(tmp_path / name, fmt="PNG", colour=(i * 50, 5, 5))
    result = external_import(layout="aigiqa20k", source=tmp_path, name="20k")
    rows = release_rows(result.release)
    assert [r["mos_quality"] for r in rows] == ["3.5", "2.25", "4.0"]
    assert rows[0]["prompt_group"] == rows[1]["prompt_group"] != rows[2]["prompt_group"]
    assert rows[0]["generator"] == "DALLE2"


def test_aigciqa2023_csv_layout(tmp_path):
    (tmp_path / "mos.csv").write_text(
        "name,prompt,generator,mos_quality,mos_authenticity,mos_correspondence,std_quality\n"
        "0.png,a boat,Glide,40,50,60,3\n1.png,a boat,Lafite,70,65,80,4\n"
    )
    write_image(tmp_path / "images" / "0.png", fmt="PNG")
    write_image(tmp_path / "images" / "1.png", fmt="PNG", colour=(1, 1, 1))
    result = external_import(layout="aigciqa2023", source=tmp_path, name="2023")
    rows = release_rows(result.release)
    assert rows[1]["generator"] == "Lafite" and rows[1]["std_quality"] == "4.0"
    assert "std_authenticity" not in rows[0]


def test_missing_images_and_bad_mos_reject_everything(tmp_path):
    (tmp_path / "info_a.csv").write_text(
        "name,prompt,mos\nA_1.png,x,3\nA_2.png,y,abc\nA_3.png,z,2\n"
    )
    write_image(tmp_path / "A_1.png", fmt="PNG")
    before_db, before_media = db_counts(), media_files()
    with pytest.raises(ImportRejected) as info:
        external_import(layout="aigiqa20k", source=tmp_path, name="broken")
    assert [p.row for p in info.value.problems] == [2]
    assert "not a number" in info.value.problems[0].message
    (tmp_path / "info_a.csv").write_text("name,prompt,mos\nA_1.png,x,3\nA_3.png,z,2\n")
    with pytest.raises(ImportRejected) as info:
        external_import(layout="aigiqa20k", source=tmp_path, name="broken")
    assert info.value.problems[0].row == 2 and "not found" in info.value.problems[0].message
    assert db_counts() == before_db and media_files() == before_media


def test_unknown_layout():
    with pytest.raises(ImportRejected, match="unknown layout"):
        external_import(layout="nope", source=Path("."), name="x")


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_external_job_from_uploaded_zip(tmp_path, django_capture_on_commit_callbacks):
    archive = tmp_path / "db.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("db/info_test.csv", "name,prompt,mos\nG_1.png,p,1.5\n")
        z.write(write_image(tmp_path / "G_1.png", fmt="PNG", colour=(3, 4, 5)), "db/G_1.png")
    user = ResearcherFactory()
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            kind=ImportJob.Kind.EXTERNAL,
            created_by=user,
            options={"layout": "aigiqa20k", "name": "zipped", "archive": str(archive)},
        )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.error_report
    assert job.study.owner == user and job.result["created"] == 1
    assert Stimulus.objects.filter(study=job.study).count() == 1
