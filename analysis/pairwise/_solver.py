"""A damped Newton minimiser for many small, independent scaling problems at once.

Each problem is one comparison group: scores ``q`` of its ``n`` stimuli, an objective that
depends on the score differences ``q_i - q_j`` of its pairs (upper triangle, ``P = n(n-1)/2``)
and, optionally, a ridge ``ridge/2 * |q|^2``. The objective callback returns the value per
group, the gradient in ``q`` and a non-negative curvature per pair (the exact second
derivative of a convex likelihood, or a Gauss-Newton approximation); the minimiser builds
the ``n x n`` Hessian ``B^T diag(c) B`` from it, solves all groups' Newton systems with one
batched ``numpy.linalg.solve`` and backtracks (Armijo) per group. Stimuli without any
comparison keep their score of 0 and are left out of the gauge.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

# (scores (G', n), rows, derivatives wanted) -> (value (G',), gradient (G', n), curvature
# per pair (G', P)) for the groups ``rows``; without derivatives the last two may be empty.
Objective = Callable[[np.ndarray, np.ndarray, bool], tuple[np.ndarray, np.ndarray, np.ndarray]]

ARMIJO = 1e-4
MAX_HALVINGS = 40


@dataclasses.dataclass(frozen=True)
class NewtonOptions:
    """A group has converged when its Newton step is below ``step_tolerance`` (score units)
    or the decrease it promises is below ``decrease_tolerance`` relative to the objective
    (about the rounding noise of the objective: no step can be verified beyond it)."""

    max_iterations: int = 200
    step_tolerance: float = 1e-8
    decrease_tolerance: float = 1e-15


@functools.cache
def pair_indices(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The upper-triangle pairs ``(i, j)``, ``i < j``, of a group of ``size`` stimuli
    (cached, read-only: every objective evaluation asks for them)."""
    first, second = (index.astype(np.int64) for index in np.triu_indices(size, k=1))
    first.setflags(write=False)
    second.setflags(write=False)
    return first, second


def pair_gradient(per_pair: np.ndarray, size: int) -> np.ndarray:
    """Gradient in the scores from the derivative in each pair's difference ``q_i - q_j``."""
    return per_pair @ pair_incidence(size)


def pair_hessian(curvature: np.ndarray, size: int) -> np.ndarray:
    """``(G, n, n)`` Hessian ``B^T diag(c) B`` in the scores from a curvature per pair."""
    first, second = pair_indices(size)
    hessian = np.zeros((len(curvature), size, size))
    hessian[:, first, second] = -curvature
    hessian[:, second, first] = -curvature
    hessian[:, np.arange(size), np.arange(size)] = -hessian.sum(axis=2)
    return hessian


@functools.cache
def pair_incidence(size: int) -> np.ndarray:
    """``(P, n)`` matrix B with ``(B q)_p = q_i - q_j`` for pair ``p = (i, j)``."""
    first, second = pair_indices(size)
    matrix = np.zeros((len(first), size))
    matrix[np.arange(len(first)), first] = 1.0
    matrix[np.arange(len(first)), second] = -1.0
    matrix.setflags(write=False)
    return matrix


