"""The analysis page in headless Chromium: figures drawn, MOS table sorts and filters."""

import pytest

from annotation.tests.factories import rated_study_create
from study_site.tests.browser import BROWSER_MARKS, browser_page

pytestmark = BROWSER_MARKS


@pytest.fixture
def page():
    with browser_page(height=900) as page:
        yield page


def test_analysis_page_draws_figures_and_a_sortable_searchable_mos_table(
    live_server, page, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    study = rated_study_create(subjects=8, stimuli=12)
    owner = study.owner
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/studies/{study.pk}/analysis/")
    page.click("#analysis-options button[type=submit] >> nth=0")  # Analyse
    page.wait_for_selector("#figures .figure .main-svg")
    page.wait_for_function("() => document.querySelectorAll('#figures .figure').length >= 6")
    assert page.locator("#mos-table tbody tr").count() == 12
    assert "12 of 12 stimuli" in page.text_content("#mos-count")

    def column(index: int) -> list[str]:
        return page.eval_on_selector_all(
            "#mos-table tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent)"
        )

    page.click("#mos-table thead th:nth-child(4)")  # mos_quality, ascending
    ascending = [float(v) for v in column(3)]
    assert ascending == sorted(ascending)
    page.click("#mos-table thead th:nth-child(4)")  # again: descending
    assert [float(v) for v in column(3)] == sorted(ascending, reverse=True)
    first_id = study.stimuli.order_by("id").first().pk
    page.fill("#mos-search", str(first_id))
    assert str(first_id) in column(0)
    assert page.locator("#mos-table tbody tr").count() < 12
