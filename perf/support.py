"""What the perf/ scripts share: their scratch database, the site's settings, the study's images.

The scripts run as `python perf/<script>.py`, so perf/ is on sys.path and they import this
module as `support`.
"""

import argparse
import os
import resource
import secrets
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATORS = [f"Gen-{g:02d}" for g in range(15)]


def database_prepare(url: str, name: str) -> str:
    """Create `name` beside the URL's database if missing; return its URL."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    if parts.path.lstrip("/") == name:
        sys.exit(f"--db-name {name!r} is the database of --database-url; pick another name.")
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def database_arguments(
    parser: argparse.ArgumentParser,
    db_name: str,
    url: str = "postgres://postgres@127.0.0.1:5432/postgres",
) -> None:
    """--database-url (a server to connect to) and --db-name (the scratch database on it)."""
    parser.add_argument("--database-url", default=url)
    parser.add_argument("--db-name", default=db_name)


def study_size_arguments(parser: argparse.ArgumentParser) -> None:
    """--stimuli and --subjects of the AIGIQA-20K-sized study, and --skip-build."""
    parser.add_argument("--stimuli", type=int, default=20_000)
    parser.add_argument("--subjects", type=int, default=21)
    parser.add_argument("--skip-build", action="store_true", help="Reuse the study already there.")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def site_settings(database_url: str, work: Path, allowed_host: str = "") -> dict[str, str]:
    """The site's environment settings, its files under `work`.

    With `allowed_host` the site runs as in production (DEBUG off, that one host, no HTTPS
    redirects or secure-only cookies, since the scripts speak plain HTTP).
    """
    settings = {
        "DJANGO_SETTINGS_MODULE": "study_site.settings.base",
        "DATABASE_URL": database_url,
        "DEBUG": "1",
        "VAR_DIR": str(work / "var"),
        "MEDIA_ROOT": str(work / "media"),
        "LOG_LEVEL": "WARNING",
    }
    if allowed_host:
        settings.update(
            DEBUG="0",
            SECRET_KEY=secrets.token_urlsafe(40),
            ALLOWED_HOSTS=allowed_host,
            SECURE_SSL_REDIRECT="0",
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            SECURE_HSTS_SECONDS="0",
            STATIC_ROOT=str(work / "static"),
        )
    return settings


def django_setup(database_url: str, work: Path, allowed_host: str = "") -> None:
    """Django set up in this process, on `database_url` (see `site_settings`)."""
    os.environ.update(site_settings(database_url, work, allowed_host))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def database_reset() -> None:
    """The scratch database migrated and emptied."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def stimuli_bulk_create(study, count: int, prompt: str = "prompt {group}") -> list[int]:
    """`count` stimuli of 15 generators (no image files); their ids in order.

    `prompt` is formatted with the prompt group's number: 15 stimuli share each prompt.
    """
    from annotation.models import Stimulus

    # Width and height are set so that Django never opens the (absent) image files.
    Stimulus.objects.bulk_create(
        [
            Stimulus(
                study=study,
                image=f"studies/{study.pk}/stimuli/{n:06d}.jpg",
                sha256=f"{n:064x}",
                width=512,
                height=512,
                original_name=f"{GENERATORS[n % 15]}_{n:06d}.jpg",
                generator=GENERATORS[n % 15],
                prompt=prompt.format(group=n // 15),
                prompt_group=f"p{n // 15}",
            )
            for n in range(count)
        ],
        batch_size=5000,
    )
    return list(study.stimuli.order_by("id").values_list("id", flat=True))
