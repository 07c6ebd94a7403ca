"""A platform worth backing up, a second database to restore it into, and the site as a
user sees it (downloads, pages, where a subject resumes), read by a separate process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.db.utils import load_backend
from django.urls import reverse

from annotation.models import LabelRelease
from annotation.services.release_package import release_package_request
from annotation.services.releases import release_freeze
from annotation.services.sessions import subject_consent_accept, trial_submit
from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import (
    DimensionFactory,
    StimulusFactory,
    StudyFactory,
    rated_study_create,
)
from benchmark.models import BenchmarkRun
from benchmark.tests.factories import BenchmarkRunFactory, BenchmarkSweepFactory
from study_site.tests.helpers import run_python

RESTORED = "restored"


@dataclass
class Platform:
    """What a user of the backed-up site asks for, and what they should get."""

    admin: str
    pages: list[str]  # researcher and benchmark pages, release downloads, as an admin
    tokens: dict[str, int]  # invite token -> trial index the subject is at
    checkpoint: str  # MEDIA_ROOT-relative


def _release_frozen_and_packaged() -> LabelRelease:
    study = rated_study_create(stimuli=4, subjects=3)
    release = release_freeze(study=study)
    release = release_package_request(release=release, inline=True, licence="CC BY 4.0")
    assert release.package_status == LabelRelease.PackageStatus.DONE, release.package_error
    return release


def _study_mid_collection(owner) -> dict[str, int]:
    """An open study: one subject 3 trials in, one consented but not started, one invited."""
    study = StudyFactory(owner=owner, session_size=4, repeats_per_session=0, break_interval=0)
    for order, key in enumerate(("quality", "authenticity")):
        DimensionFactory(study=study, key=key, order=order)
    StimulusFactory.create_batch(4, study=study)
    tokens = {}
    for trials in (3, 0, None):
        subject, token = subject_invite_create(study=study)
        if trials is not None:
            playlist = subject_consent_accept(subject=subject).playlist
            for index, entry in enumerate(playlist[:trials]):
                trial_submit(
                    token=token,
                    trial_index=index,
                    stimulus_id=entry["stimulus"],
                    scores={"quality": 40.0 + index, "authenticity": 60.0},
                    response_time_ms=1500,
                )
        tokens[token] = trials
    return tokens


def _trained_run(release: LabelRelease) -> BenchmarkRun:
    """A finished run whose checkpoint is a small file (as a trained run leaves one)."""
    run = BenchmarkRunFactory(
        sweep=BenchmarkSweepFactory(release=release), status=BenchmarkRun.Status.SUCCEEDED
    )
    run.output_dir = f"benchmark/runs/{run.pk}/attempt-1"
    run.checkpoint_path = f"{run.output_dir}/split-0/checkpoint.pt"
    path = Path(settings.MEDIA_ROOT) / run.checkpoint_path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"checkpoint weights " * 100)
    run.save(update_fields=["output_dir", "checkpoint_path"])
    return run


def platform_build() -> Platform:
    release = _release_frozen_and_packaged()
    run = _trained_run(release)
    owner = release.study.owner
    tokens = _study_mid_collection(owner)
    study, version = release.study_id, release.version
    pages = [reverse("research:release_list", args=[study])]
    pages += [
        reverse("research:release_download", args=[study, version, what])
        for what in ("mos", "raw", "package")
    ]
    pages.append(reverse("benchmark:run_detail", args=[run.pk]))
    return Platform(run.sweep.created_by.username, pages, tokens, run.checkpoint_path)


@contextmanager
def database_alias(name: str) -> Iterator[str]:
    """A second connection, ``RESTORED``, like the default one but to database ``name``.

    Made here rather than in DATABASES, so that Django's test case treats it as a
    connection a test opened itself (and neither flushes nor forbids it)."""
    settings_dict = {**connections["default"].settings_dict, "NAME": name}
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, RESTORED)
    connections[RESTORED] = wrapper
    try:
        yield RESTORED
    finally:
        wrapper.close()
        del connections[RESTORED]


SITE_AS_USED = """
import hashlib, json, os
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
platform = json.loads(os.environ["PLATFORM"])
admin = Client()
admin.force_login(get_user_model().objects.get(username=platform["admin"]))
seen = {}
for url in platform["pages"]:
    response = admin.get(url)
    body = b"".join(response.streaming_content) if response.streaming else b""
    seen[url] = [response.status_code, hashlib.sha256(body).hexdigest() if body else ""]
for token in platform["tokens"]:
    response = Client().get(f"/s/{token}/")
    seen[token] = [response.status_code, response.get("Location", "")]
print(json.dumps(seen))
"""


def site_as_used(platform: Platform, *, database_url: str, media_root: Path, var: Path) -> dict:
    """Status and download sha256 of every page, where each subject's link leads: asked of
    the site running on ``database_url`` and ``media_root``, in a process of its own."""
    done = run_python(
        SITE_AS_USED,
        DATABASE_URL=database_url,
        MEDIA_ROOT=str(media_root),
        VAR_DIR=str(var),
        DEBUG="1",
        PLATFORM=json.dumps(asdict(platform)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
