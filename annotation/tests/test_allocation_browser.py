"""The progress page of an adaptive study in headless Chromium: targets, half-widths, sessions."""

import numpy as np
import pytest
from django.utils import timezone

from annotation.models import Rating, Study
from annotation.tests.factories import (
    DimensionFactory,
    RatingSessionFactory,
    StimulusFactory,
    StudyFactory,
    SubjectFactory,
)
from study_site.tests.browser import BROWSER_MARKS, browser_page

pytestmark = BROWSER_MARKS


@pytest.fixture
def page():
    with browser_page() as page:
        yield page


def adaptive_study_half_rated() -> Study:
    """24 stimuli on two dimensions: 24 ratings each; the first twelve agree, the rest disagree."""
    study = StudyFactory(
        allocation=Study.Allocation.ADAPTIVE,
        allocation_targets={"quality": 6.0, "authenticity": 8.0},
        allocation_min_ratings=4,
        allocation_max_ratings=30,
        session_size=12,
    )
    dims = [
        DimensionFactory(study=study, key=k, order=i)
        for i, k in enumerate(["quality", "authenticity"])
    ]
    items = StimulusFactory.create_batch(24, study=study)
    rng = np.random.default_rng(7)
    rows = []
    for _ in range(24):
        session = RatingSessionFactory(
            subject=SubjectFactory(study=study), completed_at=timezone.now()
        )
        for trial, stimulus in enumerate(items):
            spread = 2.0 if trial < 12 else 35.0
            for dimension in dims:
                rows.append(
                    Rating(
                        session=session,
                        stimulus=stimulus,
                        dimension=dimension,
                        score=round(float(np.clip(50 + rng.normal(0, spread), 0, 100)), 1),
                        trial_index=trial,
                    )
                )
    Rating.objects.bulk_create(rows)
    return study


def test_progress_page_shows_stimuli_at_target_and_the_half_widths(
    live_server, page, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    study = adaptive_study_half_rated()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", study.owner.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/studies/{study.pk}/progress/")
    page.wait_for_selector("#allocation-dimensions tbody tr")
    page.wait_for_selector("#fig-halfwidths .main-svg")
    rows = page.eval_on_selector_all(
        "#allocation-dimensions tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))",
    )
    assert [row[:3] for row in rows] == [
        ["quality", "6", "12 of 24"],
        ["authenticity", "8", "12 of 24"],
    ]
    assert page.text_content('[data-field="allocation.stimuli_at_every_target"]') == "12"
    assert int(page.text_content('[data-field="allocation.sessions_needed"]')) >= 1
    page.screenshot(path=str(tmp_path / "progress.png"), full_page=True)
