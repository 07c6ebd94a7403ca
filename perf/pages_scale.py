"""Researcher pages and API lists at AIGIQA-20K scale: server time and response size.

    .venv/bin/python perf/pages_scale.py --database-url postgres://postgres@127.0.0.1:5432/postgres

1. creates the database `--db-name` (default `pagesscale`) beside the URL's own if it is
   missing (never the URL's database itself), migrates and flushes it;
2. builds a study of `--stimuli` (20 000) x `--subjects` (21) x 3 dimensions = 1.26 M
   ratings the way ``perf/export_scale.py`` does (stimuli, subjects and sessions with
   bulk_create, the ratings with PostgreSQL COPY), plus one subject in progress, one not
   started and one who declined; every session holds its full playlist. Then it runs the
   site's analysis once (the analysis page shows a cached result, the per-subject report
   its screening decisions) and freezes one release;
3. requests every researcher page and API list in this process with Django's test client,
   as the study's owner (admin change lists as a superuser, the API with a personal API
   token): one warm-up request, then the median of `--repeats` (3) timed ones;
4. prints a table: median server time, response size, SQL queries, and whether both are
   under the targets (<= 300 ms, <= 1 MB).

`--skip-build` reuses the study already there. It prints figures; it is not a test.
"""

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as `python perf/pages_scale.py`: perf/ is on sys.path, so its sibling imports.
from support import (
    database_arguments,
    database_prepare,
    database_reset,
    django_setup,
    stimuli_bulk_create,
    study_size_arguments,
)

WORK = Path(tempfile.gettempdir()) / "pages_scale"
SLUG = "pages-scale"
TARGET_MS = 300.0
TARGET_BYTES = 1024 * 1024


def _sessions_create(study, stimulus_ids: list[int], subjects: int) -> list:
    """`subjects` who finished, one in progress (500 trials), one not started, one declined."""
    from django.utils import timezone

    from annotation.models import RatingSession, Subject

    people = Subject.objects.bulk_create(
        [
            Subject(
                study=study,
                label=f"S{i:03d}",
                token_hash=hashlib.sha256(os.urandom(16)).hexdigest(),
                consented_at=timezone.now() if i <= subjects else None,
                declined_at=timezone.now() if i == subjects + 2 else None,
            )
            for i in range(subjects + 3)
        ]
    )
    playlist = [{"stimulus": pk, "kind": "rating", "repeat": False} for pk in stimulus_ids]
    now = timezone.now()
    sessions = RatingSession.objects.bulk_create(
        [
            RatingSession(
                subject=person,
                playlist=playlist,
                cursor=len(playlist) if i < subjects else 500,
                last_activity_at=now,
                completed_at=now if i < subjects else None,
                completion_code=f"CODE{i:04d}X" if i < subjects else "",
            )
            for i, person in enumerate(people[: subjects + 1])
        ],
        batch_size=4,
    )
    return sessions


