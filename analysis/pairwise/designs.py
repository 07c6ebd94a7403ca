"""Which pairs of a comparison group to show next: full, random and active (ASAP) designs.

All three answer the same call::

    design.next_pairs(history, conditions, batch_size, rng, pending=())

``history`` is the group's choices so far (a choices table: ``left``, ``right``, ``choice``;
other columns are ignored), ``conditions`` the group's stimuli, ``pending`` pairs already
served and not yet answered (they are avoided while other pairs remain, so concurrent
subjects get different pairs). The answer is a list of ``batch_size`` pairs ``(a, b)`` in
random order and orientation, so ``a`` can be shown on the left.

* :class:`FullDesign` - every pair equally often: the least-compared pairs first.
* :class:`RandomDesign` - pairs drawn uniformly (no pair twice in one batch).
* :class:`ActiveDesign` - ASAP (Mikhailiuk et al., ICPR 2020): the expected information
  gain of every pair under the Gaussian posterior of :mod:`analysis.pairwise.trueskill`;
  a batch is a spanning tree of maximum gain (the minimum spanning tree of ``1 / gain``, as
  in the authors' reference implementation), so every round connects all conditions. The
  tree's edges go by decreasing gain; a batch larger than ``n - 1`` takes further trees of
  the remaining pairs. Until the history holds ``n - 1`` outcomes the tree is random, as in
  the reference implementation.
* :class:`VarianceDesign` - the pairs that most reduce the expected error of the scale (the
  total posterior variance of the centred scores, a Laplace posterior with full covariance,
  :mod:`analysis.pairwise.laplace`), chosen greedily: each pick is added to the posterior
  before the next. Pending pairs are added the same way, so concurrent subjects are sent
  where the pairs already out leave the scale least certain. On the planted truths of
  ``perf/pairwise_designs.py`` it needs 0.69-0.83 of random pairs' comparisons for
  random's RMSE where ASAP needs 0.81-0.95 (true scores of sd 1.5 JOD; the best allocation
  knowing the truth needs 0.74-0.77), and 0.47 at sd 3 JOD (ASAP 0.52).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import minimum_spanning_tree

from analysis._checks import check_choice, check_int_at_least, check_number
from analysis.errors import RatingsError
from analysis.pairwise.laplace import ScaleUncertainty, laplace_posterior
from analysis.pairwise.trueskill import full_information_gain, information_gain, posterior

Pair = tuple[str, str]
# Candidate answers x history games the "auto" gain still solves with full updates (about a
# quarter of a second on a 2-core machine).
FULL_GAIN_BUDGET = 250_000


class PairDesign(Protocol):
    name: str

    def next_pairs(
        self,
        history: pd.DataFrame,
        conditions: Sequence[str],
        batch_size: int,
        rng: np.random.Generator,
        pending: Collection[Pair] = (),
    ) -> list[Pair]: ...


@dataclasses.dataclass(frozen=True)
class FullDesign:
    name: str = "full"

    def next_pairs(
        self,
        history: pd.DataFrame,
        conditions: Sequence[str],
        batch_size: int,
        rng: np.random.Generator,
        pending: Collection[Pair] = (),
    ) -> list[Pair]:
        names, counts, _, _ = _history_matrices(history, conditions, pending)
        # Pending pairs count as shown: they will be answered soon.
        order = _ranked_pairs(-(counts + counts.T), rng)
        return _as_pairs(names, order[: _checked_batch(batch_size, len(names))], rng)


@dataclasses.dataclass(frozen=True)
class RandomDesign:
    name: str = "random"

    def next_pairs(
        self,
        history: pd.DataFrame,
        conditions: Sequence[str],
        batch_size: int,
        rng: np.random.Generator,
        pending: Collection[Pair] = (),
    ) -> list[Pair]:
        names, _, _, busy = _history_matrices(history, conditions, pending)
        order = _ranked_pairs(-(busy + busy.T).astype(float), rng)
        return _as_pairs(names, order[: _checked_batch(batch_size, len(names))], rng)


@dataclasses.dataclass(frozen=True)
class ActiveDesign:
    """ASAP. ``gain="full"``: each candidate's gain from a full (4-sweep) posterior update,
    as ASAP's default; ``"approx"``: ASAP-approx's update of the pair's two marginals only,
    whose cost does not grow with the history; ``"auto"`` (default): full while the work
    (2 x pairs x answers) stays under :data:`FULL_GAIN_BUDGET`, else approx - so a group of
    15 gets the full gain for its first ~1000 answers and a group of 50 stays fast.
    ``prior_variance`` of the scores in standard-normal units (ASAP: 0.5)."""

    name: str = "active"
    gain: Literal["auto", "full", "approx"] = "auto"
    prior_variance: float = 0.5

    def __post_init__(self) -> None:
        check_choice("active.gain", self.gain, ("auto", "full", "approx"))
        check_number("active.prior_variance", self.prior_variance, minimum=0.0, inclusive=False)

    def next_pairs(
        self,
        history: pd.DataFrame,
        conditions: Sequence[str],
        batch_size: int,
        rng: np.random.Generator,
        pending: Collection[Pair] = (),
    ) -> list[Pair]:
        names, _, wins, busy = _history_matrices(history, conditions, pending)
        size = len(names)
        wanted = _checked_batch(batch_size, size)
        if wins.sum() < size - 1:
            gains = np.triu(rng.random((size, size)) + 1e-3, k=1)
            gains = gains + gains.T
        else:
            gains = self._gains(size, *_outcomes(wins))
        gains = np.where(busy | busy.T, 0.0, gains)
        chosen = _spanning_tree_batches(gains, wanted, rng)
        return _as_pairs(names, chosen, rng)

    def _gains(self, size: int, winners: np.ndarray, losers: np.ndarray) -> np.ndarray:
        work = size * (size - 1) * (len(winners) + 1)
        if self.gain == "full" or (self.gain == "auto" and work <= FULL_GAIN_BUDGET):
            return full_information_gain(size, winners, losers, prior_variance=self.prior_variance)
        state = posterior(size, winners, losers, prior_variance=self.prior_variance)
        return information_gain(state)


@dataclasses.dataclass(frozen=True)
class VarianceDesign:
    """Least expected scale error (a sequential A-optimal design). ``prior_variance`` of the
    scores in standard-normal units: 4 (sd 2, about 1.35 JOD), the size of a comparison
    group of generated images that differ visibly. A group of more than
    ``max_conditions`` (whose covariance would cost seconds under the study lock) gets
    :class:`ActiveDesign`'s pairs instead."""

    name: str = "variance"
    prior_variance: float = 4.0
    max_conditions: int = 200

    def __post_init__(self) -> None:
        check_number("variance.prior_variance", self.prior_variance, minimum=0.0, inclusive=False)
        check_int_at_least("variance.max_conditions", self.max_conditions, 2)

    def next_pairs(
        self,
        history: pd.DataFrame,
        conditions: Sequence[str],
        batch_size: int,
        rng: np.random.Generator,
        pending: Collection[Pair] = (),
    ) -> list[Pair]:
        if len(set(conditions)) > self.max_conditions:
            return ActiveDesign().next_pairs(history, conditions, batch_size, rng, pending)
        names, _, wins, busy = _history_matrices(history, conditions, pending)
        state = laplace_posterior(wins, prior_variance=self.prior_variance)
        uncertainty = ScaleUncertainty(state.mean, state.covariance)
        for first, second in zip(*np.nonzero(busy), strict=True):
            uncertainty.add(int(first), int(second))
        wanted = _checked_batch(batch_size, len(names))
        return _as_pairs(names, _greedy_batch(uncertainty, busy | busy.T, wanted, rng), rng)


