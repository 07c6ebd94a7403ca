"""Adaptive allocation: how precise each stimulus's MOS is now, and which stimuli to rate next.

Pure numpy and scipy (no Django), so the platform's playlists and the simulation in
``perf/adaptive_allocation.py`` run the very same policy.

Estimator
---------
A stimulus with ``n`` kept ratings on a dimension, their sum ``S`` and sum of squares ``Q``
(all the database has to aggregate) has the sample variance ``s2 = (Q - S*S/n) / (n - 1)``.
With a handful of ratings ``s2`` is very noisy, and a rule that stops rating once the
interval is narrow would stop early on stimuli whose first raters agreed by chance. So the
variance is shrunk toward ``s0_2``, the dimension's pooled within-stimulus variance (every
stimulus with n >= 2, weighted by its degrees of freedom), as in the empirical-Bayes
"moderated" variance of Smyth (2004)::

    var = (d0 * s0_2 + (n - 1) * s2) / (d0 + n - 1)
    half_width = t(confidence, df = d0 + n - 1) * sqrt(var / n)

``d0`` (``PRIOR_DF``) is the weight of the prior in degrees of freedom: with n = 2 the
stimulus's own variance counts one part in five, with n = 20 it counts nineteen parts in
twenty-three, so a clearly easy or clearly ambiguous stimulus soon shows its own width. With
no ratings the half-width is infinite; with one it is the prior's. Before any stimulus has
two kept ratings, ``s0_2`` falls back to ``(scale range / 4) ** 2``, a wide guess.

Policy
------
``n`` includes ratings promised but not yet given (trials still ahead in unfinished sessions):
a *projected* half-width uses ``n + pending`` with today's variance, so sessions that start
one after another do not all pile onto the same uncertain stimulus. A new session gets

1. stimuli below ``min_ratings`` (given + pending), fewest first, ties at random;
2. then the others whose projected half-width is above the target on some dimension,
   furthest above first (largest ratio half-width / target over the dimensions);
3. never a stimulus at ``max_ratings`` (given + pending) or at the target on every dimension.

The stopping rule only looks at the spread of the ratings, never at their mean; for normal
errors the sample mean is independent of the sample variances seen along the way, so the
MOS stays unbiased (Stein 1945; Chow and Robbins 1965). Clipping at the scale's ends and
careless raters break normality; ``perf/adaptive_allocation.py`` measures the bias.

References: G. K. Smyth, "Linear models and empirical Bayes methods for assessing
differential expression in microarray experiments", Stat. Appl. Genet. Mol. Biol. 3(1),
2004. C. Stein, "A two-sample test for a linear hypothesis whose power is independent of
the variance", Ann. Math. Statist. 16, 1945. Y. S. Chow and H. Robbins, "On the asymptotic
theory of fixed-width sequential confidence intervals for the mean", Ann. Math. Statist.
36, 1965.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

PRIOR_DF = 4.0


@dataclass(frozen=True)
class AllocationPolicy:
    """A study's adaptive settings; ``targets`` are half-widths in dimension order."""

    targets: tuple[float, ...]
    min_ratings: int
    max_ratings: int
    confidence: float = 0.95
    scale_range: float = 100.0
    prior_df: float = PRIOR_DF


@dataclass(frozen=True)
class Tallies:
    """What has been rated so far: rows are stimuli, columns dimensions.

    ``kept_*`` count only the ratings kept by screening; ``given`` counts every first
    showing rated (screened or not, which is what the maximum limits) and ``pending`` the
    trials that unfinished sessions still have ahead of them.
    """

    kept_n: np.ndarray
    kept_sum: np.ndarray
    kept_sumsq: np.ndarray
    given: np.ndarray
    pending: np.ndarray

    @classmethod
    def empty(cls, stimuli: int, dimensions: int) -> Tallies:
        zeros = np.zeros((stimuli, dimensions))
        return cls(zeros, zeros.copy(), zeros.copy(), np.zeros(stimuli), np.zeros(stimuli))


@dataclass(frozen=True)
class AllocationState:
    """Per stimulus (and dimension): where it stands against the policy."""

    half_width: np.ndarray  # (stimuli, dimensions), from the ratings given
    projected: np.ndarray  # (stimuli, dimensions), once pending trials are rated too
    variance: np.ndarray  # (stimuli, dimensions), the moderated variance
    assigned: np.ndarray  # (stimuli,), given + pending
    below_min: np.ndarray
    at_max: np.ndarray
    at_target: np.ndarray  # projected half-width at or below target on every dimension
    priority: np.ndarray  # largest projected half-width / target over the dimensions


