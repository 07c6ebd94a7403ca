"""Releases of pairwise studies: choices and scores CSVs, hashes, reproducibility, downloads,
versions, restore checks, and a benchmark retrain on the scaled scores."""

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import LabelRelease, PairwiseChoice, Study
from annotation.services import release_formats
from annotation.services.analysis_options import pairwise_run
from annotation.services.analysis_runs import release_freeze_request
from annotation.services.pair_exports import CHOICE_COLUMNS, choices_csv_stream
from annotation.services.release_pairwise import frozen_choices_frame
from annotation.services.releases import release_download_open, release_freeze
from annotation.tests.pairwise_analysis_support import pairwise_study_with_choices
from annotation.tests.test_releases import rated_study_create
from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.services import run_execute
from benchmark.tests.factories import tiny_form
from ops.services.stored_files import stored_files_mismatched, stored_files_read

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

OPTIONS = {"bootstrap_resamples": 20}


@pytest.fixture
def study():
    return pairwise_study_with_choices(groups=4, per_group=4, subjects=6, dimensions=("match",))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_freeze_writes_choices_and_scores_with_their_sha256(study, media):
    live = b"".join(choices_csv_stream(study=study))
    release = release_freeze(study=study, options=OPTIONS)
    folder = f"releases/{study.pk}/v1"
    assert release.mos_file.name == f"{folder}/scores.csv"
    assert release.raw_file.name == f"{folder}/choices.csv"
    choices = (media / release.raw_file.name).read_bytes()
    scores = (media / release.mos_file.name).read_bytes()
    assert choices == live  # the live export's columns and rows, frozen
    assert (sha(choices), sha(scores)) == (release.raw_sha256, release.mos_sha256)
    assert next(csv.reader(io.StringIO(choices.decode()))) == list(CHOICE_COLUMNS)

    rows = read_csv(media / release.mos_file.name)
    assert list(rows[0]) == list(release_formats.SCORE_COLUMNS)
    assert len(rows) == 16 and {r["group"] for r in rows} == {"p0", "p1", "p2", "p3"}
    assert all(float(r["ci_low"]) < float(r["ci_high"]) and float(r["se"]) > 0 for r in rows)
    stimulus = study.stimuli.get(pk=int(rows[0]["stimulus_id"]))
    assert rows[0]["name"] == stimulus.original_name and rows[0]["prompt"] == stimulus.prompt
    assert (media / folder / rows[0]["image"]).resolve() == Path(stimulus.image.path).resolve()

    sidecar = json.loads((media / folder / "release.json").read_bytes())
    assert sidecar["files"]["scores"]["sha256"] == release.mos_sha256
    assert sidecar["files"]["choices"]["sha256"] == release.raw_sha256
    manifest = (media / folder / "manifest.csv").read_bytes()
    assert sidecar["files"]["manifest"]["sha256"] == sha(manifest)
    assert set(sidecar["columns"]) == {"scores", "choices"}
    config = release.method_config
    assert config["kind"] == "pairwise" and config["unit"] == "JOD"
    assert config["pairwise"]["grouping"] == study.pairwise_grouping
    assert config["pairwise"]["design"] == study.pairwise_design
    assert config["pipeline_options"]["bootstrap"]["n_resamples"] == 20
    assert config["library"]["version"]
    assert release.counts["choices"] == PairwiseChoice.objects.count()


def test_the_frozen_choices_reproduce_the_frozen_scores(study, media):
    release = release_freeze(study=study, options=OPTIONS)
    again = pairwise_run(
        options=release.method_config["options"],
        choices_frame=frozen_choices_frame(media / release.raw_file.name),
    )
    stored = pd.read_csv(media / release.mos_file.name)
    merged = stored.merge(
        again.scores.astype({"stimulus": int}),
        left_on=["dimension", "group", "stimulus_id"],
        right_on=["dimension", "group", "stimulus"],
        suffixes=("", "_again"),
    )
    assert len(merged) == len(stored)
    assert merged["score"].to_numpy() == pytest.approx(merged["score_again"].to_numpy())


