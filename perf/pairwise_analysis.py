"""The pairwise pipeline on a large study, and the size of what the analysis page loads.

    python perf/pairwise_analysis.py [--groups 1334 --size 15 --choices 200000 --bootstrap 100]

Plants a study like perf/pairwise_scaling.py (random pairs in groups of ``--size``, 300
simulated subjects), then times ``pairwise_pipeline_run`` (validation, the three screening
checks, the scale with ``--bootstrap`` subject resamples) and the pure parts of the page's
payload: every group's preference matrix as JSON and the scores table, and prints their
sizes raw and gzipped (the result view is gzipped).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pairwise_scaling import random_choices  # noqa: E402

from analysis.pairwise import (  # noqa: E402
    BootstrapOptions,
    PairwisePipelineOptions,
    pairwise_pipeline_run,
)
from analysis.pairwise.synthetic import planted_truth  # noqa: E402
from common.jsonable import jsonable  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1334)
    parser.add_argument("--size", type=int, default=15)
    parser.add_argument("--choices", type=int, default=200_000)
    parser.add_argument("--bootstrap", type=int, default=100)
    args = parser.parse_args()
    truth = planted_truth(args.groups, args.size, seed=1)
    choices = random_choices(truth, args.groups, args.size, args.choices, seed=2)
    bootstrap = BootstrapOptions(n_resamples=args.bootstrap) if args.bootstrap else None
    started = time.perf_counter()
    result = pairwise_pipeline_run(choices, PairwisePipelineOptions(bootstrap=bootstrap))
    elapsed = time.perf_counter() - started
    print(
        f"{len(choices)} choices, {args.groups} groups of {args.size}, "
        f"{choices['subject'].nunique()} subjects, bootstrap {args.bootstrap}: "
        f"pipeline {elapsed:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in result.timings.items())})"
    )
    print(f"excluded subjects: {len(result.excluded_subjects)}; warnings: {len(result.warnings)}")
    groups = {
        f"{dimension}|{group}": matrix.round(3).to_numpy().tolist()
        for (dimension, group), matrix in result.preference.items()
    }
    scores = jsonable(result.scores.round(7).to_dict(orient="split"))
    for name, value in (("preference matrices", groups), ("scores table", scores)):
        text = json.dumps(value).encode()
        print(
            f"{name}: {len(text) / 1e6:.1f} MB JSON, {len(gzip.compress(text)) / 1e6:.1f} MB gzipped"
        )


if __name__ == "__main__":
    main()
