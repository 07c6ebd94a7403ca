"""Adaptive against balanced allocation, simulated: ratings saved at equal precision.

    .venv/bin/python perf/adaptive_allocation.py [--sizes 60,2000 --reps 20,3 --target 6]

The crowd follows the demo's rating model (``fixtures/demo_simulation.py``: true scores from
the demo's generators and prompts, subject bias N(0, 6), inconsistency U(4, 12), one subject
in ten careless) plus a per-stimulus *ambiguity*: the spread of opinion an image itself
causes, drawn log-normal (median ``--ambiguity``, log-sd ``--ambiguity-spread``) per stimulus,
jittered per dimension. A rating is

    clip(true + subject_bias + N(0, inconsistency^2 + ambiguity^2), 0, 100), rounded to 0.1

and a careless subject answers uniform(0, 100). Screening is taken as ideal: careless
subjects' ratings are spent but not kept (BT.500 finds them in the demo).

Both policies run on the same stimuli with fresh subjects, ``--concurrent`` sessions at a
time (each new session sees the trials promised to the ones before it), until the same
stopping rule holds: 95 % of stimuli have a CI half-width at or below ``--target`` on every
dimension, by the estimator of ``analysis.allocation`` (the one the platform uses). Balanced
gives each session the least-assigned stimuli (the platform's balanced mode); adaptive is
``analysis.allocation.allocation_choose`` itself. Reported per size, averaged over ``--reps``
replications:

* ratings needed (trials; one trial rates every dimension) until the rule holds, and the
  saving of adaptive against balanced;
* at the adaptive study's budget, the half-width distribution of both (median, 95th
  percentile, max) and the share of stimuli at target;
* at each policy's stop: MOS RMSE against the truth, its mean signed error (bias) and the
  bias of the stimuli adaptive stopped earliest, SRCC of the MOS with the truth, coverage
  of the truth by the CI, and the share within target by the plain t interval (what the
  release's ci95 columns report).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.allocation import (  # noqa: E402
    AllocationPolicy,
    Tallies,
    allocation_choose,
    allocation_state,
    t_quantile,
)
from fixtures.demo_simulation import (  # noqa: E402
    DIMENSIONS,
    GENERATOR_DEGRADATION,
    GENERATORS,
    _true_scores,
)

SCALE = (0.0, 100.0)
CARELESS_SHARE = 0.1
REACHED_SHARE = 0.95


@dataclass(frozen=True)
class Crowd:
    truth: np.ndarray  # (stimuli, dimensions)
    ambiguity: np.ndarray  # (stimuli, dimensions)


@dataclass(frozen=True)
class Settings:
    target: float
    min_ratings: int
    max_ratings: int
    session_size: int
    concurrent: int
    ambiguity: float
    ambiguity_spread: float


def crowd_draw(*, stimuli: int, settings: Settings, rng: np.random.Generator) -> Crowd:
    """True scores by the demo's recipe (generator degradation, off-prompt images), plus
    each stimulus's ambiguity."""
    truth = np.empty((stimuli, len(DIMENSIONS)))
    for index in range(stimuli):
        generator = GENERATORS[index % len(GENERATORS)]
        degradation = float(np.clip(GENERATOR_DEGRADATION[generator] + rng.normal(0, 0.18), 0, 1))
        off_prompt = bool(rng.random() < 0.2)
        scores = _true_scores(degradation, off_prompt, rng)
        truth[index] = [scores[key] for key in DIMENSIONS]
    level = settings.ambiguity * np.exp(rng.normal(0, settings.ambiguity_spread, stimuli))
    jitter = np.exp(rng.normal(0, 0.25, (stimuli, len(DIMENSIONS))))
    return Crowd(truth=truth, ambiguity=level[:, None] * jitter)


