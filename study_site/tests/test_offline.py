"""Nothing the site or the analysis report shows needs another host: labs are often offline.

Pages are rendered and every src/href/action/url() that names a host is collected; the API
docs are opened in Chromium, which records every request the page makes.
"""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import AdminFactory, rated_study_create
from annotation.tests.subject_support import display_check_pass
from benchmark.tests.factories import BenchmarkRunFactory
from study_site.tests.browser import BROWSER_MARKS, chromium_launch

# src="https://cdn..", href='//fonts..', action=http://.., url("https://..") (CSS).
ABSOLUTE = re.compile(
    r"""(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?|url\(\s*["']?)"""
    r"""((?:https?:)?//[^"'\s)>]+)""",
    re.IGNORECASE,
)
SITE = "testserver"


def foreign_references(html: str, own_host: str = SITE) -> list[str]:
    """Absolute URLs in attributes and CSS url() that point anywhere but ``own_host``."""
    return [url for url in ABSOLUTE.findall(html) if urlsplit(url).hostname != own_host]


def test_the_pattern_finds_what_a_cdn_link_looks_like():
    html = (
        '<script src="https://cdn.example.com/p.js"></script><link href=//fonts.example/x.css>'
        "<div style=\"background:url('http://img.example/a.png')\"></div>"
        '<a href="/studies/">own</a><a href="http://testserver/x">own, absolute</a>'
    )
    assert foreign_references(html) == [
        "https://cdn.example.com/p.js",
        "//fonts.example/x.css",
        "http://img.example/a.png",
    ]


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    study = rated_study_create(subjects=3, stimuli=4)
    run = BenchmarkRunFactory(status="succeeded")
    return study, run


def _staff_pages(study, run) -> list[str]:
    pk = study.pk
    stimulus = study.stimuli.first()
    return [
        reverse("home"),
        reverse("research:study_list"),
        reverse("research:study_new"),
        reverse("research:external_import"),
        reverse("research:study_detail", args=[pk]),
        reverse("research:study_edit", args=[pk]),
        reverse("research:stimulus_list", args=[pk]),
        reverse("research:study_import", args=[pk]),
        reverse("research:subject_list", args=[pk]),
        reverse("research:study_progress", args=[pk]),
        reverse("research:analysis", args=[pk]),
        reverse("research:release_list", args=[pk]),
        reverse("benchmark:sweep_list"),
        reverse("benchmark:sweep_new"),
        reverse("benchmark:sweep_detail", args=[run.sweep_id]),
        reverse("benchmark:run_detail", args=[run.pk]),
        reverse("benchmark:leaderboard", args=[run.release_id]),
        reverse("admin:index"),
        reverse("admin:annotation_study_changelist"),
        reverse("admin:annotation_study_change", args=[pk]),
        reverse("admin:annotation_stimulus_change", args=[stimulus.pk]),
        reverse("admin:annotation_rating_changelist"),
        reverse("admin:benchmark_benchmarkrun_changelist"),
        reverse("api-docs"),
    ]


@pytest.mark.django_db
def test_no_rendered_page_references_another_host(client, world):
    study, run = world
    checked = {}
    anonymous = Client()
    checked[reverse("login")] = anonymous.get(reverse("login"))
    _, token = subject_invite_create(study=study)
    subject = Client()
    checked["consent"] = subject.get(f"/s/{token}/consent/")
    subject.post(f"/s/{token}/consent/", {"decision": "accept"})
    checked["instructions"] = subject.get(f"/s/{token}/instructions/")
    display_check_pass(subject, token)
    checked["trial"] = subject.get(f"/s/{token}/trials/0/")
    client.force_login(AdminFactory())
    for url in _staff_pages(study, run):
        checked[url] = client.get(url)
    for name, response in checked.items():
        assert response.status_code == 200, name
        assert foreign_references(response.content.decode()) == [], name


@pytest.mark.django_db
def test_the_analysis_report_references_no_host(tmp_path):
    from analysis.pipeline import PipelineOptions, run_pipeline
    from analysis.report import write_report
    from analysis.synthetic import SimulationOptions, simulate_study

    study = simulate_study(SimulationOptions(n_stimuli=30, n_subjects=8, seed=1))
    write_report(run_pipeline(study.ratings, PipelineOptions()), tmp_path, title="offline")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script src" not in html
    # plotly.js itself is inlined; its minified code mentions hosts in strings it never loads.
    body = html.split("</script></head>", 1)[1]
    assert foreign_references(body, own_host="") == []


def browser_test(test):
    """This module mixes plain and browser tests: the browser marks go on each browser test."""
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


@browser_test
def test_api_docs_work_in_chromium_without_any_other_host(live_server):
    from django.db import connections
    from playwright.sync_api import sync_playwright

    client = Client()
    client.force_login(AdminFactory())
    own = urlsplit(live_server.url).netloc
    foreign, errors = [], []
    try:
        with sync_playwright() as playwright:
            browser = chromium_launch(playwright)
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            context.set_default_timeout(15_000)
            session = client.cookies["sessionid"].value
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])

            def record(route):
                if urlsplit(route.request.url).netloc not in (own, ""):
                    foreign.append(route.request.url)
                    return route.abort()
                return route.continue_()

            context.route("**/*", record)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{live_server.url}/api/docs/")
            page.wait_for_selector(".swagger-ui .opblock-tag")  # the schema loaded and drew
            assert page.locator(".swagger-ui .opblock").count() > 10
            assert "AIGC image-quality studies API" in page.inner_text(".swagger-ui .title")
            browser.close()
    finally:
        connections.close_all()
    assert foreign == [] and errors == []