def test_later_choices_never_change_a_release_and_a_second_freeze_is_v2(study, media):
    first = release_freeze(study=study, options=OPTIONS)
    before = (media / first.mos_file.name).read_bytes()
    last = PairwiseChoice.objects.order_by("-id").first()
    last.pk, last.trial_index = None, 999
    last.save()
    second = release_freeze(study=study, options=OPTIONS)
    assert second.version == 2 and (media / first.mos_file.name).read_bytes() == before
    assert second.counts["choices"] == first.counts["choices"] + 1
    with connection.cursor() as cursor:
        files = stored_files_read(cursor, {LabelRelease._meta.db_table})
    assert len(files) == 4 and stored_files_mismatched(files, media) == []
    (media / first.raw_file.name).write_bytes(b"tampered\n")
    assert stored_files_mismatched(files, media) == [
        f"study {study.pk} release v1 raw CSV ({first.raw_file.name}) differs from its stored "
        "sha256"
    ]


def test_a_study_without_choices_is_refused_and_nothing_is_written(media):
    from annotation.tests.pairwise_support import pairwise_study_create

    empty = pairwise_study_create()
    with pytest.raises(ValidationError, match="no pairwise choices"):
        release_freeze_request(study=empty, options=None)
    with pytest.raises(ValidationError, match="Unknown analysis option"):
        release_freeze(study=empty, options={"screening": ["bt500"]})
    assert not LabelRelease.objects.exists()
    assert not list(media.glob("releases/*/v*/*"))


def test_downloads_of_page_and_api_match_the_stored_sha256(study):
    release_freeze_request(study=study, options=OPTIONS, created_by=study.owner)
    release = study.releases.get()
    client = Client()
    client.force_login(study.owner)
    for what, digest in {"scores": release.mos_sha256, "choices": release.raw_sha256}.items():
        response = client.get(
            reverse("research:release_download", args=[study.pk, release.version, what])
        )
        assert response.status_code == 200
        assert f"-v1-{what}.csv" in response["Content-Disposition"]
        assert sha(b"".join(response.streaming_content)) == digest
    page = client.get(reverse("research:release_list", args=[study.pk])).content.decode()
    assert "scores" in page and "choices" in page
    download = release_download_open(release=release, what="mos")
    assert download.filename.endswith("-v1-scores.csv")


def test_ratings_releases_are_unchanged():
    release = release_freeze(study=rated_study_create(subjects=5, stimuli=4), options=None)
    assert release.mos_file.name.endswith("/mos.csv") and "kind" not in release.method_config
    assert "derived_files" not in release.method_config


def test_a_sweep_launched_on_a_pairwise_release_trains_on_the_scaled_scores(
    admin_client, django_capture_on_commit_callbacks, media
):
    release = release_freeze(study=pairwise_study_with_choices(groups=4, per_group=4), options={})
    form = tiny_form(release, score_columns="mos_match")
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(reverse("benchmark:sweep_new"), form)
    assert response.status_code == 302, response.context["form"].errors
    sweep = BenchmarkSweep.objects.get()
    assert sweep.parameters["score_units"] == "JOD"
    run = sweep.runs.get()
    assert run_execute(run_id=run.pk, hostname="w1") == "succeeded"
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.SUCCEEDED
    assert set(run.metrics["test"]) >= {"mos_match"}
    manifest = read_csv(media / release_formats.release_folder(release) / "manifest.csv")
    scores = {
        int(r["stimulus_id"]): float(r["score"]) for r in read_csv(media / release.mos_file.name)
    }
    assert {int(r["stimulus_id"]): float(r["mos_match"]) for r in manifest} == scores


def test_the_api_designs_a_pairwise_study_with_the_forms_checks():
    from annotation.tests.factories import ResearcherFactory

    api = APIClient()
    api.force_login(ResearcherFactory())
    body = {
        "name": "Pairs",
        "scale_type": "pairwise",
        "pairwise_grouping": "column",
        "pairwise_group_column": "scene",
        "pairwise_design": "full",
        "pairwise_no_preference": True,
        "dimensions": [{"key": "match", "label": "Match", "question": "Which matches?"}],
    }
    created = api.post(reverse("api:study_create"), body, format="json")
    assert created.status_code == 201, created.json()
    study = created.json()
    assert (study["scale_type"], study["pairwise_grouping"], study["pairwise_design"]) == (
        "pairwise",
        "column",
        "full",
    )
    assert study["pairwise_group_column"] == "scene" and study["pairwise_no_preference"]
    update = reverse("api:study_update", args=[study["id"]])
    blank = api.post(update, {"pairwise_group_column": ""}, format="json")
    assert blank.status_code == 400 and "needs the column's name" in str(blank.json())
    unknown = api.post(update, {"pairwise_design": "greedy"}, format="json")
    assert unknown.status_code == 400 and "pairwise_design" in unknown.json()
    adaptive = api.post(
        update, {"allocation": "adaptive", "allocation_targets": {"match": 0.5}}, format="json"
    )
    assert adaptive.status_code == 400 and "set allocation to balanced" in str(adaptive.json())


