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