def t_quantile(df: np.ndarray | float, confidence: float) -> np.ndarray:
    """Two-sided Student-t critical value for ``confidence`` at ``df`` degrees of freedom."""
    return stdtrit(np.asarray(df, dtype=float), 0.5 + confidence / 2.0)


def sum_of_squares(tallies: Tallies) -> np.ndarray:
    """Within-stimulus sum of squared deviations, (n - 1) * s2, from the aggregated sums."""
    n = tallies.kept_n
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = tallies.kept_sumsq - np.where(n > 0, tallies.kept_sum**2 / n, 0.0)
    # Float cancellation can leave a tiny negative for stimuli where everyone agreed.
    return np.clip(np.where(n > 1, centred, 0.0), 0.0, None)


def pooled_variance(tallies: Tallies, *, scale_range: float) -> np.ndarray:
    """Each dimension's pooled within-stimulus variance (the prior ``s0_2``)."""
    df = np.clip(tallies.kept_n - 1, 0, None).sum(axis=0)
    fallback = (scale_range / 4.0) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = sum_of_squares(tallies).sum(axis=0) / df
    return np.where(df > 0, pooled, fallback)


def moderated_variance(
    tallies: Tallies, *, prior_variance: np.ndarray, prior_df: float
) -> np.ndarray:
    """Each stimulus's variance shrunk toward the pooled one (Smyth 2004)."""
    df = np.clip(tallies.kept_n - 1, 0, None)
    return (prior_df * prior_variance + sum_of_squares(tallies)) / (prior_df + df)


def half_width(
    n: np.ndarray, variance: np.ndarray, *, confidence: float, prior_df: float
) -> np.ndarray:
    """CI half-width of a mean of ``n`` ratings with the moderated ``variance``; inf at n=0."""
    n = np.asarray(n, dtype=float)
    df = prior_df + np.clip(n - 1, 0, None)
    with np.errstate(divide="ignore"):
        return np.where(
            n > 0, t_quantile(df, confidence) * np.sqrt(variance / np.maximum(n, 1)), np.inf
        )


def allocation_state(tallies: Tallies, policy: AllocationPolicy) -> AllocationState:
    prior = pooled_variance(tallies, scale_range=policy.scale_range)
    variance = moderated_variance(tallies, prior_variance=prior, prior_df=policy.prior_df)
    options = {"confidence": policy.confidence, "prior_df": policy.prior_df}
    current = half_width(tallies.kept_n, variance, **options)
    projected = half_width(tallies.kept_n + tallies.pending[:, None], variance, **options)
    targets = np.asarray(policy.targets, dtype=float)
    assigned = tallies.given + tallies.pending
    ratio = projected / targets
    return AllocationState(
        half_width=current,
        projected=projected,
        variance=variance,
        assigned=assigned,
        below_min=assigned < policy.min_ratings,
        at_max=assigned >= policy.max_ratings,
        at_target=(ratio <= 1.0).all(axis=1),
        priority=ratio.max(axis=1, initial=0.0),
    )


def allocation_choose(
    state: AllocationState, *, count: int, tie_break: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Row indices of the ``count`` stimuli a new session should rate, in priority order.

    ``tie_break`` holds one random number per stimulus, so equal stimuli are chosen at
    random but reproducibly.
    """
    tie = np.asarray(tie_break, dtype=float)
    below = np.flatnonzero(state.below_min & ~state.at_max)
    below = below[np.lexsort((tie[below], state.assigned[below]))]
    rest = np.flatnonzero(~state.below_min & ~state.at_max & ~state.at_target)
    rest = rest[np.lexsort((tie[rest], -state.priority[rest]))]
    return np.concatenate([below, rest])[: max(count, 0)]


def ratings_still_needed(
    tallies: Tallies, state: AllocationState, policy: AllocationPolicy
) -> np.ndarray:
    """More ratings each stimulus needs (beyond given and pending) to reach its targets,
    if its moderated variance stays as it is now; capped by the maximum."""
    ceiling = max(policy.max_ratings, 1)
    grid = np.arange(1, ceiling + 1, dtype=float)  # candidate final n
    targets = np.asarray(policy.targets, dtype=float)
    widths = half_width(
        grid[None, None, :],
        state.variance[:, :, None],
        confidence=policy.confidence,
        prior_df=policy.prior_df,
    )
    reached = widths <= targets[None, :, None]
    # First n on the grid that reaches the target; the maximum where none does.
    final_n = np.where(reached.any(axis=2), grid[reached.argmax(axis=2)], float(ceiling))
    projected_n = tallies.kept_n + tallies.pending[:, None]
    more = np.clip(final_n - projected_n, 0, None).max(axis=1)
    more = np.maximum(more, policy.min_ratings - state.assigned)
    return np.clip(np.minimum(more, policy.max_ratings - state.assigned), 0, None)