def minimise(
    objective: Objective,
    start: np.ndarray,
    involved: np.ndarray,
    *,
    ridge: float = 0.0,
    options: NewtonOptions | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise every group's objective from ``start``; returns (scores, converged per group).

    ``involved`` (G, n) marks stimuli with at least one comparison; the others stay at 0.
    """
    options = options or NewtonOptions()
    scores = np.where(involved, start, 0.0)
    converged: np.ndarray = ~np.any(involved, axis=1)
    for _ in range(options.max_iterations):
        rows = np.flatnonzero(~converged)
        if rows.size == 0:
            break
        value, gradient, curvature = _evaluate(objective, scores[rows], rows, ridge, True)
        gradient = np.where(involved[rows], gradient, 0.0)
        direction = _newton_direction(curvature, gradient, involved[rows], ridge)
        decrease = -np.sum(gradient * direction, axis=1)
        done = (np.abs(direction).max(axis=1) < options.step_tolerance) | (
            decrease < options.decrease_tolerance * (1.0 + np.abs(value))
        )
        # Converged groups take no step: what is left is below the objective's rounding
        # noise, where a line search would only halve its way down to nothing.
        moving = np.flatnonzero(~done)
        step = _backtrack(
            objective,
            scores[rows[moving]],
            rows[moving],
            value[moving],
            gradient[moving],
            direction[moving],
            ridge,
            options.step_tolerance,
        )
        scores[rows[moving]] += step[:, None] * direction[moving]
        converged[rows] = done
        converged[rows[moving]] |= step == 0.0
    return scores, converged


def _evaluate(
    objective: Objective, scores: np.ndarray, rows: np.ndarray, ridge: float, derivatives: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    value, gradient, curvature = objective(scores, rows, derivatives)
    if ridge:
        value = value + 0.5 * ridge * np.sum(scores**2, axis=1)
        if derivatives:
            gradient = gradient + ridge * scores
    return value, gradient, curvature


def _newton_direction(
    curvature: np.ndarray, gradient: np.ndarray, involved: np.ndarray, ridge: float
) -> np.ndarray:
    """Newton step; a full ``(G, n, n)`` curvature may be indefinite (a nonconvex prior)
    and is then made positive definite by raising its eigenvalues to a floor."""
    size = gradient.shape[1]
    full = curvature.ndim == 3
    hessian = curvature.copy() if full else pair_hessian(curvature, size)
    # A little damping keeps the system solvable where a pair's curvature vanishes
    # (a unanimous pair far out on the tail) without changing the minimum.
    diagonal = np.where(involved, ridge + 1e-9, 1.0)
    hessian[:, np.arange(size), np.arange(size)] += diagonal
    if not ridge:
        # The objective depends on differences only: fix the free shift of the involved
        # stimuli by adding the projector onto their mean (the gradient is orthogonal to it).
        counts = np.maximum(involved.sum(axis=1), 1)[:, None, None]
        hessian += involved[:, :, None] * involved[:, None, :] / counts
    if not full:
        return -np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
    values, vectors = np.linalg.eigh(hessian)
    floor = np.maximum(1e-6 * np.abs(values).max(axis=1, keepdims=True), 1e-9)
    values = np.maximum(values, floor)
    along = np.einsum("gji,gj->gi", vectors, gradient) / values
    return -np.einsum("gij,gj->gi", vectors, along)


def _backtrack(
    objective: Objective,
    scores: np.ndarray,
    rows: np.ndarray,
    value: np.ndarray,
    gradient: np.ndarray,
    direction: np.ndarray,
    ridge: float,
    step_tolerance: float,
) -> np.ndarray:
    """Per-group step length meeting the Armijo condition (0 where none was found).

    A group stops halving once its step would move no score by ``step_tolerance``: no
    smaller step could be told from staying put, and before this rule such groups (a few
    in a hundred near a flat minimum) halved 30-odd times every iteration up to the
    iteration cap, most of the cost of the pairwise outlier check."""
    slope = np.sum(gradient * direction, axis=1)
    reach = np.abs(direction).max(axis=1)
    step = np.ones(len(rows))
    pending = slope < 0
    for _ in range(MAX_HALVINGS):
        pending &= step * reach >= step_tolerance
        if not pending.any():
            break
        idx = np.flatnonzero(pending)
        trial = scores[idx] + step[idx, None] * direction[idx]
        trial_value, _, _ = _evaluate(objective, trial, rows[idx], ridge, False)
        accepted = trial_value <= value[idx] + ARMIJO * step[idx] * slope[idx]
        pending[idx[accepted]] = False
        step[idx[~accepted]] *= 0.5
    # Groups still pending (or stopped as too small) found no step: they take none.
    step[(step * reach < step_tolerance) | pending | (slope >= 0)] = 0.0
    return step
