"""Pair designs on a planted ground truth: comparisons needed for the same scale accuracy.

    python perf/pairwise_designs.py [--repeats 6 --rounds 30 --prompts 30 --quick]
                                    [--first-seed 0] [--only asap --only aigiqa --only timing]

Two settings, true scores in JOD drawn N(0, 1.5) per group (a choice of ours; the papers
do not fix one; ``--spread`` changes it for the asap setting), answers by Thurstone Case V:

* ``asap``: one group of 20 conditions, the size of the ASAP paper's simulations
  (Mikhailiuk et al., ICPR 2020), batches of 19 pairs (a spanning tree) per round;
* ``aigiqa``: an AIGIQA-20K-like study, 15 generators x ``--prompts`` prompts, one
  comparison group per prompt, 14 pairs per group per round.

After every round each design's choices are scaled in JOD by two estimators (Thurstone with
pwcmp's prior, and plain maximum likelihood; both with a weak N(0, 3^2) score prior, see
``ThurstoneOptions.score_sd`` and :data:`EVALUATIONS`) and
compared with the truth: RMSE (JOD, pooled) and SRCC (per group, averaged), averaged over
``--repeats`` runs. The table gives, for each design, the comparisons per group needed to
reach the RMSE (and SRCC) that random pairs reach at the end, read off the averaged curves
(linear interpolation; ">" where a design never gets there). The goal of the issue: the
active design needs at most half the comparisons of random pairs.

Before each setting, a bound: the share of random's comparisons that the best fixed
allocation of comparisons to pairs needs when it knows the true scores
(:func:`oracle_share`). No design, active or not, can be expected to do much better; where
the bound is above one half, the goal cannot be met in that setting.

Last, the time to choose the next batch (49 pairs) for a group of 50 conditions after 20
rounds (980 answers), median of 20 calls (2 for the full gain), for every design; the
active design's default gain ("auto") uses the approximate gain at that size.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.pairwise.designs import (  # noqa: E402
    ActiveDesign,
    FullDesign,
    PairDesign,
    RandomDesign,
    VarianceDesign,
)
from analysis.pairwise.scale import ScalingOptions, scale_choices  # noqa: E402
from analysis.pairwise.synthetic import answer_pairs, planted_truth, run_design  # noqa: E402
from analysis.pairwise.thurstone import JOD_SIGMA, ThurstoneOptions  # noqa: E402
from perf.asap_reference import ReferenceASAP, reference_gains  # noqa: E402

# Two estimators score each design. pwcmp's (the library default) is what a researcher
# gets, but its distance prior compresses pairs that stay unanimous however often they are
# asked (far apart on a wide scale), so its RMSE need not fall with more data. The second,
# maximum likelihood with a weak N(0, 3^2) score prior, is consistent: its error measures
# the design. Both carry the score prior, which keeps single-answer pairs of the first
# rounds from running off (pwcmp's prior is flat for them).
EVALUATIONS = {
    "pwcmp prior": ScalingOptions(thurstone=ThurstoneOptions(score_sd=3.0)),
    "ML + score prior": ScalingOptions(thurstone=ThurstoneOptions(prior="none", score_sd=3.0)),
}
DESIGNS: list[tuple[str, PairDesign]] = [
    ("full", FullDesign()),
    ("random", RandomDesign()),
    ("active (full gain)", ActiveDesign(gain="full")),
    ("active (approx gain)", ActiveDesign(gain="approx")),
    ("variance", VarianceDesign()),
    # For comparison only: ASAP as the authors' reference code runs it (perf/asap_reference.py).
    ("asap reference code", ReferenceASAP()),
]


def accuracy(choices: pd.DataFrame, truth: pd.DataFrame) -> list[tuple[float, float]]:
    """(RMSE, SRCC) of the scale by each of :data:`EVALUATIONS`."""
    return [one_accuracy(choices, truth, options) for options in EVALUATIONS.values()]


def one_accuracy(
    choices: pd.DataFrame, truth: pd.DataFrame, options: ScalingOptions
) -> tuple[float, float]:
    merged = scale_choices(choices, options=options).merge(truth, on=["group", "stimulus"])
    merged = merged.dropna(subset=["score"])
    rmse = float(np.sqrt(np.mean((merged["score"] - merged["true_score"]) ** 2)))
    srcc = [
        spearmanr(frame["score"], frame["true_score"]).statistic
        for _, frame in merged.groupby("group")
        if len(frame) > 2
    ]
    return rmse, float(np.nanmean(srcc))


def curve(
    design: PairDesign, truth: pd.DataFrame, rounds: int, batch: int, seed: int
) -> np.ndarray:
    """``(rounds, estimators, 2)`` RMSE and SRCC after each round; all groups advance
    together."""
    rng = np.random.default_rng(seed)
    groups = {g: frame.reset_index(drop=True) for g, frame in truth.groupby("group", sort=True)}
    answered: dict[str, list[pd.DataFrame]] = {g: [] for g in groups}
    empty = pd.DataFrame(columns=["subject", "group", "left", "right", "choice"])
    out = []
    for step in range(rounds):
        for group, frame in groups.items():
            history = pd.concat(answered[group], ignore_index=True) if answered[group] else empty
            pairs = design.next_pairs(history, frame["stimulus"].tolist(), batch, rng)
            asked = pd.DataFrame(
                {
                    "subject": f"r{step:03d}",
                    "group": group,
                    "first": [a for a, _ in pairs],
                    "second": [b for _, b in pairs],
                }
            )
            answered[group].append(answer_pairs(frame, asked, rng))
        out.append(
            accuracy(
                pd.concat([f for fs in answered.values() for f in fs], ignore_index=True), truth
            )
        )
    return np.array(out)


def needed(
    comparisons: np.ndarray, values: np.ndarray, target: float, lower_is_better: bool
) -> str:
    """First (interpolated) number of comparisons at which the curve reaches ``target``."""
    reached = values <= target if lower_is_better else values >= target
    if not reached.any():
        return f">{comparisons[-1]:.0f}"
    at = int(np.argmax(reached))
    if at == 0:
        return f"<={comparisons[0]:.0f}"
    share = (target - values[at - 1]) / (values[at] - values[at - 1])
    return f"{comparisons[at - 1] + share * (comparisons[at] - comparisons[at - 1]):.0f}"


def oracle_share(true_scores: np.ndarray, budget: float, prior_sd: float = 3.0) -> float:
    """Share of ``budget`` random comparisons that the best fixed allocation of comparisons
    to pairs, chosen knowing the true scores, needs for the same expected error.

    With ``N`` answers in shares ``w`` of the pairs and the evaluation's ``N(0, prior_sd^2)``
    score prior, the scale's posterior covariance is ``(N F(w) + I / prior_sd^2)^-1``, where
    ``F(w) = sum w_ij I_ij d_ij d_ij^T`` and ``I_ij`` is the Fisher information of one
    answer about ``s_i - s_j`` at the truth; its centred trace is the expected squared error.
    The allocation minimising it (Bayesian A-optimal; the multiplicative algorithm of Silvey,
    Titterington and Torsney, 1978) and the ``N`` at which it matches uniform shares at
    ``budget`` bound what any design, active or not, can save when it already knows where
    the answers are most informative."""
    size = len(true_scores)
    first, second = np.triu_indices(size, k=1)
    standard = (true_scores[first] - true_scores[second]) / JOD_SIGMA
    information = (
        np.exp(2.0 * norm.logpdf(standard) - norm.logcdf(standard) - norm.logcdf(-standard))
        / JOD_SIGMA**2
    )
    contrasts = np.zeros((len(first), size))
    contrasts[np.arange(len(first)), first] = 1.0
    contrasts[np.arange(len(first)), second] = -1.0
    centring = np.eye(size) - 1.0 / size

    def covariance(shares: np.ndarray, count: float) -> np.ndarray:
        precision = count * contrasts.T @ ((shares * information)[:, None] * contrasts)
        return np.linalg.inv(precision + np.eye(size) / prior_sd**2)

    def error(shares: np.ndarray, count: float) -> float:
        return float(np.trace(centring @ covariance(shares, count) @ centring))

    def optimal(count: float) -> np.ndarray:
        shares = np.full(len(first), 1.0 / len(first))
        for _ in range(500):
            moved = contrasts @ (covariance(shares, count) @ centring)
            drive = information * np.sum(moved**2, axis=1)
            shares = shares * drive / (shares @ drive)
        return shares

    target = error(np.full(len(first), 1.0 / len(first)), budget)
    count = budget
    for _ in range(3):  # the best shares depend a little on the count they are used at
        shares = optimal(count)
        low, high = 1.0, budget
        for _ in range(40):
            middle = 0.5 * (low + high)
            low, high = (middle, high) if error(shares, middle) > target else (low, middle)
        count = high
    return count / budget


def print_oracle(make_truth: Callable[[int], pd.DataFrame], seeds: range, budget: float) -> None:
    shares = [
        oracle_share(frame["true_score"].to_numpy(), budget)
        for seed in seeds
        for _, frame in make_truth(seed).groupby("group")
    ]
    print(
        f"  the best allocation knowing the truth needs {np.mean(shares):.2f} of random's "
        f"{budget:.0f} comparisons per group for random's expected error "
        f"({np.min(shares):.2f}-{np.max(shares):.2f} over {len(shares)} groups)",
        flush=True,
    )


def run_setting(
    name: str,
    make_truth: Callable[[int], pd.DataFrame],
    rounds: int,
    batch: int,
    seeds: range,
    wanted: Collection[str],
) -> None:
    """Each repeat (one per seed) draws its own truth (``make_truth(seed)``) and answers."""
    comparisons = batch * np.arange(1, rounds + 1, dtype=float)
    print_oracle(make_truth, seeds, comparisons[-1])
    curves = {}
    for label, design in DESIGNS:
        if label not in wanted:
            continue
        started = time.perf_counter()
        runs = [curve(design, make_truth(seed), rounds, batch, seed) for seed in seeds]
        curves[label] = np.mean(runs, axis=0)
        print(f"  {label:22s} simulated in {time.perf_counter() - started:6.1f} s", flush=True)
    for position, estimator in enumerate(EVALUATIONS):
        report(
            {label: values[:, position] for label, values in curves.items()},
            comparisons,
            f"{name}, {estimator}",
        )


def report(curves: dict[str, np.ndarray], comparisons: np.ndarray, title: str) -> None:
    target_rmse, target_srcc = curves["random"][-1]
    print(
        f"\n{title}: comparisons per group to reach random's final RMSE {target_rmse:.3f} JOD / SRCC {target_srcc:.3f}"
    )
    print(f"  {'design':22s} {'to RMSE':>8s} {'to SRCC':>8s}   RMSE, SRCC at {comparisons[-1]:.0f}")
    for label, values in curves.items():
        to_rmse = needed(comparisons, values[:, 0], target_rmse, lower_is_better=True)
        to_srcc = needed(comparisons, values[:, 1], target_srcc, lower_is_better=False)
        print(
            f"  {label:22s} {to_rmse:>8s} {to_srcc:>8s}   {values[-1, 0]:.3f}, {values[-1, 1]:.3f}"
        )
    print()


def batch_timing() -> None:
    truth = planted_truth(1, 50, spread=1.5, seed=3)
    history = run_design(ActiveDesign(gain="approx"), truth, 49 * 20, 49, seed=0)
    conditions = truth["stimulus"].tolist()
    rng = np.random.default_rng(0)
    print("next batch of 49 pairs, 50 conditions, 980 answers in the history (goal <= 50 ms):")
    for label, design in [*DESIGNS[:5], ("active (auto, default)", ActiveDesign())]:
        times = []
        for _ in range(2 if "full gain" in label else 20):
            started = time.perf_counter()
            design.next_pairs(history, conditions, 49, rng)
            times.append(time.perf_counter() - started)
        print(f"  {label:22s} {1000 * np.median(times):8.1f} ms (median)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--prompts", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2 repeats, 10 rounds, 6 prompts")
    parser.add_argument(
        "--spread", type=float, default=1.5, help="sd of the asap setting's true scores (JOD)"
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="repeats use seeds first-seed, first-seed + 1, ...",
    )
    parser.add_argument(
        "--only",
        choices=("asap", "aigiqa", "timing", "agreement"),
        action="append",
        help="run these parts",
    )
    parser.add_argument(
        "--design",
        choices=[label for label, _ in DESIGNS],
        action="append",
        help="simulate only these designs (and random pairs)",
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.rounds, args.prompts = 2, 10, 6
    parts = set(args.only or ("asap", "aigiqa", "timing", "agreement"))
    if "asap" in parts:
        print("setting asap: 1 group x 20 conditions, 19 pairs per round", flush=True)
        run_setting(
            "asap",
            lambda seed: planted_truth(1, 20, spread=args.spread, seed=100 + seed),
            args.rounds,
            19,
            range(args.first_seed, args.first_seed + args.repeats),
            _wanted(args),
        )
    if "aigiqa" in parts:
        run_aigiqa(args)
    if "timing" in parts:
        batch_timing()
    if "agreement" in parts:
        reference_agreement()


def reference_agreement() -> None:
    """The library's full gain and posterior against the reference code's, on one history."""
    truth = planted_truth(1, 20, seed=105)
    history = run_design(RandomDesign(), truth, 19 * 8, 19, seed=1)
    names = truth["stimulus"].tolist()
    ours, mean, reference, reference_mean = reference_gains(history, names)
    first, second = np.triu_indices(len(names), k=1)
    agreement = spearmanr(ours[first, second], reference[first, second]).statistic
    print(
        f"gain of every pair after {len(history)} random answers, 20 conditions: Spearman "
        f"{agreement:.4f} between the library's full gain and the reference code's; "
        f"posterior means differ by at most {np.max(np.abs(mean - reference_mean)):.3f}"
    )


def run_aigiqa(args: argparse.Namespace) -> None:
    print(
        f"setting aigiqa: {args.prompts} prompts x 15 generators, 14 pairs per group per round",
        flush=True,
    )
    aigiqa_rounds = max(2, (2 * args.rounds) // 3)
    run_setting(
        "aigiqa",
        lambda seed: planted_truth(args.prompts, 15, seed=200 + seed),
        aigiqa_rounds,
        14,
        range(args.first_seed, args.first_seed + max(1, args.repeats // 3)),
        _wanted(args),
    )


def _wanted(args: argparse.Namespace) -> set[str]:
    """The designs asked for (all by default); random pairs always, as the yardstick."""
    return {"random", *(args.design or [label for label, _ in DESIGNS])}


if __name__ == "__main__":
    main()