def test_the_api_pages_the_choices_and_lists_a_pairwise_releases_files(study):
    api = APIClient()
    api.force_login(study.owner)
    url = reverse("api:choice_list", args=[study.pk])
    first = api.get(url, {"page_size": 5}).json()
    assert first["count"] == PairwiseChoice.objects.count() and len(first["results"]) == 5
    live = list(csv.DictReader(io.StringIO(b"".join(choices_csv_stream(study=study)).decode())))
    row = first["results"][0]
    assert list(row) == list(CHOICE_COLUMNS)
    assert {k: str(v) for k, v in row.items() if k != "time"} == {
        k: v for k, v in live[0].items() if k != "time"
    }
    assert row["time"] == pytest.approx(float(live[0]["time"]))

    frozen = api.post(reverse("api:release_freeze", args=[study.pk]), OPTIONS, format="json")
    assert frozen.status_code == 201, frozen.json()
    release = study.releases.get()
    assert release.method_config["options"]["bootstrap_resamples"] == 20
    detail = api.get(reverse("api:release_detail", args=[study.pk, release.version])).json()
    assert set(detail["files"]) == {"scores", "choices", "sidecar"}
    for what, digest in {"scores": release.mos_sha256, "choices": release.raw_sha256}.items():
        response = api.get(detail["files"][what], HTTP_ACCEPT="text/csv")
        assert sha(b"".join(response.streaming_content)) == digest


def test_a_pairwise_package_carries_pseudonymous_choices_scores_datasheet_and_croissant(
    study, tmp_path
):
    from annotation.services.release_package import release_package_request

    release = release_freeze(study=study, options=OPTIONS)
    packaged = release_package_request(release=release, licence="CC-BY-4.0", inline=True)
    assert packaged.package_status == LabelRelease.PackageStatus.DONE, packaged.package_error
    with zipfile.ZipFile(packaged.package_file.path) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / f"{study.slug}-v1"
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"scores.csv", "choices.csv", "subjects.csv", "README.md", "croissant.json"} <= names
    assert not names & {"mos.csv", "ratings.csv"}
    assert sha((folder / "SHA256SUMS").read_bytes()) and all(
        sha((folder / name).read_bytes()) == digest
        for digest, name in (
            line.split("  ") for line in (folder / "SHA256SUMS").read_text().splitlines()
        )
    )
    frozen = read_csv(Path(release.raw_file.path))
    choices = read_csv(folder / "choices.csv")
    assert list(choices[0]) == list(CHOICE_COLUMNS) and len(choices) == len(frozen)
    pseudonym = {row["subject"]: p["subject"] for row, p in zip(frozen, choices, strict=True)}
    assert len(set(pseudonym.values())) == len(pseudonym) and not set(pseudonym) & set(
        pseudonym.values()
    )
    unchanged = [c for c in CHOICE_COLUMNS if c != "subject"]
    assert [[r[c] for c in unchanged] for r in choices] == [
        [r[c] for c in unchanged] for r in frozen
    ]
    subjects = read_csv(folder / "subjects.csv")
    assert {r["subject"] for r in subjects} == set(pseudonym.values())
    assert sum(int(r["choices"]) for r in subjects) == len(choices)
    stored_scores = read_csv(Path(release.mos_file.path))
    scores = read_csv(folder / "scores.csv")
    assert [(r["stimulus_id"], r["group"], r["score"], r["se"]) for r in scores] == [
        (r["stimulus_id"], r["group"], r["score"], r["se"]) for r in stored_scores
    ]
    assert all((folder / r["image"]).is_file() for r in scores)
    # The package's choices reproduce its scores with the release's options.
    result = pairwise_run(
        options=release.method_config["options"],
        choices_frame=frozen_choices_frame(folder / "choices.csv"),
    )
    by_cell = {(r.dimension, r.group, str(r.stimulus)): r.score for r in result.scores.itertuples()}
    for row in scores:
        cell = (row["dimension"], row["group"], row["stimulus_id"])
        assert by_cell[cell] == pytest.approx(float(row["score"]), abs=1e-9)
    _assert_pairwise_datasheet(folder, release, pseudonym)


