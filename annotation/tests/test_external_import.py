"""Published databases become a closed study plus an external label release."""

import csv
import hashlib
import html
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
from benchmark.training.synthetic import make_published_database

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


# --- each database as its authors publish it ---------------------------------------------


def imported(layout: str, db, **kwargs):
    return external_import(layout=layout, source=db.root, name=f"{layout} {db.root.name}", **kwargs)


def assert_published_mos(result, db, keys: list[str]) -> list[dict]:
    """Every labelled image of the database has its published MOS in the release."""
    rows = release_rows(result.release)
    assert len(rows) == len(db.mos)
    for row in rows:
        published = db.mos[row["original_name"]]
        for key in keys:
            assert float(row[f"mos_{key}"]) == published[key], (row["original_name"], key)
    return rows


def stored_stimulus_files(study) -> set[str]:
    return {name for name in media_files() if name.startswith(f"studies/{study.pk}/stimuli/")}


def test_agiqa3k_duplicates_are_separate_stimuli_sharing_one_stored_file(tmp_path, settings):
    # A media folder of its own: on SQLite a rolled-back study's id (and folder) comes back.
    settings.MEDIA_ROOT = str(tmp_path / "media")
    db = make_published_database("agiqa3k", tmp_path / "AGIQA-3K", count=12, duplicates=2)
    result = imported("agiqa3k", db)
    study = result.study
    assert result.created == 12 == study.stimuli.count()
    # Ten distinct contents, ten stored files: the two copies add no bytes on disk.
    assert len(stored_stimulus_files(study)) == 10
    copies = {s.original_name: s for s in study.stimuli.exclude(same_file_as=None)}
    assert set(copies) == set(db.duplicates)
    for name, copy in copies.items():
        original = copy.same_file_as
        assert original.original_name == db.duplicates[name]
        assert copy.image.name == original.image.name and copy.sha256 == original.sha256
    assert [d["image"] for d in result.duplicates] == list(db.duplicates)
    assert result.duplicates[0]["same_file_as"] == db.duplicates[result.duplicates[0]["image"]]
    # Each keeps its own published scores; the MOS CSV says which file it shares.
    rows = assert_published_mos(result, db, ["quality", "align"])
    by_name = {r["original_name"]: r for r in rows}
    for name, original in db.duplicates.items():
        assert by_name[name]["same_file_as"] == by_name[original]["stimulus_id"]
        assert by_name[name]["image"] == by_name[original]["image"]
    assert by_name[db.names[0]]["same_file_as"] == ""
    assert result.release.counts["same_file"] == 2
    assert result.release.method_config["same_file"] == list(result.duplicates)


def test_agiqa1k_reads_the_published_xlsx(tmp_path):
    db = make_published_database("agiqa1k", tmp_path / "AGIQA-1K", count=8)
    result = imported("agiqa1k", db)
    rows = assert_published_mos(result, db, ["quality"])
    assert {r["generator"] for r in rows} == {"deepai", "dreamStudio"}
    # The same object, place and style is the same prompt for both generators.
    assert rows[0]["prompt_group"] == "0_0_0_0" == rows[1]["prompt_group"]


def test_aigciqa2023_reads_the_mat_files_in_the_integer_order_of_the_image_names(tmp_path):
    db = make_published_database("aigciqa2023", tmp_path / "AIGCIQA2023", count=12)
    result = imported("aigciqa2023", db)
    rows = assert_published_mos(result, db, ["quality", "authenticity", "correspondence"])
    # 2.png before 10.png: MOSz row i belongs to image i.
    assert [r["original_name"] for r in rows] == [f"{i}.png" for i in range(12)]
    assert {r["generator"] for r in rows} == {"gen1"}  # from the index spreadsheet
    assert rows[5]["prompt"] == "prompt 1" and rows[5]["prompt_group"] == "1"
    assert float(rows[0]["std_quality"]) == 9.5


