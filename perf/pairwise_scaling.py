"""Scaling a large pairwise study: 20 010 stimuli in groups of 15, 1 M choices.

    python perf/pairwise_scaling.py [--groups 1334 --size 15 --choices 1000000 --bootstrap 0
                                     --raters 5]

Plants JOD scores (N(0, 1.5) per group), draws ``--choices`` random pairs (uniform over
groups and pairs) answered by 300 simulated subjects under Thurstone Case V, then times
``validate_choices`` + ``pair_layout`` (the table to win-count batches) and the scaling by
Thurstone (pwcmp prior) and Bradley-Terry, printing the RMSE and SRCC to the truth. Groups
are independent and solved together as one batch per group size. ``--bootstrap N`` also
times N subject resamples of the Thurstone scale. Goal: Thurstone scaling <= 10 s.

Last, the joint scale of ratings and choices: ``--raters`` subjects rate every stimulus
(ACR-like: ``0.6 q + 3`` plus noise with the unified model's ``c = 1.5``), and the same
choices are fitted together with them (shared mapping); printed are its time, the fitted
mapping and the RMSE to the truth within groups and across the whole study (the ratings put
all groups on one scale), beside the MOS's correlation with the truth.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.pairwise.choices import validate_choices  # noqa: E402
from analysis.pairwise.counts import pair_layout  # noqa: E402
from analysis.pairwise.joint import joint_scale  # noqa: E402
from analysis.pairwise.scale import (  # noqa: E402
    BootstrapOptions,
    ScalingOptions,
    bootstrap_scale,
    solve_scores,
)
from analysis.pairwise.synthetic import answer_pairs, planted_ratings, planted_truth  # noqa: E402


def random_choices(
    truth: pd.DataFrame, groups: int, size: int, count: int, seed: int
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stimuli = truth["stimulus"].to_numpy().reshape(groups, size)
    group = rng.integers(0, groups, count)
    first, second = np.triu_indices(size, k=1)
    pair = rng.integers(0, len(first), count)
    asked = pd.DataFrame(
        {
            "subject": np.char.add("s", rng.integers(0, 300, count).astype(str)),
            "group": truth["group"].to_numpy().reshape(groups, size)[group, 0],
            "first": stimuli[group, first[pair]],
            "second": stimuli[group, second[pair]],
        }
    )
    return answer_pairs(truth, asked, rng)


def accuracy(layout_batches: list, scores: list[np.ndarray], truth: pd.DataFrame) -> str:
    true = truth.set_index("stimulus")["true_score"]
    errors, srcc = [], []
    for batch, batch_scores in zip(layout_batches, scores, strict=True):
        names = [s for stimuli in batch.stimuli for s in stimuli]
        planted = true.loc[names].to_numpy().reshape(batch_scores.shape)
        errors.append((batch_scores - planted).ravel())
        srcc += [spearmanr(a, b).statistic for a, b in zip(batch_scores, planted, strict=True)]
    error = np.concatenate(errors)
    return (
        f"RMSE {np.sqrt(np.nanmean(error**2)):.3f} JOD, mean SRCC per group {np.nanmean(srcc):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--groups", type=int, default=1334)
    parser.add_argument("--size", type=int, default=15)
    parser.add_argument("--choices", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=0)
    parser.add_argument("--raters", type=int, default=5)
    args = parser.parse_args()
    truth = planted_truth(args.groups, args.size, seed=1)
    started = time.perf_counter()
    choices = random_choices(truth, args.groups, args.size, args.choices, seed=2)
    print(
        f"{len(truth)} stimuli in {args.groups} groups of {args.size}, {len(choices)} choices "
        f"(simulated in {time.perf_counter() - started:.1f} s)"
    )
    started = time.perf_counter()
    layout = pair_layout(validate_choices(choices))
    wins = [batch.wins() for batch in layout.batches]
    print(f"validate + win counts: {time.perf_counter() - started:6.2f} s")
    for method in ("thurstone", "bradley_terry"):
        started = time.perf_counter()
        scores = [solve_scores(w, ScalingOptions(method=method)) for w in wins]
        elapsed = time.perf_counter() - started
        print(
            f"{method:14s} scaling: {elapsed:6.2f} s   {accuracy(list(layout.batches), scores, truth)}"
        )
    if args.bootstrap:
        started = time.perf_counter()
        bootstrap_scale(choices, bootstrap=BootstrapOptions(n_resamples=args.bootstrap))
        print(
            f"bootstrap, {args.bootstrap} subject resamples (Thurstone): {time.perf_counter() - started:6.1f} s"
        )
    if args.raters:
        joint_timing(truth, choices, args.raters)


def joint_timing(truth: pd.DataFrame, choices: pd.DataFrame, raters: int) -> None:
    ratings = planted_ratings(truth, raters, slope=0.6, offset=3.0, relative_noise=1.5, seed=3)
    groups = {str(g): frame["stimulus"].tolist() for g, frame in truth.groupby("group")}
    started = time.perf_counter()
    fitted = joint_scale(choices, ratings, groups)
    elapsed = time.perf_counter() - started
    merged = fitted.table.merge(truth, on=["group", "stimulus"])
    overall = np.sqrt(np.mean((merged["score"] - merged["true_score"]) ** 2))

    def centred(column: str) -> pd.Series:
        return merged[column] - merged.groupby("group")[column].transform("mean")

    within = np.sqrt(np.mean((centred("score") - centred("true_score")) ** 2))
    a, b, c = fitted.mapping.loc[0, ["a", "b", "c"]]
    print(
        f"joint scale, {len(ratings)} ratings + the choices: {elapsed:6.2f} s "
        f"({fitted.rounds} rounds)   a {a:.3f} b {b:.3f} c {c:.3f} (planted 0.6, 3, 1.5)"
    )
    print(
        f"  RMSE within groups {within:.3f} JOD, across the study {overall:.3f} JOD; "
        f"correlation with the truth: joint {np.corrcoef(merged['score'], merged['true_score'])[0, 1]:.3f}, "
        f"MOS {np.corrcoef(merged['mos'], merged['true_score'])[0, 1]:.3f}"
    )


if __name__ == "__main__":
    main()
