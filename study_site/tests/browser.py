"""Headless Debian Chromium (/usr/bin/chromium, never a downloaded browser) for browser tests.

Importing this module allows Django's synchronous ORM inside Playwright's event loop:
the sync API runs that loop in the test's thread, while the live server's database
calls happen in its own thread, so the async-safety check does not apply.
"""

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"

CHROMIUM = Path("/usr/bin/chromium")

# pytestmark of every browser test module: live-server tests need committed data.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install chromium)"
    ),
    pytest.mark.django_db(transaction=True),
]


def chromium_launch(playwright):
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


@contextmanager
def chromium_open() -> Iterator:
    """A fresh headless Chromium, closed on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = chromium_launch(playwright)
        yield chromium
        chromium.close()


@contextmanager
def browser_page(height: int = 768, timeout_ms: int = 15_000) -> Iterator:
    """A page of a fresh headless Chromium, 1366 pixels wide, closed on leaving."""
    from django.db import connections

    with chromium_open() as chromium:
        context = chromium.new_context(viewport={"width": 1366, "height": height})
        context.set_default_timeout(timeout_ms)
        yield context.new_page()
    # Inside Playwright's event loop the test's queries get their own connection;
    # close it here, or the test database cannot be dropped at the end of the run.
    connections.close_all()


def closes_its_connection(test):
    """ORM calls made while Playwright's loop runs get a connection of their own (asgiref
    context), which pytest-django does not close; close it, or the test database cannot
    be dropped at the end of the session."""
    from django.db import connections

    @functools.wraps(test)
    def wrapped(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        finally:
            connections.close_all()

    return wrapped
