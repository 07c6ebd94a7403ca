"""Import published databases at their real scale: images/s and peak memory per phase.

    .venv/bin/python perf/import_scale.py --database-url postgres://postgres@127.0.0.1:5432/postgres \
        --counts 3000,20000 --layouts all --formats jpg,png

1. creates the database `--db-name` (default `importscale`) beside the URL's own if it is
   missing (never the URL's database itself), migrates and flushes it;
2. writes each database once (cached under `--work`), in the shape its authors publish it
   (label files as .xlsx, header-less CSV, tab-separated split files or .mat; 512 px images
   by default), with one byte-identical copy per 300 images, as AGIQA-3K has, and for
   AIGIQA-20K a tenth of the images published without a MOS (its validation set);
3. imports each with `external_import` (the same call as `manage.py study import-external`)
   in a fresh Python process, so that each import's peak resident memory is its own;
   a thread samples the resident memory every 50 ms and books it to the phase the
   import's progress callback last reported (validating or writing), and the progress is
   printed live, a line per tenth of each phase;
4. checks that the study holds every row, that byte copies added no stored file, then
   deletes the study, its files and the thumbnails (`--keep` keeps them; thumbnails are
   shared by content, so a kept one would spare the next import its work), and prints a
   table.

It prints figures; it is not a test.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import database_arguments, database_prepare, django_setup  # noqa: E402

LAYOUTS = ("agiqa3k", "agiqa1k", "pku-i2iqa", "aigciqa2023", "aigiqa20k")
# The images' format as each database publishes it; --formats overrides it.
PUBLISHED_FORMAT = {
    "agiqa3k": "jpg",
    "agiqa1k": "jpg",
    "pku-i2iqa": "jpg",
    "aigciqa2023": "png",
    "aigiqa20k": "png",
}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def database_folder(work: Path, layout: str, fmt: str, count: int, size: int) -> Path:
    """The generated database, written once and reused by later runs."""
    from benchmark.training.synthetic import make_published_database

    folder = work / "databases" / f"{layout}-{fmt}-{count}-{size}px"
    done = folder / ".complete"
    if done.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    make_published_database(
        layout,
        folder,
        count=count,
        size=size,
        fmt=fmt,
        duplicates=max(1, count // 300),
        unlabelled=count // 10 if layout == "aigiqa20k" else 0,
    )
    done.write_text("ok")
    print(
        f"  generated {layout} {fmt} x{count} in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return folder


def measure_one(args) -> dict:
    """Child process: one import, timed and sampled per phase; prints one JSON line."""
    django_setup(args.child_url, Path(args.work))
    from django.conf import settings

    from annotation.models import LabelRelease, Stimulus
    from annotation.services.imports import external_import

    source = Path(args.source)
    state = {"phase": "reading", "started": {}, "ended": {}, "peak": {}, "shown": {}}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            phase = state["phase"]
            state["peak"][phase] = max(state["peak"].get(phase, 0.0), rss_mb())
            time.sleep(0.05)

    def progress(phase: str, done: float, total: float) -> None:
        now = time.perf_counter()
        if state["phase"] != phase:
            state["ended"][state["phase"]] = now
            state["started"][phase] = now
            state["phase"] = phase
        tenth = int(10 * done / total) if total else 10
        if state["shown"].get(phase, -1) < tenth:
            state["shown"][phase] = tenth
            print(f"    {phase}: {int(done)}/{int(total)}", file=sys.stderr, flush=True)

    sampler = threading.Thread(target=sample, daemon=True)
    baseline = rss_mb()
    sampler.start()
    started = time.perf_counter()
    state["started"]["reading"] = started
    result = external_import(
        layout=args.layout, source=source, name=f"scale {source.name}", progress=progress
    )
    finished = time.perf_counter()
    stop.set()
    sampler.join()
    state["ended"][state["phase"]] = finished
    study = result.study
    stored = list((Path(settings.MEDIA_ROOT) / "studies" / str(study.pk) / "stimuli").iterdir())
    sharing = Stimulus.objects.filter(study=study).exclude(same_file_as=None).count()
    out = {
        "layout": args.layout,
        "format": args.fmt,
        "count": result.created,
        "same_file": len(result.duplicates),
        "sharing_in_db": sharing,
        "stored_files": len(stored),
        "unlabelled": result.unlabelled,
        "baseline_mb": baseline,
        "seconds": finished - started,
    }
    for phase in ("reading", "validating", "writing"):
        seconds = state["ended"].get(phase, finished) - state["started"].get(phase, finished)
        out[f"{phase}_s"] = seconds
        out[f"{phase}_peak_mb"] = state["peak"].get(phase, 0.0)
    if not args.keep:
        media = Path(settings.MEDIA_ROOT)
        pk = study.pk
        # Releases are protected from a study's deletion on purpose; this study is scratch.
        LabelRelease.objects.filter(study=study).delete()
        study.delete()
        shutil.rmtree(media / "studies" / str(pk), ignore_errors=True)
        shutil.rmtree(media / "releases" / str(pk), ignore_errors=True)
        # Thumbnails are shared by content across studies; the next import must make its own.
        shutil.rmtree(media / "thumbs", ignore_errors=True)
    print(json.dumps(out))
    return out


def table(results: list[dict]) -> None:
    head = (
        f"{'layout':<12} {'fmt':<4} {'images':>6} {'read s':>7} {'valid s':>8} {'img/s':>6} "
        f"{'peak MB':>8} {'write s':>8} {'img/s':>6} {'peak MB':>8} {'same':>5} {'stored':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        n = r["count"]
        print(
            f"{r['layout']:<12} {r['format']:<4} {n:>6} {r['reading_s']:>7.1f} "
            f"{r['validating_s']:>8.1f} {n / max(r['validating_s'], 1e-9):>6.0f} "
            f"{r['validating_peak_mb']:>8.0f} {r['writing_s']:>8.1f} "
            f"{n / max(r['writing_s'], 1e-9):>6.0f} {r['writing_peak_mb']:>8.0f} "
            f"{r['same_file']:>5} {r['stored_files']:>7}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    database_arguments(parser, "importscale")
    parser.add_argument("--counts", default="3000", help="comma-separated, e.g. 3000,20000")
    parser.add_argument("--layouts", default="all", help=f"comma-separated of {LAYOUTS}")
    parser.add_argument(
        "--formats", default="published", help="jpg, png, both, or published (per layout)"
    )
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "import_scale"))
    parser.add_argument("--keep", action="store_true", help="keep the imported studies")
    # Internal: the measured child process.
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--layout", help=argparse.SUPPRESS)
    parser.add_argument("--fmt", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_url:
        measure_one(args)
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    url = database_prepare(args.database_url, args.db_name)
    django_setup(url, work)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(work / "media", ignore_errors=True)  # files of studies the flush removed
    layouts = LAYOUTS if args.layouts == "all" else tuple(args.layouts.split(","))
    results = []
    for count in (int(c) for c in args.counts.split(",")):
        for layout in layouts:
            if args.formats == "published":
                formats = [PUBLISHED_FORMAT[layout]]
            elif args.formats == "both":
                formats = ["jpg", "png"]
            else:
                formats = args.formats.split(",")
            for fmt in formats:
                print(f"{layout} {fmt} x{count}", file=sys.stderr, flush=True)
                folder = database_folder(work, layout, fmt, count, args.size)
                command = [
                    sys.executable, __file__, "--child-url", url, "--source", str(folder),
                    "--layout", layout, "--fmt", fmt, "--work", str(work),
                    *(["--keep"] if args.keep else []),
                ]  # fmt: skip
                done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
                if done.returncode:
                    sys.exit(f"the import of {folder} failed (exit {done.returncode})")
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print()
    print(
        f"{len(results)} imports, {args.size} px images; peak MB = resident memory of the "
        "importing process (its bare baseline after django.setup() was "
        f"{min(r['baseline_mb'] for r in results):.0f} MB)"
    )
    table(results)


if __name__ == "__main__":
    main()