def _assert_pairwise_datasheet(folder: Path, release, pseudonym: dict) -> None:
    """README, croissant.json and release.json of a pairwise package state its method."""
    readme = (folder / "README.md").read_text()
    design = release.method_config["pairwise"]
    for fact in (
        "two-alternative forced choice (2AFC)",
        f"Pair design: {design['design']}",
        f"Scaling method: {design['scaling']}; unit JOD",
        f"{release.counts['subjects']} subjects made {release.counts['choices']} choices",
        f"{release.counts['groups']} (dimension, group)",
        "`scores.csv`",
        "changes preference on more than 0.4 of swapped repeats, has more than 0.15 circular "
        "triads, or whose likelihood lies more than 1.5 IQRs below Q1; rejected subjects are "
        "left out of the scaling",
        "Answers flagged too fast: left out.",
    ):
        assert fact in readme
    assert "mos.csv" not in readme and "ratings.csv" not in readme
    croissant = json.loads((folder / "croissant.json").read_text())
    record_sets = {
        r["name"]: {f["name"]: f["dataType"] for f in r["field"]} for r in croissant["recordSet"]
    }
    assert record_sets["choices"] == {
        **dict.fromkeys(CHOICE_COLUMNS, "sc:Text"),
        **dict.fromkeys(("left", "right", "trial", "repeat"), "sc:Integer"),
        "time": "sc:Float",
    }
    assert record_sets["scores"]["score"] == record_sets["scores"]["se"] == "sc:Float"
    assert record_sets["scores"]["comparisons"] == "sc:Integer"
    sidecar = json.loads((folder / "release.json").read_text())
    assert sidecar["study"]["pairwise"] == design
    assert not set(pseudonym) & set((folder / "release.json").read_text().split('"'))


def _unpacked_package(study, tmp_path) -> tuple[LabelRelease, Path]:
    from annotation.services.release_package import release_package_request

    release = release_freeze(study=study, options=OPTIONS)
    packaged = release_package_request(release=release, inline=True)
    assert packaged.package_status == LabelRelease.PackageStatus.DONE, packaged.package_error
    with zipfile.ZipFile(packaged.package_file.path) as archive:
        archive.extractall(tmp_path)
    return release, tmp_path / f"{study.slug}-v1"


