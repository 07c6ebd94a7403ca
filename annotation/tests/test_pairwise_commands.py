"""``manage.py study analyse|freeze|releases|export|progress`` on a pairwise study: its own
options (ratings-only flags refused in one line), choices and scaling in the output, and
the release's scores and choices files with their sha256."""

import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import AnalysisRun, LabelRelease, PairwiseChoice
from annotation.services.pair_exports import choices_csv_stream
from annotation.tests.factories import rated_study_create
from annotation.tests.pairwise_analysis_support import pairwise_study_with_choices

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

FAST = ("--bootstrap-resamples", "20")


@pytest.fixture
def study():
    """s04 answers at random, so the screening rejects it."""
    return pairwise_study_with_choices(subjects=10, repeats=2, behaviour={"s04": "random"}, seed=2)


def study_command(*args: str) -> str:
    out = io.StringIO()
    call_command("study", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_analyse_prints_choices_scaling_and_the_rejected_subject(study):
    hurried = PairwiseChoice.objects.filter(session__subject__label="s01").order_by("id")[:3]
    PairwiseChoice.objects.filter(pk__in=list(hurried.values_list("pk", flat=True))).update(
        response_time_ms=10, too_fast=True
    )
    text = study_command(
        "analyse", study.slug, *FAST, "--method", "bradley_terry", "--bt-alpha", "0.1"
    )
    run = AnalysisRun.objects.get(study=study)
    assert run.options["method"] == "bradley_terry" and run.options["bootstrap_resamples"] == 20
    summary = run.summary
    choices = PairwiseChoice.objects.filter(session__subject__study=study).count()
    first, *rest = text.splitlines()
    assert first == (
        f"{choices} choices, {summary['n_used_choices']} used; 8 stimuli scaled in 2 groups "
        "(bradley_terry, JOD); subjects: 9 kept, 1 rejected of 10"
    )
    rejected, note = rest
    assert rejected.startswith("  rejected s04 (match): changed preference on ")
    assert (
        note == "  note: 3 too-fast answer(s) left out (too_fast = 1) before screening and scaling"
    )
    kept = study_command("analyse", study.slug, *FAST, "--keep-rejected")
    assert "subjects: 10 kept, 0 rejected of 10" in kept
    assert kept.splitlines()[1].startswith("  rejected s04 (match): ")
    assert kept.splitlines()[1].endswith(" (kept: --keep-rejected)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--screening", "bt500"], r"^--screening: not an option of .*, a pairwise study; its "),
        (["--normalisation", "zscore"], r"^--normalisation: not an option of"),
        (["--repeat-policy", "mean", "--keep-unscreened"], r"^--repeat-policy, --keep-unscreened"),
        (["--bootstrap-resamples", "1"], r"bootstrap_resamples"),
        (["--options", '{"screening": []}'], r"Unknown analysis option\(s\) for a pairwise"),
    ],
)
def test_ratings_flags_and_bad_values_are_refused_in_one_line(study, args, message):
    for action in ("analyse", "freeze"):
        with pytest.raises(CommandError, match=message) as refused:
            study_command(action, study.slug, *args)
        assert "\n" not in str(refused.value)
        if message.startswith("^--"):  # a flag of ratings studies: the pairwise ones named
            assert "--method, --prior, --bt-alpha" in str(refused.value)
    assert not AnalysisRun.objects.exists() and not LabelRelease.objects.exists()


def test_a_ratings_study_refuses_the_pairwise_flags():
    rated = rated_study_create(subjects=3, stimuli=3)
    with pytest.raises(CommandError, match=r"^--method: not an option of .*, a ratings study"):
        study_command("analyse", rated.slug, "--method", "thurstone")
    assert "18 ratings" in study_command("analyse", rated.slug, "--confidence", "0.9")


def test_freeze_prints_counts_files_and_sha256_and_releases_lists_it(study, media):
    text = study_command("freeze", study.slug, *FAST, "--by", study.owner.username)
    release = LabelRelease.objects.get(study=study)
    counts, folder = release.counts, f"releases/{study.pk}/v1"
    lines = text.splitlines()
    assert lines[0] == (
        f"Froze {study.slug} v1 (pairwise, thurstone, JOD): 8 stimuli in 2 groups, "
        f"{counts['choices']} choices ({counts['choices_used']} used), 9 of 10 subjects kept."
    )
    assert lines[1].startswith("  rejected s04 (match): ")
    assert f"  {folder}/scores.csv sha256 {release.mos_sha256}" in lines
    assert f"  {folder}/choices.csv sha256 {release.raw_sha256}" in lines
    manifest = sha((media / folder / "manifest.csv").read_bytes())
    assert f"  {folder}/manifest.csv sha256 {manifest}" in lines
    assert sha((media / folder / "scores.csv").read_bytes()) == release.mos_sha256
    (listed,) = study_command("releases", study.slug).splitlines()
    assert listed.startswith("v1\tstudy\t") and listed.endswith(release.mos_sha256)
    assert (
        f"\t8 stimuli\tpairwise thurstone, {counts['choices_used']} of "
        f"{counts['choices']} choices used\t" in listed
    )


def test_export_offers_the_pairwise_release_files(study, tmp_path):
    release = LabelRelease.objects.get(pk=_frozen(study).pk)
    for what, digest in (("scores", release.mos_sha256), ("choices", release.raw_sha256)):
        out = tmp_path / f"{what}.csv"
        study_command("export", study.slug, "--what", what, "--out", str(out))
        assert sha(out.read_bytes()) == digest, what
    default, alias = tmp_path / "default.csv", tmp_path / "raw.csv"
    study_command("export", study.slug, "--out", str(default))
    study_command("export", study.slug, "--what", "raw", "--out", str(alias))
    assert sha(default.read_bytes()) == release.mos_sha256
    assert sha(alias.read_bytes()) == release.raw_sha256
    sidecar = tmp_path / "release.json"
    study_command("export", study.slug, "--what", "sidecar", "--out", str(sidecar))
    assert json.loads(sidecar.read_bytes())["files"]["choices"]["sha256"] == release.raw_sha256
    with pytest.raises(CommandError, match="pairwise release with the files scores, choices, "):
        study_command("export", study.slug, "--what", "manifest", "--out", str(alias))
    live = tmp_path / "live.csv"
    study_command("export", study.slug, "--live", "--out", str(live))
    assert live.read_bytes() == b"".join(choices_csv_stream(study=study))


def test_export_names_a_ratings_release_files_when_asked_for_scores(tmp_path):
    rated = rated_study_create(subjects=3, stimuli=3)
    study_command("freeze", rated.slug)
    with pytest.raises(CommandError, match=r"is a release with the files mos, raw, sidecar\.$"):
        study_command("export", rated.slug, "--what", "scores", "--out", str(tmp_path / "x"))


def _frozen(study) -> LabelRelease:
    study_command("freeze", study.slug, *FAST)
    return LabelRelease.objects.get(study=study)


def test_progress_of_a_pairwise_study_speaks_of_comparisons_and_choices(study):
    study.target_ratings_per_stimulus = 1000
    study.save(update_fields=["target_ratings_per_stimulus"])
    text = study_command("progress", study.slug)
    normal = PairwiseChoice.objects.filter(session__subject__study=study).count()
    assert text.startswith("0/8 images compared in at least 1000 answered pairs; ")
    assert f"comparisons missing; choices: {normal} (plus 0 training and 0 gold pairs" in text
    assert "ratings" not in text