def test_aigiqa20k_xlsx_plus_headerless_csv_without_mos_imports_unlabelled_stimuli(tmp_path):
    db = make_published_database("aigiqa20k", tmp_path / "AIGIQA-20K", count=10, unlabelled=3)
    result = imported("aigiqa20k", db)
    assert result.created == 10 and result.unlabelled == 3
    rows = assert_published_mos(result, db, ["quality"])
    assert {r["original_name"] for r in rows} == set(db.mos)
    val = result.study.stimuli.filter(original_name__in=db.unlabelled)
    assert val.count() == 3 and {s.metadata["split"] for s in val} == {"val"}
    assert result.release.counts["unlabelled"] == 3


def test_pku_i2iqa_spreadsheet_and_folders_pair_prompt_images_as_references(tmp_path):
    db = make_published_database("pku-i2iqa", tmp_path / "PKU-I2IQA", count=16)
    result = imported("pku-i2iqa", db)
    rows = assert_published_mos(result, db, ["quality", "authenticity", "correspondence"])
    stimuli = list(result.study.stimuli.order_by("id"))
    assert all(s.is_image_to_image for s in stimuli)
    # Prompt 000's eight images share one stored prompt image; prompt 001's another.
    assert len({s.reference_image.name for s in stimuli}) == 2
    assert {r["generator"] for r in rows} == {"MJ", "SD"}
    assert rows[0]["reference"] and rows[0]["prompt_group"] == "000"


def test_pku_i2iqa_split_files_variant(tmp_path):
    db = make_published_database("pku-i2iqa", tmp_path / "PKU", count=16, variant="split")
    result = imported("pku-i2iqa", db)
    rows = assert_published_mos(result, db, ["quality", "authenticity", "correspondence"])
    assert rows[0]["prompt"] == "a prompt for image 0" and rows[0]["reference"]


@pytest.mark.parametrize(
    ("layout", "looked_for"),
    [
        ("agiqa3k", "data.csv"),
        ("agiqa1k", "AIGC_MOS_Zscore.xlsx"),
        ("pku-i2iqa", "annotation.xlsx"),
        ("aigciqa2023", "DATA/MOS/mosz1.mat"),
        ("aigiqa20k", "info_train.xlsx or info_train.csv"),
    ],
)
def test_a_folder_that_does_not_match_says_which_file_it_looked_for(tmp_path, layout, looked_for):
    write_image(tmp_path / "x.jpg")
    with pytest.raises(ImportRejected) as info:
        external_import(layout=layout, source=tmp_path, name="wrong")
    message = info.value.problems[0].message
    assert f"no {looked_for}" in message and str(tmp_path) in message
    assert not Study.objects.exists()


