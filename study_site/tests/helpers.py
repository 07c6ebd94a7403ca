"""Run the project's own commands in child processes with a controlled environment."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Variables the parent test process sets that must not leak into a child's settings.
_SCRUB = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "VAR_DIR",
    "MEDIA_ROOT",
    # Browser tests allow sync DB access inside Playwright's loop; children must not inherit it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["DJANGO_SETTINGS_MODULE"] = "study_site.settings.base"
    env["PYTHONPATH"] = str(REPO)
    env.update(overrides)
    return env


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def postgres_required() -> None:
    """Skips the test unless the test database is PostgreSQL (its locks and concurrency)."""
    import pytest
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set TEST_DATABASE_URL=postgres://...)")


def server_database_url() -> str:
    """The URL of the test database, for worker processes that must share it.

    Skips the test on SQLite: a child process cannot open its in-memory test database.
    """
    import pytest
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs the test database on a server (TEST_DATABASE_URL)")
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