def _ratings_copy(study, sessions: list, stimulus_ids: list[int]) -> None:
    import numpy as np
    from django.db import connection

    dimension_ids = list(study.dimensions.order_by("order").values_list("id", flat=True))
    stimuli = len(stimulus_ids)
    rng = np.random.default_rng(0)
    truth = rng.uniform(15, 85, size=(stimuli, len(dimension_ids)))
    columns = (
        "session_id, stimulus_id, dimension_id, score, trial_index, is_repeat, is_training, "
        "response_time_ms, too_fast, created_at"
    )
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor().copy(f"COPY annotation_rating ({columns}) FROM STDIN") as copy:
            for index, session in enumerate(sessions):
                careless = index < 2  # two raters answer at random (and fast)
                trials = session.cursor
                times = rng.integers(300 if careless else 800, 6000, trials)
                hours = rng.integers(0, 72, trials)
                for d, dim in enumerate(dimension_ids):
                    if careless:
                        scores = rng.uniform(0, 100, trials)
                    else:
                        scores = truth[:trials, d] + rng.normal(rng.normal(0, 5), 8, trials)
                    scores = np.clip(np.round(scores, 1), 0, 100)
                    lines = "".join(
                        f"{session.pk}\t{s}\t{dim}\t{v}\t{i}\tf\tf\t{ms}\t{'t' if ms < 1000 else 'f'}\t"
                        f"2024-01-{1 + h // 24:02d} {h % 24:02d}:00:00+00\n"
                        for i, (s, v, ms, h) in enumerate(
                            zip(stimulus_ids[:trials], scores, times, hours, strict=True)
                        )
                    )
                    copy.write(lines.encode())
        # Fresh statistics and visibility map, as autovacuum would leave them after a while.
        for table in ("annotation_rating", "annotation_stimulus", "annotation_ratingsession"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def build(stimuli: int, subjects: int) -> dict:
    """The study, bulk-inserted, analysed once and frozen once; the seconds each part took."""
    from django.contrib.auth import get_user_model

    from annotation.services.analysis_runs import analysis_run_request
    from annotation.services.releases import release_freeze
    from annotation.services.studies import PKU_I2IQA_DIMENSIONS, study_create

    timings = {}
    started = time.perf_counter()
    database_reset()
    timings["migrate+flush"] = time.perf_counter() - started

    started = time.perf_counter()
    users = get_user_model().objects
    owner = users.create_user("researcher", password="pw", is_staff=True)
    users.create_superuser("admin", password="pw")
    study = study_create(
        owner=owner, name="Pages scale", slug=SLUG, dimensions=PKU_I2IQA_DIMENSIONS
    )
    study.status = "open"
    study.target_ratings_per_stimulus = 21
    study.session_size = stimuli
    study.save()
    prompt = "a photo of prompt number {group}, highly detailed"
    stimulus_ids = stimuli_bulk_create(study, stimuli, prompt)
    sessions = _sessions_create(study, stimulus_ids, subjects)
    timings["study+stimuli+sessions"] = time.perf_counter() - started

    started = time.perf_counter()
    _ratings_copy(study, sessions, stimulus_ids)
    timings["ratings COPY"] = time.perf_counter() - started

    started = time.perf_counter()
    analysis_run_request(study=study, options={}, created_by=owner, inline=True)
    timings["analysis"] = time.perf_counter() - started
    started = time.perf_counter()
    release_freeze(study=study, options={}, created_by=owner)
    timings["freeze"] = time.perf_counter() - started
    return timings


def pages(study, token: str) -> list[tuple[str, str, dict]]:
    """(name, url, extra request headers) of every researcher page and API list measured."""
    from django.urls import reverse

    pk = study.pk
    api = {"HTTP_AUTHORIZATION": f"Token {token}"}
    session = study.releases.order_by("-version").first()
    version = session.version if session else 1
    latest_run = study.analysis_runs.filter(kind="analysis", status="done").order_by("-pk").first()
    run_pk = latest_run.pk if latest_run else 0
    return [
        ("dashboard", reverse("home"), {}),
        ("study list", reverse("research:study_list"), {}),
        ("study detail", reverse("research:study_detail", args=[pk]), {}),
        ("stimuli", reverse("research:stimulus_list", args=[pk]), {}),
        ("stimuli, page 400", reverse("research:stimulus_list", args=[pk]) + "?page=400", {}),
        (
            "stimuli, search",
            reverse("research:stimulus_list", args=[pk]) + "?q=prompt+number+77",
            {},
        ),
        (
            "stimuli, below target",
            reverse("research:stimulus_list", args=[pk]) + "?below_target=1&sort=-ratings",
            {},
        ),
        ("stimuli, by ratings", reverse("research:stimulus_list", args=[pk]) + "?sort=ratings", {}),
        ("subjects", reverse("research:subject_list", args=[pk]), {}),
        ("subjects, search", reverse("research:subject_list", args=[pk]) + "?q=CODE0007X", {}),
        ("per-subject report", reverse("research:subject_report", args=[pk]), {}),
        ("per-subject report CSV", reverse("research:subject_report_csv", args=[pk]), {}),
        ("progress", reverse("research:study_progress", args=[pk]), {}),
        ("progress.json", reverse("research:study_progress_json", args=[pk]), {}),
        ("analysis (cached result)", reverse("research:analysis", args=[pk]), {}),
        (
            "analysis result.json",
            reverse("research:analysis_run_result", args=[pk, run_pk]),
            {},
        ),
        ("releases", reverse("research:release_list", args=[pk]), {}),
        ("API tokens page", reverse("api_tokens"), {}),
        ("API studies", reverse("api:study_list"), api),
        ("API stimuli", reverse("api:stimulus_list", args=[pk]), api),
        ("API stimuli, search", reverse("api:stimulus_list", args=[pk]) + "?q=Gen-03", api),
        ("API subjects", reverse("api:subject_list", args=[pk]), api),
        ("API subject report", reverse("api:subject_report", args=[pk]), api),
        ("API code lookup", reverse("api:completion_code", args=["CODE0007X"]), api),
        ("API progress", reverse("api:study_progress", args=[pk]), api),
        ("API releases", reverse("api:release_list", args=[pk]), api),
        ("API release sidecar", reverse("api:release_sidecar", args=[pk, version]), api),
        ("admin ratings", reverse("admin:annotation_rating_changelist"), {"admin": True}),
        (
            "admin ratings, one study",
            reverse("admin:annotation_rating_changelist")
            + f"?session__subject__study__id__exact={pk}",
            {"admin": True},
        ),
        ("admin sessions", reverse("admin:annotation_ratingsession_changelist"), {"admin": True}),
        ("admin subjects", reverse("admin:annotation_subject_changelist"), {"admin": True}),
        ("admin stimuli", reverse("admin:annotation_stimulus_changelist"), {"admin": True}),
    ]


def _body_size(response) -> int:
    if getattr(response, "streaming", False):
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def _query_counter(queries: list):
    """A database execute wrapper that appends each SQL statement run to ``queries``."""

    def counted(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    return counted


def measure(repeats: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from annotation.models import Study
    from annotation.services.api_tokens import api_token_create

    # DEBUG is off, as in production: pages link static files through the manifest.
    call_command("collectstatic", interactive=False, verbosity=0)
    study = Study.objects.get(slug=SLUG)
    users = get_user_model().objects
    researcher = users.get(username="researcher")
    _, token = api_token_create(user=researcher, name="pages_scale")
    # Every request accepts gzip as a browser does: sizes are what travels.
    browser = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}
    owner, admin = Client(**browser), Client(**browser)
    owner.force_login(researcher)
    admin.force_login(users.get(username="admin"))
    rows = []
    for name, url, extra in pages(study, token):
        headers = {k: v for k, v in extra.items() if k != "admin"}
        client = admin if extra.get("admin") else (Client(**browser) if headers else owner)
        response = client.get(url, **headers)  # warm-up: caches, connection
        _body_size(response)
        times, size, queries = [], 0, []
        with connection.execute_wrapper(_query_counter(queries)):
            response = client.get(url, **headers)
            size = _body_size(response)
        for _ in range(repeats):
            start = time.perf_counter()
            response = client.get(url, **headers)
            size = _body_size(response)
            times.append((time.perf_counter() - start) * 1000)
        rows.append(
            {
                "name": name,
                "status": response.status_code,
                "ms": statistics.median(times),
                "bytes": size,
                "queries": len(queries),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    database_arguments(parser, "pagesscale")
    study_size_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    url = database_prepare(args.database_url, args.db_name)
    django_setup(url, WORK, allowed_host="testserver")
    WORK.mkdir(parents=True, exist_ok=True)
    if args.skip_build:
        from django.core.management import call_command

        # The study stays; its schema follows the code (e.g. the rating tallies' migration).
        call_command("migrate", verbosity=0)
    else:
        started = time.perf_counter()
        timings = build(args.stimuli, args.subjects)
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        print(f"built in {time.perf_counter() - started:.1f} s ({parts})", flush=True)
    from annotation.models import Rating

    print(f"{Rating.objects.count():,} ratings in the database", flush=True)
    rows = measure(args.repeats)
    print(f"{'page':<28}{'status':>7}{'ms':>9}{'KiB':>9}{'queries':>9}  target")
    for r in rows:
        ok = r["ms"] <= TARGET_MS and r["bytes"] <= TARGET_BYTES and r["status"] == 200
        print(
            f"{r['name']:<28}{r['status']:>7}{r['ms']:>9.0f}{r['bytes'] / 1024:>9.1f}"
            f"{r['queries']:>9}  {'ok' if ok else 'OVER'}"
        )
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
