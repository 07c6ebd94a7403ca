"""Root pytest configuration shared by every test package."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real data beside the checkout (../shared/data); tests skip cleanly without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def redis_url() -> str:
    """The real Redis that broker tests use; they skip cleanly where it is not configured."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it to the local Redis)")
    return url


@pytest.fixture
def media(settings, tmp_path) -> Path:
    """A MEDIA_ROOT of the test's own (tmp_path/media): stored files never leak between tests.

    Files whose every test writes media use it with ``pytest.mark.usefixtures("media")``."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def admin_client(client):
    """A Django test client logged in as a superuser made by the site's ``AdminFactory``
    (in place of pytest-django's fixture of the same name)."""
    from annotation.tests.factories import AdminFactory

    client.force_login(AdminFactory())
    return client


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (Debian's, never downloaded)."""
    from study_site.tests.browser import chromium_open

    with chromium_open() as chromium:
        yield chromium
