"""ASAP as its authors' reference implementation runs it, for comparison in perf/ only.

Written from a reading of the algorithm in the authors' Python code (gfxdisp/asap,
``asap_cpu.py``, batch mode with full posterior updates, no selective evaluations), not
copied; the library's own design is :class:`analysis.pairwise.ActiveDesign`. What this one
keeps from the reference and the library does differently:

* the posterior of a round is 6 parallel EP sweeps that start from the *previous round's
  posterior* with every game's message reset to zero (the library runs EP from the prior
  to convergence);
* each candidate outcome is scored after 4 sweeps over history + candidate that start from
  that posterior and from the messages the *previous candidate's* sweeps left (the
  reference keeps them in one shared buffer); the library warm-starts every candidate from
  the converged messages;
* the gain is ``sum log(v_old / v_new) + sum v_new / v_old + sum (m_new - m_old)^2 / v_old``
  over all scores (twice the KL divergence plus a constant: the same ranking of pairs).

The batch is the minimum spanning tree of ``1 / gain``; before ``n - 1`` outcomes the tree
is random. One state per group (the conditions tuple), reset when a history is empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.special import log_ndtr, ndtr

from analysis.pairwise.trueskill import converged_messages, full_information_gain

PRIOR_VARIANCE = 0.5
ROUND_SWEEPS = 6
CANDIDATE_SWEEPS = 4


def _ratio(standard: np.ndarray) -> np.ndarray:
    """phi(z) / Phi(z)."""
    return np.exp(-0.5 * standard**2 - 0.5 * np.log(2 * np.pi) - log_ndtr(standard))


@dataclasses.dataclass
class _State:
    mean: np.ndarray
    precision: np.ndarray
    message_precision: np.ndarray
    message_mean: np.ndarray


def _sweeps(
    games: np.ndarray,
    state: _State,
    start_mean: np.ndarray,
    start_precision: np.ndarray,
    sweeps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Parallel EP sweeps from the given marginals; the messages in ``state`` are updated."""
    mean, precision = start_mean.copy(), start_precision.copy()
    size = len(mean)
    for _ in range(sweeps):
        cavity_precision = precision[games] - state.message_precision
        cavity_mean = (
            precision[games] * mean[games] - state.message_precision * state.message_mean
        ) / cavity_precision
        spread = 1.0 + np.sum(1.0 / cavity_precision, axis=1)
        difference = cavity_mean[:, 0] - cavity_mean[:, 1]
        standard = difference / np.sqrt(spread)
        ratio = _ratio(standard)
        truncated_mean = difference + np.sqrt(spread) * ratio
        truncated_precision = 1.0 / (spread * (1.0 - ratio * (ratio + standard)))
        to_difference = truncated_precision - 1.0 / spread
        to_difference_mean = (
            truncated_mean * truncated_precision - difference / spread
        ) / to_difference
        swapped = cavity_precision[:, ::-1]
        state.message_precision = 1.0 / (1.0 + 1.0 / to_difference[:, None] + 1.0 / swapped)
        state.message_mean = (
            np.stack([to_difference_mean, -to_difference_mean], axis=1) + cavity_mean[:, ::-1]
        )
        flat = games.ravel()
        precision = 1.0 / PRIOR_VARIANCE + np.bincount(
            flat, weights=state.message_precision.ravel(), minlength=size
        )
        mean = (
            np.bincount(
                flat,
                weights=(state.message_precision * state.message_mean).ravel(),
                minlength=size,
            )
            / precision
        )
    return mean, precision