def ratings_draw(
    *, crowd: Crowd, rows: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """One new subject's scores on `rows` (every dimension), and whether they were careless."""
    low, high = SCALE
    shape = (len(rows), crowd.truth.shape[1])
    if rng.random() < CARELESS_SHARE:
        return np.round(rng.uniform(low, high, shape), 1), True
    bias, inconsistency = rng.normal(0, 6.0), rng.uniform(4.0, 12.0)
    spread = np.sqrt(inconsistency**2 + crowd.ambiguity[rows] ** 2)
    scores = crowd.truth[rows] + bias + spread * rng.normal(size=shape)
    return np.round(np.clip(scores, low, high), 1), False


class Study:
    """Tallies of one simulated study, in the shape the platform aggregates."""

    def __init__(self, stimuli: int, dimensions: int) -> None:
        self.kept_n = np.zeros((stimuli, dimensions))
        self.kept_sum = np.zeros((stimuli, dimensions))
        self.kept_sumsq = np.zeros((stimuli, dimensions))
        self.given = np.zeros(stimuli)
        self.pending = np.zeros(stimuli)
        self.trials = 0

    def tallies(self) -> Tallies:
        return Tallies(self.kept_n, self.kept_sum, self.kept_sumsq, self.given, self.pending)

    def record(self, rows: np.ndarray, scores: np.ndarray, *, kept: bool) -> None:
        self.pending[rows] -= 1
        self.given[rows] += 1
        self.trials += len(rows)
        if kept:
            self.kept_n[rows] += 1
            self.kept_sum[rows] += scores
            self.kept_sumsq[rows] += scores**2

    def mos(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.kept_sum / self.kept_n


def policy_for(settings: Settings, dimensions: int) -> AllocationPolicy:
    return AllocationPolicy(
        targets=(settings.target,) * dimensions,
        min_ratings=settings.min_ratings,
        max_ratings=settings.max_ratings,
        scale_range=SCALE[1] - SCALE[0],
    )


def choose_balanced(study: Study, count: int, rng: np.random.Generator) -> np.ndarray:
    assigned = study.given + study.pending
    return np.lexsort((rng.random(len(assigned)), assigned))[:count]


def choose_adaptive(
    study: Study, count: int, rng: np.random.Generator, policy: AllocationPolicy
) -> np.ndarray:
    state = allocation_state(study.tallies(), policy)
    return allocation_choose(state, count=count, tie_break=rng.random(len(study.given)))


def reached_share(study: Study, policy: AllocationPolicy) -> float:
    state = allocation_state(study.tallies(), policy)
    return float((state.half_width <= np.asarray(policy.targets)).all(axis=1).mean())


@dataclass
class Snapshot:
    trials: int
    half_width: np.ndarray
    plain_half_width: np.ndarray
    mos: np.ndarray
    n: np.ndarray


def snapshot_take(study: Study, policy: AllocationPolicy) -> Snapshot:
    state = allocation_state(study.tallies(), policy)
    n = study.kept_n
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (study.kept_sumsq - study.kept_sum**2 / n) / (n - 1)
        plain = t_quantile(np.maximum(n - 1, 1), policy.confidence) * np.sqrt(
            np.clip(variance, 0, None) / n
        )
    plain = np.where(n > 1, plain, np.inf)
    return Snapshot(study.trials, state.half_width.copy(), plain, study.mos(), n.copy())


def study_run(
    *,
    crowd: Crowd,
    settings: Settings,
    adaptive: bool,
    rng: np.random.Generator,
    budget_mark: int | None = None,
    trials_cap: int = 10_000_000,
) -> tuple[Snapshot, Snapshot | None]:
    """Run sessions until the stopping rule holds; also snapshot at `budget_mark` trials."""
    stimuli, dimensions = crowd.truth.shape
    policy = policy_for(settings, dimensions)
    study = Study(stimuli, dimensions)
    count = min(settings.session_size, stimuli)
    at_mark = None
    while study.trials < trials_cap:
        batch = []
        for _ in range(settings.concurrent):
            if adaptive:
                rows = choose_adaptive(study, count, rng, policy)
            else:
                rows = choose_balanced(study, count, rng)
            if len(rows) == 0:
                break
            study.pending[rows] += 1
            batch.append(rows)
        if not batch:
            break
        # Sessions finish one after another; the rule is checked after each, so neither
        # policy overshoots by more than one session (those still under way are not counted).
        for rows in batch:
            scores, careless = ratings_draw(crowd=crowd, rows=rows, rng=rng)
            study.record(rows, scores, kept=not careless)
            if budget_mark is not None and at_mark is None and study.trials >= budget_mark:
                at_mark = snapshot_take(study, policy)
            if reached_share(study, policy) >= REACHED_SHARE:
                return snapshot_take(study, policy), at_mark
    return snapshot_take(study, policy), at_mark


def srcc(mos: np.ndarray, truth: np.ndarray) -> float:
    values = []
    for column in range(truth.shape[1]):
        ok = np.isfinite(mos[:, column])
        values.append(spearmanr(mos[ok, column], truth[ok, column]).statistic)
    return float(np.mean(values))


def quality_of(snapshot: Snapshot, crowd: Crowd, target: float) -> dict:
    error = snapshot.mos - crowd.truth
    ok = np.isfinite(error)
    covered = np.abs(error) <= snapshot.half_width
    # The stimuli stopped earliest: where adaptive stopping would bias a mean, it is here.
    low_n = snapshot.n <= np.quantile(snapshot.n, 0.25)
    widths = snapshot.half_width[np.isfinite(snapshot.half_width)]
    return {
        "rmse": float(np.sqrt(np.mean(error[ok] ** 2))),
        "bias": float(np.mean(error[ok])),
        "bias_low_n": float(np.mean(error[ok & low_n])),
        "srcc": srcc(snapshot.mos, crowd.truth),
        "coverage": float(covered[ok].mean()),
        "plain_at_target": float((snapshot.plain_half_width <= target).all(axis=1).mean()),
        "plain_p95": float(np.quantile(snapshot.plain_half_width, 0.95)),
        "hw_median": float(np.median(widths)),
        "hw_p95": float(np.quantile(widths, 0.95)),
        "hw_max": float(widths.max()),
        "at_target": float((snapshot.half_width <= target).all(axis=1).mean()),
        "n_min": float(snapshot.n.min()),
        "n_max": float(snapshot.n.max()),
    }


def compare(*, stimuli: int, settings: Settings, seed: int) -> dict:
    """One replication: the same stimuli under both policies, fresh subjects for each."""
    crowd = crowd_draw(stimuli=stimuli, settings=settings, rng=np.random.default_rng(seed))
    adaptive, _ = study_run(
        crowd=crowd,
        settings=settings,
        adaptive=True,
        rng=np.random.default_rng([seed, 1]),
    )
    balanced, balanced_at_budget = study_run(
        crowd=crowd,
        settings=settings,
        adaptive=False,
        rng=np.random.default_rng([seed, 2]),
        budget_mark=adaptive.trials,
    )
    if balanced_at_budget is None:  # balanced stopped first: compare at its own stop
        balanced_at_budget = balanced
    return {
        "trials_balanced": balanced.trials,
        "trials_adaptive": adaptive.trials,
        "balanced": quality_of(balanced, crowd, settings.target),
        "adaptive": quality_of(adaptive, crowd, settings.target),
        "balanced_at_budget": quality_of(balanced_at_budget, crowd, settings.target),
    }


def summarise(runs: list[dict]) -> dict:
    def values_at(path: tuple[str, ...]) -> list[float]:
        values = []
        for run in runs:
            value = run
            for key in path:
                value = value[key]
            values.append(value)
        return values

    def mean(path: tuple[str, ...]) -> float:
        return float(np.mean(values_at(path)))

    def spread(path: tuple[str, ...]) -> float:
        values = values_at(path)
        return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0

    trials_b, trials_a = mean(("trials_balanced",)), mean(("trials_adaptive",))
    saving = [1 - run["trials_adaptive"] / run["trials_balanced"] for run in runs]
    return {
        "trials_balanced": trials_b,
        "trials_adaptive": trials_a,
        "saving": float(np.mean(saving)),
        "saving_se": float(np.std(saving, ddof=1) / np.sqrt(len(saving))) if len(runs) > 1 else 0,
        "mean": mean,
        "se": spread,
    }


def table_print(stimuli: int, reps: int, summary: dict, seconds: float) -> None:
    mean, se = summary["mean"], summary["se"]
    print(f"\n## {stimuli} stimuli x {len(DIMENSIONS)} dimensions, {reps} replications")
    print(
        f"ratings needed until {REACHED_SHARE:.0%} of stimuli reach the target "
        "(trials; one trial rates every dimension):"
    )
    print(f"  balanced  {summary['trials_balanced']:10.0f}")
    print(f"  adaptive  {summary['trials_adaptive']:10.0f}")
    print(f"  saving    {summary['saving']:10.1%}  (+- {summary['saving_se']:.1%} s.e.)")
    header = (
        f"{'':34}{'hw median':>10}{'hw p95':>8}{'hw max':>8}{'at tgt':>8}"
        f"{'RMSE':>7}{'bias':>7}{'bias lowN':>10}{'SRCC':>7}{'cover':>7}{'plain t':>8}"
        f"{'plain p95':>10}"
    )
    print(header)
    rows = (
        ("balanced, at its stop", "balanced"),
        ("adaptive, at its stop", "adaptive"),
        ("balanced, at adaptive's budget", "balanced_at_budget"),
    )
    for title, key in rows:
        print(
            f"{title:34}"
            f"{mean((key, 'hw_median')):10.2f}{mean((key, 'hw_p95')):8.2f}"
            f"{mean((key, 'hw_max')):8.2f}{mean((key, 'at_target')):8.1%}"
            f"{mean((key, 'rmse')):7.2f}{mean((key, 'bias')):+7.2f}"
            f"{mean((key, 'bias_low_n')):+10.2f}{mean((key, 'srcc')):7.4f}"
            f"{mean((key, 'coverage')):7.1%}{mean((key, 'plain_at_target')):8.1%}"
            f"{mean((key, 'plain_p95')):10.2f}"
        )
    print(
        "bias s.e. across replications: "
        f"balanced {se(('balanced', 'bias')):.2f}, adaptive {se(('adaptive', 'bias')):.2f}; "
        "SRCC adaptive - balanced: at equal budget "
        f"{mean(('adaptive', 'srcc')) - mean(('balanced_at_budget', 'srcc')):+.4f}, "
        f"at each one's stop {mean(('adaptive', 'srcc')) - mean(('balanced', 'srcc')):+.4f}; "
        f"ratings per stimulus under adaptive: {mean(('adaptive', 'n_min')):.0f}"
        f"..{mean(('adaptive', 'n_max')):.0f} (mean over replications); {seconds:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="60,2000", help="stimulus counts, comma-separated")
    parser.add_argument("--reps", default="20,3", help="replications per size")
    parser.add_argument("--target", type=float, default=6.0, help="CI half-width on 0..100")
    parser.add_argument("--min-ratings", type=int, default=5)
    parser.add_argument("--max-ratings", type=int, default=80)
    parser.add_argument("--session-size", type=int, default=60, help="the demo's 60")
    parser.add_argument("--concurrent", type=int, default=4, help="sessions under way at once")
    parser.add_argument("--ambiguity", type=float, default=6.0, help="median ambiguity SD")
    parser.add_argument("--ambiguity-spread", type=float, default=0.6, help="its log-sd")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    reps = [int(part) for part in args.reps.split(",")]
    reps += [reps[-1]] * (len(sizes) - len(reps))
    settings = Settings(
        target=args.target,
        min_ratings=args.min_ratings,
        max_ratings=args.max_ratings,
        session_size=args.session_size,
        concurrent=args.concurrent,
        ambiguity=args.ambiguity,
        ambiguity_spread=args.ambiguity_spread,
    )
    print(
        f"target CI half-width {settings.target:g} (95 %, 0..100 scale, every dimension); "
        f"min {settings.min_ratings}, max {settings.max_ratings} ratings; session "
        f"{settings.session_size} trials, {settings.concurrent} at once; ambiguity median "
        f"{settings.ambiguity:g}, log-sd {settings.ambiguity_spread:g}; seed {args.seed}"
    )
    for stimuli, count in zip(sizes, reps, strict=True):
        started = time.perf_counter()
        runs = [
            compare(stimuli=stimuli, settings=settings, seed=args.seed * 1000 + rep)
            for rep in range(count)
        ]
        table_print(stimuli, count, summarise(runs), time.perf_counter() - started)
    print(
        "\nhw = CI half-width (moderated t, analysis.allocation); at tgt = stimuli at target "
        "on every dimension; bias = mean(MOS - truth); bias lowN = the same over the quarter "
        "of stimuli with the fewest ratings; cover = CIs that cover the truth; plain t = "
        "stimuli at target by the plain t interval t(n-1) s / sqrt(n) (the release's ci95 "
        "columns), plain p95 = its 95th percentile."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