def _greedy_batch(
    uncertainty: ScaleUncertainty, taken: np.ndarray, wanted: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Pairs by largest gain, each added to the posterior before the next is chosen; no
    pair twice, pending pairs last (as the other designs do when all else is taken)."""
    first, second = uncertainty.first, uncertainty.second
    # Equal gains (no answers yet) are broken at random, not by position.
    jitter = 1.0 + 1e-9 * rng.random(len(first))
    free = ~taken[first, second]
    chosen: list[tuple[int, int]] = []
    while len(chosen) < wanted and free.any():
        gains = uncertainty.gains()
        pick = int(np.argmax(np.where(free, gains.gain * jitter, -np.inf)))
        chosen.append((int(first[pick]), int(second[pick])))
        free[pick] = False
        uncertainty.add(*chosen[-1], float(gains.information[pick]))
    if len(chosen) < wanted:
        rest = [p for p in _ranked_pairs(np.zeros_like(taken, dtype=float), rng) if p not in chosen]
        chosen += rest[: wanted - len(chosen)]
    return chosen


def _checked_batch(batch_size: int, size: int) -> int:
    check_int_at_least("batch_size", batch_size, 1)
    return min(batch_size, size * (size - 1) // 2)


def _history_matrices(
    history: pd.DataFrame, conditions: Sequence[str], pending: Collection[Pair]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Names, comparison counts, whole-outcome wins (ties dropped) and pending pairs, n x n."""
    names = [str(c) for c in conditions]
    if len(set(names)) < 2:
        raise RatingsError(f"a comparison group needs two conditions, got {len(set(names))}")
    index = {name: k for k, name in enumerate(names)}
    left = history["left"].astype(str).map(index) if len(history) else pd.Series([], dtype=float)
    right = history["right"].astype(str).map(index) if len(history) else pd.Series([], dtype=float)
    unknown = left.isna() | right.isna()
    if unknown.any():
        row = history.index[np.flatnonzero(unknown.to_numpy())[0]]
        raise RatingsError(f"history row {row} names a stimulus that is not among the conditions")
    size = len(names)
    counts = np.zeros((size, size))
    np.add.at(counts, (left.to_numpy(int), right.to_numpy(int)), 1.0)
    wins = np.zeros((size, size))
    choice = history["choice"].to_numpy() if len(history) else np.array([])
    for chosen, winner, loser in (("left", left, right), ("right", right, left)):
        rows = choice == chosen
        np.add.at(wins, (winner.to_numpy(int)[rows], loser.to_numpy(int)[rows]), 1.0)
    busy = np.zeros((size, size), dtype=bool)
    for first, second in pending:
        if first in index and second in index:
            busy[index[first], index[second]] = True
    counts = counts + busy
    return names, counts, wins, busy


def _outcomes(wins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    winner, loser = np.nonzero(wins)
    repeats = wins[winner, loser].astype(int)
    return np.repeat(winner, repeats), np.repeat(loser, repeats)


def _ranked_pairs(score: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Upper-triangle pairs by decreasing ``score``, ties in random order."""
    first, second = np.triu_indices(score.shape[0], k=1)
    order = np.lexsort((rng.random(len(first)), -score[first, second]))
    return [(int(first[k]), int(second[k])) for k in order]


def _spanning_tree_batches(
    gains: np.ndarray, wanted: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Edges of successive maximum-gain spanning trees (forests), best gain first."""
    remaining = np.triu(gains, k=1).copy()
    chosen: list[tuple[int, int]] = []
    while len(chosen) < wanted:
        available = remaining > 0
        if not available.any():
            break
        weights = np.where(available, 1.0 / np.maximum(remaining, 1e-300), 0.0)
        tree = minimum_spanning_tree(weights).tocoo()
        edges = sorted(
            (
                (min(a, b), max(a, b))
                for a, b in zip(tree.row.tolist(), tree.col.tolist(), strict=True)
            ),
            key=lambda edge: -remaining[edge],
        )
        for edge in edges[: wanted - len(chosen)]:
            chosen.append(edge)
            remaining[edge] = 0.0
    if len(chosen) < wanted:
        # Every pair not pending is taken: fill up with the pending ones, least recent last.
        rest = [p for p in _ranked_pairs(np.zeros_like(gains), rng) if p not in chosen]
        chosen += rest[: wanted - len(chosen)]
    return chosen


def _as_pairs(
    names: list[str], pairs: list[tuple[int, int]], rng: np.random.Generator
) -> list[Pair]:
    order = rng.permutation(len(pairs))
    flips = rng.random(len(pairs)) < 0.5
    out = []
    for position in order:
        first, second = pairs[position]
        flipped = flips[position]
        out.append((names[second], names[first]) if flipped else (names[first], names[second]))
    return out
