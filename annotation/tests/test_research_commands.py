"""`manage.py study ...`: the operator's way to design, import, invite, open and close."""

import io

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Study
from annotation.tests.factories import ResearcherFactory
from annotation.tests.research_support import db_counts, image_set, media_files, write_manifest

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("study", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_create_import_invite_open_close(tmp_path):
    owner = ResearcherFactory(username="alice")
    run(
        "create",
        "--name",
        "Fox",
        "--owner",
        "alice",
        "--dimensions",
        "quality:Quality:How good?",
        "--target",
        "5",
    )
    study = Study.objects.get(slug="fox")
    assert study.owner == owner and study.target_ratings_per_stimulus == 5
    assert "Imported 2 stimuli" in run("import", "fox", "--manifest", str(image_set(tmp_path, n=2)))
    lines = run("invite", "fox", "--count", "3", "--base-url", "https://x.org").splitlines()
    assert lines[0] == "label,link" and lines[1].startswith("S0001,https://x.org/s/")
    run("open", "fox")
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    run("close", "fox")
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED
    assert "0/2 stimuli at target 5" in run("progress", "fox")


def test_rejected_import_names_rows_and_writes_nothing(tmp_path):
    run("create", "--name", "Fox")
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "a.jpg"}, {"image": "b.jpg"}])
    before = db_counts(), media_files()
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 problem"):
        call_command("study", "import", "fox", "--manifest", str(manifest), stderr=err)
    assert "row 1 (a.jpg)" in err.getvalue() and "row 2 (b.jpg)" in err.getvalue()
    assert (db_counts(), media_files()) == before


def test_unknown_study():
    with pytest.raises(CommandError, match="No study"):
        run("open", "nope")
