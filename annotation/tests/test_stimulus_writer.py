"""One stimulus writer: a single image from the demo or load test is stored as an import
stores it (same folders and names, a thumbnail, its size), and a failure leaves no file."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from annotation.imports.images import thumbnail_name
from annotation.models import Stimulus, reference_upload_to, stimulus_upload_to
from annotation.services.imports import stimuli_import
from annotation.services.stimuli import stimulus_create_from_path
from annotation.tests.factories import StudyFactory
from annotation.tests.research_support import media_files, write_image, write_manifest

# Each test its own media root: the names checked here would otherwise meet files that
# earlier tests stored under the same study id (SQLite reuses ids after a rollback).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def test_one_image_is_stored_as_an_import_stores_it(tmp_path):
    write_image(tmp_path / "a.jpg")
    write_image(tmp_path / "ref.png", fmt="PNG", colour=(9, 9, 9))
    single, imported = StudyFactory(), StudyFactory()
    made = stimulus_create_from_path(
        study=single,
        image_path=tmp_path / "a.jpg",
        reference_path=tmp_path / "ref.png",
        role=Stimulus.Role.TRAINING,
        expected_scores={"quality": 50},
    )
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "a.jpg", "reference": "ref.png"}])
    stimuli_import(study=imported, manifest=manifest)
    other = Stimulus.objects.get(study=imported)
    made.refresh_from_db()
    name = f"{made.sha256[:16]}.jpg"
    assert made.image.name == stimulus_upload_to(made, name)
    assert other.image.name == stimulus_upload_to(other, name)
    assert made.reference_image.name.startswith(reference_upload_to(made, ""))
    assert (made.width, made.height, made.file_size) == (other.width, other.height, other.file_size)
    assert made.role == Stimulus.Role.TRAINING and made.expected_scores == {"quality": 50}
    assert default_storage.exists(thumbnail_name(made.sha256))


def test_a_bad_or_repeated_image_is_refused_and_writes_nothing(tmp_path):
    study = StudyFactory()
    write_image(tmp_path / "a.jpg")
    stimulus_create_from_path(study=study, image_path=tmp_path / "a.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    before = media_files()
    with pytest.raises(ValidationError, match="already in this study"):
        stimulus_create_from_path(study=study, image_path=tmp_path / "a.jpg")
    with pytest.raises(ValidationError, match="broken.jpg: not an image"):
        stimulus_create_from_path(study=study, image_path=tmp_path / "broken.jpg")
    assert media_files() == before and study.stimuli.count() == 1