def test_a_pairwise_package_imports_back_to_the_same_choices_and_scores(study, tmp_path):
    from annotation.services.imports import external_import

    release, folder = _unpacked_package(study, tmp_path)
    imported = external_import(layout="dataset-package", source=folder, name="Again").study
    fields = ("scale_type", "pairwise_design", "pairwise_grouping", "pairwise_group_column")
    fields += ("pairwise_no_preference",)
    assert [getattr(imported, f) for f in fields] == [getattr(study, f) for f in fields]
    assert (
        imported.scale_type == "pairwise"
        and not LabelRelease.objects.filter(study=imported).exists()
    )
    assert list(imported.dimensions.values_list("key", "question")) == list(
        study.dimensions.values_list("key", "question")
    )
    # The import inserts the images in scores.csv's order: the n-th new id is its n-th id.
    packaged_ids = list(dict.fromkeys(r["stimulus_id"] for r in read_csv(folder / "scores.csv")))
    new = list(imported.stimuli.order_by("id").values_list("id", "prompt_group", "prompt"))
    old = {
        str(pk): (g, p) for pk, g, p in study.stimuli.values_list("id", "prompt_group", "prompt")
    }
    assert [(g, p) for _, g, p in new] == [old[pk] for pk in packaged_ids]
    old_of_new = {str(pk): packaged for (pk, _, _), packaged in zip(new, packaged_ids, strict=True)}
    packaged = read_csv(folder / "choices.csv")
    again = list(csv.DictReader(io.StringIO(b"".join(choices_csv_stream(study=imported)).decode())))
    for row in again:
        row["left"], row["right"] = old_of_new[row["left"]], old_of_new[row["right"]]
    assert again == packaged  # the same choices, under the package's pseudonyms
    frozen = release_freeze(study=imported, options=OPTIONS)
    before = {
        (r["dimension"], r["group"], r["stimulus_id"]): r
        for r in read_csv(Path(release.mos_file.path))
    }
    after = read_csv(Path(frozen.mos_file.path))
    assert len(after) == len(before)
    # The bootstrap draws subjects by what they answered, not by their labels: the same
    # se and intervals as the original release, under pseudonyms and new stimulus ids.
    for row in after:
        cell = (row["dimension"], row["group"], old_of_new[row["stimulus_id"]])
        for column in ("score", "wins", "se", "ci_low", "ci_high"):
            assert float(row[column]) == pytest.approx(float(before[cell][column]), abs=1e-9)
    assert frozen.counts == release.counts


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda rows: rows[3].update(left="999999"),
            "row 4 (choices.csv): left names stimulus '999999', which is not in scores.csv",
        ),
        (
            lambda rows: rows[0].update(choice="maybe"),
            "row 1 (choices.csv): choice 'maybe' is not left, right or none",
        ),
        (
            lambda rows: [row.pop("side") for row in rows],
            "file (choices.csv): lacks column(s) side",
        ),
    ],
    ids=["unknown-stimulus", "bad-choice", "missing-column"],
)
def test_a_bad_pairwise_package_is_refused_in_one_line_and_stores_nothing(
    study, tmp_path, media, edit, message
):
    from annotation.imports.errors import ImportRejected
    from annotation.models import Stimulus
    from annotation.services.imports import external_import

    _, folder = _unpacked_package(study, tmp_path)
    rows = read_csv(folder / "choices.csv")
    edit(rows)
    frame = pd.DataFrame(rows)
    frame.to_csv(folder / "choices.csv", index=False)
    before = (Study.objects.count(), Stimulus.objects.count(), PairwiseChoice.objects.count())
    media_before = sorted(p for p in media.rglob("*") if p.is_file())
    with pytest.raises(ImportRejected) as refused:
        external_import(layout="dataset-package", source=folder, name="Again")
    assert refused.value.messages == [message]
    after = (Study.objects.count(), Stimulus.objects.count(), PairwiseChoice.objects.count())
    assert after == before
    assert sorted(p for p in media.rglob("*") if p.is_file()) == media_before


def test_the_import_command_says_what_a_pairwise_package_became(study, tmp_path):
    from django.core.management import call_command

    _, folder = _unpacked_package(study, tmp_path)
    out = io.StringIO()
    call_command(
        "study", "import-external", layout="dataset-package", source=folder, name="Cmd", stdout=out
    )
    imported = Study.objects.get(slug="cmd")
    choices = PairwiseChoice.objects.filter(session__subject__study=imported).count()
    assert choices == len(read_csv(folder / "choices.csv"))
    assert out.getvalue().strip() == (
        f"Created study cmd (id {imported.pk}) with {imported.stimuli.count()} stimuli and "
        f"{choices} pairwise choices; freeze a release to scale them."
    )


def test_mlcroissant_reads_the_choices_and_scores_of_a_pairwise_package(study, tmp_path):
    mlc = pytest.importorskip("mlcroissant")
    _, folder = _unpacked_package(study, tmp_path)
    dataset = mlc.Dataset(jsonld=folder / "croissant.json")
    choices = list(dataset.records(record_set="choices"))
    packaged = read_csv(folder / "choices.csv")
    assert len(choices) == len(packaged)
    assert [(r["choices/left"], r["choices/choice"]) for r in choices[:5]] == [
        (int(p["left"]), p["choice"].encode()) for p in packaged[:5]
    ]
    scores = list(dataset.records(record_set="scores"))
    frozen = read_csv(folder / "scores.csv")
    assert [r["scores/score"] for r in scores] == pytest.approx(
        [float(r["score"]) for r in frozen], rel=1e-12
    )
