"""Concurrent freezes of one study on PostgreSQL: distinct versions, each with its own files."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from annotation.models import LabelRelease
from annotation.services.releases import release_freeze
from annotation.tests.factories import rated_study_create
from study_site.tests.helpers import postgres_required

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres(settings, tmp_path):
    postgres_required()
    settings.MEDIA_ROOT = tmp_path / "media"


def test_concurrent_freezes_get_consecutive_versions_and_their_own_files():
    study = rated_study_create(subjects=6, stimuli=5)

    def freeze(index: int) -> int:
        try:
            return release_freeze(study=study, options={"confidence": 0.9 + index / 100}).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(freeze, range(4)))
    releases = LabelRelease.objects.filter(pk__in=ids).order_by("version")
    assert [r.version for r in releases] == [1, 2, 3, 4]
    names = set()
    for release in releases:
        folder = f"releases/{study.pk}/v{release.version}/"
        assert release.mos_file.name == folder + "mos.csv", release.mos_file.name
        assert release.raw_file.name == folder + "raw.csv"
        data = Path(release.mos_file.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == release.mos_sha256
        names.add(release.mos_file.name)
    assert len(names) == 4
    # Different confidence levels: each file holds its own freeze's intervals.
    assert len({r.mos_sha256 for r in releases}) == 4
