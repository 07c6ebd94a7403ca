"""Dataset package at AIGIQA-20K scale: wall time and peak memory of building the zip.

    .venv/bin/python perf/package_scale.py --database-url postgres://postgres@127.0.0.1:5432/postgres

1. creates the database `--db-name` (default `packagescale`) beside the URL's own if it is
   missing, migrates and flushes it, and builds the study of perf/export_scale.py:
   `--stimuli` (20 000) x `--subjects` (21) x 3 dimensions = 1.26 M ratings;
2. writes an image file of `--image-kb` KiB (random bytes behind a JPEG header: the
   package copies files, it never decodes them) for every stimulus;
3. freezes release v1, then builds its package, each in a fresh Python process so that
   each one's peak resident memory (``ru_maxrss``) is its own;
4. prints seconds, peak RSS, the RSS of the bare process after ``django.setup()``, the
   package's size and the seconds at which each packaging phase began.

The package step includes re-running the analysis on the frozen raw CSV for the
datasheet's reliability table; the phases show how long that and the copying took.
It prints figures; it is not a test.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as `python perf/package_scale.py`: perf/ is on sys.path, so its siblings import.
from export_scale import build
from support import (
    ROOT,
    database_arguments,
    database_prepare,
    django_setup,
    peak_rss_mb,
    study_size_arguments,
)

WORK = Path(tempfile.gettempdir()) / "package_scale"
STEPS = ("freeze", "package")
SLUG = "export-scale"


def images_write(kib: int) -> int:
    """One file per stimulus at its stored name; returns the bytes written."""
    from django.core.files.storage import default_storage

    from annotation.models import Study

    header = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")
    total = 0
    for name in Study.objects.get(slug=SLUG).stimuli.values_list("image", flat=True):
        path = Path(default_storage.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        data = header + os.urandom(kib * 1024 - len(header))
        path.write_bytes(data)
        total += len(data)
    return total


def step(name: str) -> dict:
    """One measured step, run in this (fresh) process."""
    from annotation.models import LabelRelease, Study
    from annotation.services.release_package import release_package_build
    from annotation.services.releases import release_freeze

    study = Study.objects.get(slug=SLUG)
    baseline = peak_rss_mb()
    phases: dict[str, float] = {}
    started = time.perf_counter()

    def progress(phase: str, done: float, total: float) -> None:
        phases.setdefault(phase, round(time.perf_counter() - started, 2))

    if name == "freeze":
        release = release_freeze(study=study, options={"screening": ["bt500"]}, progress=progress)
        detail = f"v{release.version}: {release.counts['ratings']:,} ratings"
    else:
        release = study.releases.order_by("-version").first()
        release_package_build(release=release, progress=progress)
        release = LabelRelease.objects.get(pk=release.pk)
        detail = (
            f"{release.package_file.name}: {release.package_size / 2**20:.0f} MB, "
            f"sha256 {release.package_sha256[:12]}"
        )
    return {
        "step": name,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(peak_rss_mb(), 0),
        "baseline_rss_mb": round(baseline, 0),
        "phases": phases,
        "detail": detail,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    database_arguments(parser, "packagescale")
    study_size_arguments(parser)
    parser.add_argument("--image-kb", type=int, default=64)
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    url = database_prepare(args.database_url, args.db_name)
    django_setup(url, WORK)
    WORK.mkdir(parents=True, exist_ok=True)

    if args.step:
        print(json.dumps(step(args.step)))
        return 0

    if not args.skip_build:
        import shutil

        shutil.rmtree(WORK / "media", ignore_errors=True)
        t = time.perf_counter()
        build(args.stimuli, args.subjects)
        written = images_write(args.image_kb)
        print(
            f"built {args.stimuli:,} stimuli, {args.stimuli * args.subjects * 3:,} ratings and "
            f"{written / 2**20:.0f} MB of images in {time.perf_counter() - t:.1f} s"
        )
    print(f"{'step':<10}{'seconds':>9}{'peak RSS MB':>13}{'bare MB':>9}  detail")
    for name in STEPS:
        command = [sys.executable, __file__, "--database-url", args.database_url]
        command += ["--db-name", args.db_name, "--step", name]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{r['step']:<10}{r['seconds']:>9.1f}{r['peak_rss_mb']:>13.0f}"
            f"{r['baseline_rss_mb']:>9.0f}  {r['detail']}"
        )
        print(
            " " * 10
            + "phases (s from start): "
            + ", ".join(f"{k} {v}" for k, v in r["phases"].items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
