"""A Gaussian posterior with full covariance over a group's scores (Laplace approximation),
and the expected drop in the scale's error from comparing each pair next.

Model as in :mod:`analysis.pairwise.trueskill`: scores ``s ~ N(0, prior_variance I)`` in
standard-normal units (1 JOD = 1.4826 of them), ``i`` chosen over ``j`` when
``s_i - s_j + noise > 0`` with ``noise ~ N(0, 1)``; "no preference" answers are left out.
The posterior is approximated at its mode by the Gaussian whose precision is the Hessian
there. Unlike the EP marginals of the TrueSkill posterior it keeps the correlations between
scores, which are what decide how precisely the *differences* - the scale - are known: two
conditions never compared with each other are still well placed when both are tied to a
third.

The gain of a pair is the expected reduction of the trace of the posterior covariance of
the centred scores (the scale's mean squared error, as the scale has mean 0) when one
answer to that pair is added with its expected Fisher information. A greedy batch of such
gains, each pick added before the next is chosen, is a sequential A-optimal design (Chaloner
and Verdinelli, "Bayesian experimental design: a review", Statist. Sci. 1995).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import log_ndtr, ndtr

from analysis.pairwise._solver import (
    NewtonOptions,
    minimise,
    pair_gradient,
    pair_hessian,
    pair_indices,
)

LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclasses.dataclass(frozen=True)
class GaussianPosterior:
    """Mean ``(n,)`` and covariance ``(n, n)`` of the scores (standard-normal units)."""

    mean: np.ndarray
    covariance: np.ndarray


def _mills(difference: np.ndarray) -> np.ndarray:
    """``phi(x) / Phi(x)``, stable far out on the tail."""
    return np.exp(-0.5 * difference**2 - LOG_SQRT_2PI - log_ndtr(difference))


def _probit_curvature(difference: np.ndarray) -> np.ndarray:
    """Second derivative of ``-log Phi(x)``: ``lambda (x + lambda)``, in (0, 1)."""
    ratio = _mills(difference)
    return np.clip(ratio * (difference + ratio), 0.0, 1.0)


class _ProbitProblem:
    """Negative log-likelihood of one group's win counts, in the form of the Newton solver."""

    def __init__(self, wins: np.ndarray) -> None:
        first, second = pair_indices(wins.shape[0])
        self.forward = wins[first, second][None]
        self.backward = wins[second, first][None]
        self.first, self.second = first, second

    def evaluate(
        self, scores: np.ndarray, rows: np.ndarray, derivatives: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        difference = scores[:, self.first] - scores[:, self.second]
        value = -np.sum(
            self.forward * log_ndtr(difference) + self.backward * log_ndtr(-difference), axis=1
        )
        if not derivatives:
            return value, np.empty(0), np.empty(0)
        slope = -self.forward * _mills(difference) + self.backward * _mills(-difference)
        return value, pair_gradient(slope, scores.shape[1]), self.curvature(difference)

    def curvature(self, difference: np.ndarray) -> np.ndarray:
        return self.forward * _probit_curvature(difference) + self.backward * _probit_curvature(
            -difference
        )


def laplace_posterior(wins: np.ndarray, *, prior_variance: float) -> GaussianPosterior:
    """Posterior of the scores of one group from its ``(n, n)`` win counts (``wins[i, j]``:
    times ``i`` was chosen over ``j``; ties left out)."""
    size = wins.shape[0]
    problem = _ProbitProblem(np.asarray(wins, dtype=float))
    ridge = 1.0 / prior_variance
    mode, _ = minimise(
        problem.evaluate,
        np.zeros((1, size)),
        np.ones((1, size), dtype=bool),
        ridge=ridge,
        options=NewtonOptions(max_iterations=50),
    )
    difference = mode[:, problem.first] - mode[:, problem.second]
    precision = pair_hessian(problem.curvature(difference), size)[0] + ridge * np.eye(size)
    return GaussianPosterior(mean=mode[0], covariance=np.linalg.inv(precision))


@dataclasses.dataclass(frozen=True)
class PairGains:
    """For every upper-triangle pair ``(first[k], second[k])``: the expected reduction of
    the centred scores' total variance (``gain``) and the expected Fisher information of one
    answer (``information``), used to add a chosen pair to the posterior."""

    first: np.ndarray
    second: np.ndarray
    gain: np.ndarray
    information: np.ndarray


class ScaleUncertainty:
    """The posterior covariance ``S`` of a group's scores and ``S C S`` (``C`` centres the
    scores), kept up to date as answers are added, so a greedy batch costs ``O(n^2)`` a
    pick rather than a matrix product."""

    def __init__(self, mean: np.ndarray, covariance: np.ndarray) -> None:
        self.mean = mean
        self.covariance = covariance.copy()
        centred = covariance - covariance.mean(axis=0, keepdims=True)
        self.gram = centred.T @ centred
        self.first, self.second = pair_indices(len(mean))

    def centred_variance(self) -> float:
        """Total variance of the centred scores: the scale's expected squared error."""
        return float(np.trace(self.covariance) - self.covariance.sum() / len(self.mean))

    def gains(self) -> PairGains:
        """:class:`PairGains` of every pair."""
        first, second = self.first, self.second
        gram_diagonal = np.diag(self.gram)
        # d' S C S d: how far one answer to the pair moves the centred scores.
        moved = gram_diagonal[first] + gram_diagonal[second] - 2.0 * self.gram[first, second]
        spread = _difference_variance(self.covariance, first, second)
        information = answer_information(self.mean, self.covariance, first, second)
        gain = information * moved / (1.0 + information * spread)
        return PairGains(first, second, gain, information)

    def add(self, first: int, second: int, information: float | None = None) -> None:
        """Add one answer to the pair (its expected information unless given): the
        Sherman-Morrison update of ``S`` and the matching rank-two update of ``S C S``."""
        if information is None:
            pair = (np.array([first]), np.array([second]))
            information = float(answer_information(self.mean, self.covariance, *pair)[0])
        along = self.covariance[:, first] - self.covariance[:, second]
        weight = information / (1.0 + information * (along[first] - along[second]))
        centred_along = along - along.mean()
        pushed = self.covariance @ centred_along
        self.gram += -weight * (np.outer(along, pushed) + np.outer(pushed, along)) + (
            weight**2 * float(along @ centred_along) * np.outer(along, along)
        )
        self.covariance -= weight * np.outer(along, along)


def _difference_variance(
    covariance: np.ndarray, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    diagonal = np.diag(covariance)
    return diagonal[first] + diagonal[second] - 2.0 * covariance[first, second]


def answer_information(
    mean: np.ndarray, covariance: np.ndarray, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """Expected Fisher information of one answer about ``s_first - s_second``, averaged over
    the predictive uncertainty of the difference (as the TrueSkill update's
    ``1 + v_i + v_j`` does)."""
    spread = 1.0 + _difference_variance(covariance, first, second)
    standard = (mean[first] - mean[second]) / np.sqrt(spread)
    chance = ndtr(standard)
    density = np.exp(-(standard**2) - 2.0 * LOG_SQRT_2PI)
    return density / np.maximum(chance * (1.0 - chance), 1e-300) / spread
