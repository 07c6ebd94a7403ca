"""Analysis pipeline at AIGIQA-20K scale: wall time and peak memory per step.

    python perf/analysis_scale.py [--stimuli 20000 --subjects 21 --dimensions 3]

Builds a synthetic study (20 000 stimuli x 21 subjects x 3 dimensions = 1.26 M ratings by
default, 2 careless raters, 15 generators), then runs ``analysis.pipeline.run_pipeline``
with BT.500 + correlation screening, z-score normalisation, MOS, the P.913 subject model,
reliability (100 split-halves, ICC, Krippendorff's alpha) and Gaussian fits. Prints the
time of each step and the process's peak resident memory after it (``ru_maxrss``, which
only grows); ``--tracemalloc`` adds the Python-heap peak *within* each step (slower).
Target on a 2-core machine: whole pipeline < 10 s and < 2 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.normalisation import NormalisationOptions  # noqa: E402
from analysis.pipeline import PipelineOptions, ScreeningOptions, run_pipeline  # noqa: E402
from analysis.synthetic import SimulationOptions, simulate_study  # noqa: E402

DIMENSIONS = ("quality", "authenticity", "correspondence", "aesthetics", "alignment")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stimuli", type=int, default=20000)
    parser.add_argument("--subjects", type=int, default=21)
    parser.add_argument("--dimensions", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--careless", type=int, default=2)
    parser.add_argument("--splits", type=int, default=100)
    parser.add_argument("--no-normalise", action="store_true")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t = time.perf_counter()
    study = simulate_study(
        SimulationOptions(
            n_stimuli=args.stimuli,
            n_subjects=args.subjects,
            dimensions=DIMENSIONS[: args.dimensions],
            n_careless=args.careless,
            n_generators=15,
            inconsistency_range=(0.3, 0.6),
            seed=args.seed,
        )
    )
    ratings = study.ratings
    print(
        f"synthetic study: {len(ratings):,} ratings ({args.stimuli} stimuli x {args.subjects} "
        f"subjects x {args.dimensions} dimensions) built in {time.perf_counter() - t:.2f} s, "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )

    from analysis.reliability import ReliabilityOptions

    options = PipelineOptions(
        screening=ScreeningOptions(methods=("bt500", "correlation")),
        normalisation=None if args.no_normalise else NormalisationOptions(),
        reliability=ReliabilityOptions(n_splits=args.splits),
    )
    memory: dict[str, tuple[float, float]] = {}
    current = {"step": None}

    def progress(step: str, _done: float, _total: float) -> None:
        if current["step"] is not None:
            heap = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else float("nan")
            memory[current["step"]] = (peak_rss_mb(), heap)
        if args.tracemalloc:
            tracemalloc.reset_peak()
        current["step"] = step

    if args.tracemalloc:
        tracemalloc.start()
    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = run_pipeline(ratings, options, progress)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    if args.tracemalloc:
        tracemalloc.stop()

    print(f"{'step':<16}{'time s':>9}{'peak RSS MB':>14}{'heap peak MB':>14}")
    for step, seconds in result.timings.items():
        if step == "total":
            continue
        rss, heap = memory.get(step, (float("nan"), float("nan")))
        print(f"{step:<16}{seconds:>9.2f}{rss:>14.0f}{heap:>14.0f}")
    print(f"{'total':<16}{wall:>9.2f}{peak_rss_mb():>14.0f}")
    # On a shared machine wall time includes waiting for the CPU; process CPU time does not.
    print(f"process CPU time {cpu:.2f} s; load average {os.getloadavg()[0]:.2f}")
    rejected = sorted({r["subject"] for r in result.to_summary()["rejected"]})
    print(f"rejected subjects: {rejected} (planted careless: {args.careless})")
    ok = wall < 10 and peak_rss_mb() < 2048
    print("target (< 10 s, < 2 GB):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
