"""What a reviewer checks first: a Content-Security-Policy on every page, sign-in
brute-force protection, throttled guessing of subject links, and the client address
behind trusted proxies. (Read-only API tokens: annotation/tests/test_api_tokens.py;
`check --deploy`: test_settings.py; the policy in a real browser: the browser tests,
which fail on any console error, a CSP violation included.)"""

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import AdminFactory, ResearcherFactory, rated_study_create
from core.http import client_ip
from study_site.env import cache_from_url

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def _pages(client: Client) -> list[str]:
    study = rated_study_create(subjects=2, stimuli=2)
    admin = AdminFactory()
    client.force_login(admin)
    _, token = subject_invite_create(study=study)
    return [
        reverse("login"),
        reverse("home"),
        reverse("research:study_list"),
        reverse("research:study_detail", args=[study.pk]),
        reverse("api_tokens"),
        reverse("api-docs"),
        "/admin/",
        f"/s/{token}/",
        f"/s/{token}/consent/",
        "/s/not-a-token/",
        "/healthz",
    ]


def test_every_page_carries_a_policy_without_inline_script_or_other_hosts(client):
    for url in _pages(client):
        response = client.get(url, follow=True)
        assert response.status_code in (200, 404), url
        policy = _policy(response)
        assert policy["default-src"] == ["'self'"], url
        assert policy["script-src"] == ["'self'"], url  # no inline script, no eval, no CDN
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        # Swagger UI's own <style> element is allowed on the staff-only API docs alone.
        inline_styles = "'unsafe-inline'" in policy["style-src-elem"]
        assert inline_styles == (url == reverse("api-docs")), url
        everything = " ".join(value for values in policy.values() for value in values)
        assert "http" not in everything and "*" not in everything, url


def test_no_page_template_holds_an_inline_script_or_event_handler():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offending = []
    for template in root.glob("*/templates/**/*.html"):
        text = template.read_text()
        for line_number, line in enumerate(text.splitlines(), 1):
            script_tag = "<script" in line and "src=" not in line and "application/json" not in line
            handler = any(f" on{event}=" in line for event in ("click", "load", "submit", "change"))
            if script_tag or handler or "javascript:" in line:
                offending.append(f"{template.relative_to(root)}:{line_number}")
    assert offending == []


def _sign_in(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_failed_sign_ins_pause_that_username_from_that_address():
    researcher = ResearcherFactory(username="ada")
    other = ResearcherFactory(username="grace")
    client = Client()
    for _ in range(2):
        assert _sign_in(client, "ada", "wrong").status_code == 200  # the form again
    locked = _sign_in(client, "ada", "wrong")
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    # Even the right password is refused while paused; nobody is signed in.
    assert _sign_in(client, "ada", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # Another username from the same address, and the same one from elsewhere, still work.
    assert _sign_in(Client(), "grace", PASSWORD).status_code == 302
    elsewhere = Client(REMOTE_ADDR="10.9.8.7")
    assert _sign_in(elsewhere, "ada", PASSWORD).status_code == 302
    assert researcher.pk != other.pk


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_successful_sign_in_resets_the_count():
    ResearcherFactory(username="ada")
    client = Client()
    for _ in range(2):
        _sign_in(client, "ada", "wrong")
    assert _sign_in(client, "ada", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        assert _sign_in(client, "ada", "wrong").status_code == 200
    assert _sign_in(client, "ada", PASSWORD).status_code == 302


@override_settings(INVITE_GUESS_LIMIT=5, INVITE_GUESS_WINDOW_S=600)
def test_guessing_subject_links_is_throttled_per_address():
    study = rated_study_create(subjects=1, stimuli=2)
    _, token = subject_invite_create(study=study)
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for attempt in range(5):
        assert guesser.get(f"/s/guess-{attempt}/").status_code == 404
    refused = guesser.get("/s/guess-6/")
    assert refused.status_code == 429 and refused["Retry-After"] == "600"
    assert "Too many invalid links" in refused.content.decode()
    # The guesser's address is paused on every subject URL, a real token included ...
    assert guesser.get(f"/s/{token}/").status_code == 429
    # ... while a real subject elsewhere and the research pages are untouched.
    assert Client(REMOTE_ADDR="198.51.100.4").get(f"/s/{token}/").status_code == 302
    assert guesser.get(reverse("login")).status_code == 200


@override_settings(INVITE_GUESS_LIMIT=3)
def test_a_subject_with_a_real_link_is_never_counted():
    study = rated_study_create(subjects=1, stimuli=2)
    _, token = subject_invite_create(study=study)
    subject = Client(REMOTE_ADDR="198.51.100.5")
    for _ in range(10):
        assert subject.get(f"/s/{token}/", follow=True).status_code == 200


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_the_client_address_is_the_one_the_trusted_proxy_saw():
    factory = RequestFactory()
    behind = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.7")
    assert client_ip(behind) == "192.0.2.7"  # the leftmost entry was the client's to forge
    direct = factory.get("/", REMOTE_ADDR="192.0.2.8")
    assert client_ip(direct) == "192.0.2.8"


def test_without_trusted_proxies_a_forwarded_header_is_ignored():
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_ip(request) == "192.0.2.9"


def test_cache_url_names_a_shared_or_a_local_cache():
    from django.core.exceptions import ImproperlyConfigured

    redis = cache_from_url("redis://127.0.0.1:6379/1")
    assert redis["BACKEND"].endswith("RedisCache") and redis["LOCATION"].endswith("/1")
    assert cache_from_url("locmem://")["BACKEND"].endswith("LocMemCache")
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL='memcached://x' is not supported"):
        cache_from_url("memcached://x")


def _nothing_listens() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/1"


def test_with_the_cache_server_down_subjects_still_start_and_guesses_still_answer_404():
    """The link throttle and the allocation's cached sums fail open: a Redis outage must
    not stop a study (perf/outages.py found every new subject answered 500)."""
    from annotation.tests.subject_support import display_check_pass

    study = rated_study_create(subjects=1, stimuli=4)
    _, token = subject_invite_create(study=study)
    with override_settings(CACHES={"default": cache_from_url(_nothing_listens())}):
        guesser = Client(REMOTE_ADDR="203.0.113.10")
        assert guesser.get("/s/guess/").status_code == 404
        subject = Client(REMOTE_ADDR="198.51.100.6")
        consented = subject.post(f"/s/{token}/consent/", {"decision": "accept"})
        assert consented.status_code == 302
        display_check_pass(subject, token)
        assert subject.get(f"/s/{token}/trials/0/").status_code == 200