def _gain_matrix(games: np.ndarray, state: _State) -> np.ndarray:
    """Expected gain of every pair, lower triangle, candidates scored in the reference's
    order (rows from 1, columns below the row) with the shared message buffer."""
    size = len(state.mean)
    mean, variance = state.mean, 1.0 / state.precision
    gains = np.zeros((size, size))
    state.message_precision = np.zeros((len(games) + 1, 2))
    state.message_mean = np.zeros((len(games) + 1, 2))
    for row in range(1, size):
        for column in range(row):
            scored = []
            for winner, loser in ((row, column), (column, row)):
                extended = np.vstack([games, [[winner, loser]]])
                new_mean, new_precision = _sweeps(
                    extended, state, mean, state.precision, CANDIDATE_SWEEPS
                )
                new_variance = 1.0 / new_precision
                scored.append(
                    np.sum(np.log(variance) - np.log(new_variance))
                    + np.sum(new_variance / variance)
                    + np.sum((new_mean - mean) ** 2 / variance)
                )
            p_row = ndtr(
                (mean[row] - mean[column]) / np.sqrt(1.0 + variance[row] + variance[column])
            )
            gains[row, column] = p_row * scored[0] + (1.0 - p_row) * scored[1]
    return np.nan_to_num(gains, nan=0.0)


@dataclasses.dataclass
class ReferenceASAP:
    name: str = "asap reference"
    states: dict[tuple[str, ...], _State] = dataclasses.field(default_factory=dict)

    def next_pairs(
        self,
        history: pd.DataFrame,
        conditions: Sequence[str],
        batch_size: int,
        rng: np.random.Generator,
        pending: Collection[tuple[str, str]] = (),
    ) -> list[tuple[str, str]]:
        names = [str(c) for c in conditions]
        size, key = len(names), tuple(names)
        if len(history) == 0 or key not in self.states:
            self.states[key] = _State(
                np.zeros(size),
                np.full(size, 1.0 / PRIOR_VARIANCE),
                np.zeros((0, 2)),
                np.zeros((0, 2)),
            )
        state = self.states[key]
        games = _games(history, names)
        state.message_precision = np.zeros((len(games), 2))
        state.message_mean = np.zeros((len(games), 2))
        state.mean, state.precision = _sweeps(
            games, state, state.mean, state.precision, ROUND_SWEEPS
        )
        if len(games) < size - 1:
            gains = np.tril(rng.random((size, size)), k=-1)
        else:
            gains = _gain_matrix(games, state)
        symmetric = gains + gains.T
        weights = np.where(symmetric > 0, 1.0 / np.where(symmetric > 0, symmetric, 1.0), 0.0)
        tree = minimum_spanning_tree(weights).tocoo()
        order = np.argsort(tree.data)
        pairs = [(names[tree.row[k]], names[tree.col[k]]) for k in order][:batch_size]
        return [(b, a) if rng.random() < 0.5 else (a, b) for a, b in pairs]


def _games(history: pd.DataFrame, names: list[str]) -> np.ndarray:
    """(winner, loser) index rows of the decided answers, in the reference's order (by
    winner, then loser, repeats together)."""
    if len(history) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    index = {name: k for k, name in enumerate(names)}
    left = history["left"].astype(str).map(index).to_numpy()
    right = history["right"].astype(str).map(index).to_numpy()
    choice = history["choice"].to_numpy()
    wins = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(wins, (left[choice == "left"], right[choice == "left"]), 1)
    np.add.at(wins, (right[choice == "right"], left[choice == "right"]), 1)
    winner, loser = np.nonzero(wins)
    repeats = wins[winner, loser]
    return np.stack([np.repeat(winner, repeats), np.repeat(loser, repeats)], axis=1)


def reference_gains(
    history: pd.DataFrame, names: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(library gains, library posterior means, reference gains, reference means) of one
    history: the reference's round posterior from the prior, then its candidate loop."""
    games = _games(history, names)
    size = len(names)
    posterior, _ = converged_messages(size, games[:, 0], games[:, 1], PRIOR_VARIANCE)
    ours = full_information_gain(size, games[:, 0], games[:, 1], prior_variance=PRIOR_VARIANCE)
    state = _State(
        np.zeros(size), np.full(size, 1.0 / PRIOR_VARIANCE), np.zeros((0, 2)), np.zeros((0, 2))
    )
    state.message_precision = np.zeros((len(games), 2))
    state.message_mean = np.zeros((len(games), 2))
    state.mean, state.precision = _sweeps(games, state, state.mean, state.precision, ROUND_SWEEPS)
    reference = _gain_matrix(games, state)
    return ours, posterior.mean, reference + reference.T, state.mean