def test_the_imported_pku_study_trains_full_reference_models(tmp_path):
    """Round trip: published folder -> study -> release -> training manifest -> FR launch."""
    from benchmark.services import SweepSpec, sweep_plan
    from benchmark.training.manifest import load_manifest
    from published.readers import published_manifest

    db = make_published_database("pku-i2iqa", tmp_path / "PKU-I2IQA", count=48)
    result = imported("pku-i2iqa", db, owner=ResearcherFactory())
    columns = ["mos_quality", "mos_authenticity", "mos_correspondence"]
    manifest = load_manifest(result.release.mos_file.path, columns, need_reference=True)
    assert len(manifest) == 48
    # make-manifest reads the same folder into the same scores.
    direct = published_manifest("pku-i2iqa", db.root, tmp_path / "direct.csv")
    released = manifest.frame.set_index("original_name")
    for record in direct.to_dict("records"):
        name = Path(record["image"]).name
        assert float(released.loc[name, "mos_quality"]) == record["mos_quality"]
    plan = sweep_plan(
        spec=SweepSpec(
            release=result.release,
            models=("fr",),
            backbones=("resnet18",),
            score_columns=("mos_quality",),
            split={"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25},
            hyper={"epochs": 1, "batch_size": 4, "image_size": 32, "weights": "none"},
        )
    )
    assert [(run.model, run.backbone) for run in plan] == [("fr", "resnet18")]


# --- the researcher's own image sets: duplicates refused unless allowed ------------------


def duplicate_set(folder: Path) -> Path:
    from annotation.tests.research_support import write_manifest

    first = write_image(folder / "a.jpg", colour=(200, 10, 10))
    (folder / "b.jpg").write_bytes(first.read_bytes())
    write_image(folder / "c.jpg", colour=(10, 200, 10))
    return write_manifest(
        folder / "manifest.csv",
        [{"image": n, "generator": "G"} for n in ("a.jpg", "b.jpg", "c.jpg")],
    )


def test_a_manifest_with_byte_identical_images_is_refused_by_default(tmp_path):
    from annotation.services.imports import stimuli_import
    from annotation.tests.factories import StudyFactory

    study = StudyFactory()
    with pytest.raises(ImportRejected) as info:
        stimuli_import(study=study, manifest=duplicate_set(tmp_path))
    assert [str(p) for p in info.value.problems] == [
        "row 2 (b.jpg): same image content as row 1 (a.jpg)"
    ]
    assert not study.stimuli.exists()


def test_allowed_duplicates_share_one_stored_file_and_are_marked_in_the_stimuli_list(
    tmp_path, client, settings
):
    # A media folder of its own: on SQLite a rolled-back study's id (and folder) comes back.
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from django.urls import reverse

    from annotation.services.imports import stimuli_import
    from annotation.tests.factories import StudyFactory

    owner = ResearcherFactory()
    study = StudyFactory(owner=owner)
    result = stimuli_import(study=study, manifest=duplicate_set(tmp_path), allow_duplicates=True)
    assert result.created == 3
    assert result.duplicates == ({"row": 2, "image": "b.jpg", "same_file_as": "a.jpg"},)
    copy = study.stimuli.get(original_name="b.jpg")
    assert copy.same_file_as.original_name == "a.jpg"
    assert len(stored_stimulus_files(study)) == 2
    # A second import of the same image links to the stimulus already in the study.
    again = tmp_path / "again"
    write_image(again / "a2.jpg", colour=(200, 10, 10))
    from annotation.tests.research_support import write_manifest

    manifest = write_manifest(again / "manifest.csv", [{"image": "a2.jpg"}])
    stimuli_import(study=study, manifest=manifest, allow_duplicates=True)
    assert study.stimuli.get(original_name="a2.jpg").same_file_as == copy.same_file_as
    client.force_login(owner)
    page = client.get(reverse("research:stimulus_list", args=[study.pk])).content.decode()
    assert page.count("same file as a.jpg") == 2


def test_the_cli_lists_the_layouts_and_reports_shared_files(tmp_path):
    from django.core.management import call_command

    db = make_published_database("agiqa3k", tmp_path / "AGIQA-3K", count=6, duplicates=1)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "study", "import-external", "--layout", "agiqa3k", "--source", str(db.root),
        "--name", "cli", stdout=out, stderr=err,
    )  # fmt: skip
    name, original = next(iter(db.duplicates.items()))
    assert f"{name} same file as {original}" in out.getvalue()
    assert "writing: 6/6" in err.getvalue()


def test_the_api_lists_the_layouts_with_what_each_expects(client):
    from django.urls import reverse

    client.force_login(ResearcherFactory())
    response = client.get(reverse("api:external_import"))
    assert response.status_code == 200
    layouts = {item["key"]: item for item in response.json()}
    published = {"agiqa3k", "agiqa1k", "pku-i2iqa", "aigciqa2023", "aigiqa20k"}
    assert set(layouts) == published | {"dataset-package"}
    assert "release.json" in layouts["dataset-package"]["expects"]
    assert "AIGC_MOS_Zscore.xlsx" in layouts["agiqa1k"]["expects"]
    assert layouts["pku-i2iqa"]["dimensions"] == ["quality", "authenticity", "correspondence"]


def test_the_import_page_lists_the_layouts_with_what_each_expects(client):
    from django.urls import reverse

    from annotation.imports.external import LAYOUTS

    client.force_login(ResearcherFactory())
    page = client.get(reverse("research:external_import")).content.decode()
    for layout in LAYOUTS.values():
        assert html.escape(layout.expects) in page
