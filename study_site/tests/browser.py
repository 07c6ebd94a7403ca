"""Headless Debian Chromium (/usr/bin/chromium, never a downloaded browser) for browser tests.

Importing this module allows Django's synchronous ORM inside Playwright's event loop:
the sync API runs that loop in the test's thread, while the live server's database
calls happen in its own thread, so the async-safety check does not apply.
"""

import os
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
