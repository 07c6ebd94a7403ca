"""Rating-tally verification and repair at AIGIQA-20K scale, on PostgreSQL or SQLite.

    .venv/bin/python perf/tallies_scale.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python perf/tallies_scale.py --sqlite /tmp/tallies_scale.sqlite3

1. PostgreSQL: creates the database `--db-name` (default `talliesscale`) beside the URL's
   own (never the URL's database itself); SQLite: the file `--sqlite`. Migrates and flushes.
2. builds `--stimuli` (20 000) x `--subjects` (21) x 3 dimensions = 1.26 M ratings, the
   ratings in one INSERT ... SELECT (the tally triggers fire as for any bulk load), spread
   over 100 hours;
3. times `tallies_verify` on exact tallies, then puts drift in (100 stimuli, 2 sessions, the
   hour rows of one session), times `tallies_verify` and `tallies_repair`, and verifies
   again. It prints figures; it is not a test.
"""

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from support import database_arguments, database_prepare, django_setup, stimuli_bulk_create

WORK = Path(tempfile.gettempdir()) / "tallies_scale"

_CREATED_AT = {
    "postgresql": "now() - (st.id % 100) * interval '1 hour'",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (st.id % 100) || ' hours')",
}


def _study_build(stimuli: int, subjects: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from annotation.models import Dimension, RatingSession, Study, Subject

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    owner = get_user_model().objects.create_user("owner")
    study = Study.objects.create(name="Tallies scale", slug="tallies-scale", owner=owner)
    for order, key in enumerate(("quality", "authenticity", "correspondence")):
        Dimension.objects.create(study=study, key=key, label=key, question=key, order=order)
    stimuli_bulk_create(study, stimuli)
    for index in range(subjects):
        subject = Subject.objects.create(
            study=study, label=f"S{index:03d}", token_hash=hashlib.sha256(os.urandom(8)).hexdigest()
        )
        RatingSession.objects.create(subject=subject)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO annotation_rating (session_id, stimulus_id, dimension_id, score, "
            "trial_index, is_repeat, is_training, response_time_ms, too_fast, created_at) "
            "SELECT se.id, st.id, d.id, 50.0, st.id, false, false, 1000, false, "
            f"{_CREATED_AT[connection.vendor]} "
            "FROM annotation_ratingsession se, annotation_stimulus st, annotation_dimension d"
        )


def _drift_add() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE annotation_stimulus SET rating_tally = rating_tally + 1 "
            "WHERE id IN (SELECT id FROM annotation_stimulus ORDER BY id LIMIT 100)"
        )
        cursor.execute(
            "UPDATE annotation_ratingsession SET rating_tally = 0, rating_last_id = 0 "
            "WHERE id IN (SELECT id FROM annotation_ratingsession ORDER BY id LIMIT 2)"
        )
        cursor.execute(
            "DELETE FROM annotation_sessionhourtally WHERE session_id = "
            "(SELECT min(id) FROM annotation_ratingsession)"
        )


def _timed(label: str, action) -> None:
    started = time.perf_counter()
    report = action()
    seconds = time.perf_counter() - started
    print(f"{label:<28} {seconds:7.2f} s   {report.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    database_arguments(parser, "talliesscale")
    parser.add_argument("--sqlite", type=Path, help="measure SQLite in this file instead")
    parser.add_argument("--stimuli", type=int, default=20_000)
    parser.add_argument("--subjects", type=int, default=21)
    parser.add_argument("--skip-build", action="store_true", help="Reuse the study already there.")
    args = parser.parse_args()
    if args.sqlite:
        url = f"sqlite:///{args.sqlite.resolve()}"
    else:
        url = database_prepare(args.database_url, args.db_name)
    django_setup(url, WORK)
    from annotation.services.tallies import tallies_repair, tallies_verify

    if not args.skip_build:
        started = time.perf_counter()
        _study_build(args.stimuli, args.subjects)
        print(f"{'build':<28} {time.perf_counter() - started:7.2f} s")
    _timed("verify (exact)", tallies_verify)
    _drift_add()
    _timed("verify (drift)", tallies_verify)
    _timed("repair", tallies_repair)
    _timed("verify (after repair)", tallies_verify)


if __name__ == "__main__":
    main()
