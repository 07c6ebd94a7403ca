"""Freeze and export at AIGIQA-20K scale: wall time and peak memory of each step.

    .venv/bin/python perf/export_scale.py --database-url postgres://postgres@127.0.0.1:5432/postgres

1. creates the database `--db-name` (default `exportscale`) beside the URL's own if it is
   missing (never the URL's database itself), migrates and flushes it;
2. builds a study of `--stimuli` (20 000) x `--subjects` (21) x 3 dimensions = 1.26 M
   ratings: stimuli and subjects with bulk_create, the ratings with PostgreSQL COPY;
3. runs each measured step in a fresh Python process, so that each one's peak resident
   memory (``ru_maxrss``) is its own: the site's analysis of the study (inline), a freeze
   (one pass over the ratings: raw CSV + analysis + MOS CSV + sidecar), the export of the
   frozen raw CSV (the stored file streamed, with its sha256 checked) and the live
   export (CSV generated from the database while streaming);
4. prints a table: seconds, peak RSS, RSS of the bare process after ``django.setup()``,
   and the Python-heap peak of the step (tracemalloc; ``--no-tracemalloc`` to skip it,
   it slows the step down).

It prints figures; it is not a test.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# Run as `python perf/export_scale.py`: perf/ is on sys.path, so its sibling imports.
from support import (
    ROOT,
    database_arguments,
    database_prepare,
    database_reset,
    django_setup,
    peak_rss_mb,
    stimuli_bulk_create,
    study_size_arguments,
)

WORK = Path(tempfile.gettempdir()) / "export_scale"
STEPS = ("analyse", "freeze", "export_raw", "export_live")


def build(stimuli: int, subjects: int) -> dict:
    """The study, bulk-inserted; returns its slug and the seconds each part took."""
    import numpy as np
    from django.db import connection

    from annotation.models import RatingSession, Subject
    from annotation.services.studies import PKU_I2IQA_DIMENSIONS, study_create

    timings = {}
    started = time.perf_counter()
    database_reset()
    timings["migrate+flush"] = time.perf_counter() - started

    started = time.perf_counter()
    study = study_create(name="Export scale", slug="export-scale", dimensions=PKU_I2IQA_DIMENSIONS)
    stimulus_ids = np.array(stimuli_bulk_create(study, stimuli))
    people = Subject.objects.bulk_create(
        [
            Subject(
                study=study,
                label=f"S{i:03d}",
                token_hash=hashlib.sha256(os.urandom(16)).hexdigest(),
            )
            for i in range(subjects)
        ]
    )
    sessions = RatingSession.objects.bulk_create([RatingSession(subject=s) for s in people])
    timings["study+stimuli"] = time.perf_counter() - started

    started = time.perf_counter()
    dimension_ids = list(study.dimensions.order_by("order").values_list("id", flat=True))
    rng = np.random.default_rng(0)
    truth = rng.uniform(15, 85, size=(stimuli, len(dimension_ids)))
    columns = "session_id, stimulus_id, dimension_id, score, trial_index, is_repeat, is_training, response_time_ms, too_fast, created_at"
    stamp = "2024-01-01 12:00:00+00"
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor().copy(f"COPY annotation_rating ({columns}) FROM STDIN") as copy:
            for index, session in enumerate(sessions):
                careless = index < 2  # two raters answer at random
                for dimension_index, dim in enumerate(dimension_ids):
                    if careless:
                        scores = rng.uniform(0, 100, stimuli)
                    else:
                        scores = truth[:, dimension_index] + rng.normal(
                            rng.normal(0, 5), 8, stimuli
                        )
                    scores = np.clip(np.round(scores, 1), 0, 100)
                    times = rng.integers(800, 6000, stimuli)
                    lines = "".join(
                        f"{session.pk}\t{s}\t{dim}\t{v}\t{i}\tf\tf\t{ms}\t"
                        f"{'t' if ms < study.too_fast_ms else 'f'}\t{stamp}\n"
                        for i, (s, v, ms) in enumerate(
                            zip(stimulus_ids, scores, times, strict=True)
                        )
                    )
                    copy.write(lines.encode())
    timings["ratings COPY"] = time.perf_counter() - started
    return {"slug": study.slug, "timings": timings}


def step(name: str, slug: str, out_dir: Path, trace: bool) -> dict:
    """One measured step, run in this (fresh) process."""
    # Imported before the clock starts: the step's time and memory are its own work.
    from annotation.models import Study
    from annotation.services.analysis_runs import analysis_run_request
    from annotation.services.release_formats import ratings_csv_stream
    from annotation.services.releases import release_download_open, release_freeze

    study = Study.objects.get(slug=slug)
    baseline = peak_rss_mb()
    if trace:
        tracemalloc.start()
    phases: dict[str, float] = {}
    started = time.perf_counter()

    def progress(phase: str, done: float, total: float) -> None:
        phases.setdefault(phase, round(time.perf_counter() - started, 2))

    detail = ""
    if name == "analyse":
        run = analysis_run_request(
            study=study, options={"screening": ["bt500", "correlation"]}, force=True, inline=True
        )
        assert run.status == "done", run.error
        phases = {e["step"]: e["at"] for e in run.log}
        detail = f"{run.summary['subjects']['rejected']} subject(s) screened out; payload {len(json.dumps(run.payload)) / 2**20:.1f} MB"
    elif name == "freeze":
        release = release_freeze(
            study=study, options={"screening": ["bt500", "correlation"]}, progress=progress
        )
        detail = (
            f"v{release.version}: {release.counts['ratings']:,} ratings, {release.counts['stimuli']:,} stimuli, "
            f"raw CSV {release.raw_file.size / 2**20:.0f} MB, MOS CSV {release.mos_file.size / 2**20:.1f} MB"
        )
    elif name == "export_raw":
        release = study.releases.order_by("-version").first()
        download = release_download_open(release=release, what="raw")
        digest, size = hashlib.sha256(), 0
        with download.handle as src, (out_dir / "raw.csv").open("wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
        assert digest.hexdigest() == release.raw_sha256
        detail = f"{size / 2**20:.0f} MB streamed, sha256 matches the release"
    elif name == "export_live":
        size = rows = 0
        with (out_dir / "live.csv").open("wb") as dst:
            for chunk in ratings_csv_stream(study=study):
                dst.write(chunk)
                size += len(chunk)
                rows += chunk.count(b"\n")
        detail = f"{rows - 1:,} rows, {size / 2**20:.0f} MB streamed"
    wall = time.perf_counter() - started
    heap = tracemalloc.get_traced_memory()[1] / 2**20 if trace else float("nan")
    return {
        "step": name,
        "seconds": round(wall, 2),
        "peak_rss_mb": round(peak_rss_mb(), 0),
        "baseline_rss_mb": round(baseline, 0),
        "heap_peak_mb": round(heap, 0),
        "phases": phases,
        "detail": detail,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    database_arguments(parser, "exportscale")
    study_size_arguments(parser)
    parser.add_argument("--no-tracemalloc", action="store_true")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    url = database_prepare(args.database_url, args.db_name)
    django_setup(url, WORK)
    WORK.mkdir(parents=True, exist_ok=True)

    if args.step:
        print(json.dumps(step(args.step, "export-scale", WORK, not args.no_tracemalloc)))
        return 0

    if not args.skip_build:
        started = time.perf_counter()
        built = build(args.stimuli, args.subjects)
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in built["timings"].items())
        print(
            f"built {args.stimuli * args.subjects * 3:,} ratings in {time.perf_counter() - started:.1f} s ({parts})"
        )
    results = []
    for name in STEPS:
        command = [
            sys.executable,
            __file__,
            "--database-url",
            args.database_url,
            "--db-name",
            args.db_name,
            "--step",
            name,
        ]
        if args.no_tracemalloc:
            command.append("--no-tracemalloc")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"{'step':<12}{'seconds':>9}{'peak RSS MB':>13}{'bare MB':>9}{'heap peak MB':>14}  detail"
    )
    for r in results:
        print(
            f"{r['step']:<12}{r['seconds']:>9.1f}{r['peak_rss_mb']:>13.0f}{r['baseline_rss_mb']:>9.0f}{r['heap_peak_mb']:>14.0f}  {r['detail']}"
        )
        if r["phases"]:
            print(
                " " * 12
                + "phases (s from start): "
                + ", ".join(f"{k} {v}" for k, v in r["phases"].items())
            )
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
