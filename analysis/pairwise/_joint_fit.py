"""The maximum-likelihood fit behind :mod:`analysis.pairwise.joint`.

Unknowns: a JOD score ``q`` per stimulus and, per rating set ``k`` (the whole dimension, or
one subject), a mapping ``rating ~ N(a_k q + b_k, s_k^2)``. Given the mappings, the ratings
of a stimulus add a diagonal quadratic ``w_i / 2 q_i^2 - h_i q_i`` to the Thurstone objective
of its group, so groups stay independent and are solved in batches by the Newton solver;
given the scores, each mapping is a weighted least-squares line. After one such alternation
the mappings are found by L-BFGS on the profile likelihood (the scores solved for at every
step; its gradient in the mappings is the rating term's, by the envelope theorem): plain
alternation converges slowly where ratings carry most of the scale information.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import minimize

from analysis.pairwise._graph import component_labels, part_counts
from analysis.pairwise._solver import NewtonOptions, minimise, pair_hessian
from analysis.pairwise.counts import GroupBatch
from analysis.pairwise.thurstone import (
    JOD_SIGMA,
    ThurstoneOptions,
    _link_group,
    _ThurstoneProblem,
    least_squares_start,
    thurstone_scores,
)

# Per-stimulus perceptual noise of Thurstone Case V: a pair difference has sd JOD_SIGMA.
STIMULUS_SIGMA = JOD_SIGMA / np.sqrt(2.0)
# Rated groups have no free shift, so the solver must not add its gauge projector (which it
# does without a ridge); a ridge this small moves no score beyond rounding.
NO_GAUGE_RIDGE = 1e-12
# Smallest rating noise a mapping may reach, relative to the largest: a set whose ratings a
# line fits exactly would otherwise give its ratings infinite weight.
NOISE_FLOOR = 1e-6


@dataclasses.dataclass(frozen=True)
class RatingRows:
    """Ratings as arrays: flat stimulus index, score, rating set and weight of each row."""

    stimulus: np.ndarray
    score: np.ndarray
    rating_set: np.ndarray
    n_sets: int


@dataclasses.dataclass(frozen=True)
class Mapping:
    """Per rating set: ``rating = slope * q + offset + N(0, noise^2)``."""

    slope: np.ndarray
    offset: np.ndarray
    noise: np.ndarray

    @property
    def relative_noise(self) -> np.ndarray:
        """The paper's ``c``: rating noise over the comparisons' per-stimulus noise."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.noise / (np.abs(self.slope) * STIMULUS_SIGMA)


@dataclasses.dataclass(frozen=True)
class FitSettings:
    thurstone: ThurstoneOptions
    unified_prior: bool
    max_rounds: int
    tolerance: float


@dataclasses.dataclass(frozen=True)
class Fit:
    scores: np.ndarray
    linked: np.ndarray
    mapping: Mapping
    rounds: int


class _RatedBatch:
    """The groups of one batch that have ratings, as one problem for :func:`minimise`."""

    def __init__(self, wins: np.ndarray, rated: np.ndarray, settings: FitSettings) -> None:
        self.wins = _linked_wins(wins, rated)
        self.size = wins.shape[1]
        compared = (self.wins + self.wins.transpose(0, 2, 1)).sum(axis=2) > 0
        self.involved = compared | rated
        self.comparisons = _ThurstoneProblem(self.wins, settings.thurstone.prior == "gaussian")
        self.unified_prior = settings.unified_prior
        self.ridge = NO_GAUGE_RIDGE
        if settings.thurstone.score_sd is not None:
            self.ridge = 1.0 / settings.thurstone.score_sd**2
        self.weight = np.zeros(wins.shape[:2])
        self.shift = np.zeros(wins.shape[:2])

    def start(self) -> np.ndarray:
        return least_squares_start(self.wins, self.involved)

    def solve(self, start: np.ndarray, max_iterations: int) -> np.ndarray:
        scores, _ = minimise(
            self.evaluate,
            start,
            self.involved,
            ridge=self.ridge,
            options=NewtonOptions(max_iterations=max_iterations),
        )
        return np.where(self.involved, scores, np.nan)

    def evaluate(
        self, scores: np.ndarray, rows: np.ndarray, derivatives: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        value, gradient, curvature = self.comparisons.evaluate(scores, rows, derivatives)
        weight, shift = self.weight[rows], self.shift[rows]
        value = value + np.sum(0.5 * weight * scores**2 - shift * scores, axis=1)
        involved = self.involved[rows]
        if self.unified_prior:
            value = value + _prior_value(scores, involved)
        if not derivatives:
            return value, gradient, curvature
        hessian = curvature if curvature.ndim == 3 else pair_hessian(curvature, self.size)
        hessian = hessian + weight[:, :, None] * np.eye(self.size)
        gradient = gradient + weight * scores - shift
        if self.unified_prior:
            prior_gradient, prior_hessian = _prior_derivatives(scores, involved)
            gradient, hessian = gradient + prior_gradient, hessian + prior_hessian
        return value, gradient, hessian


def _prior_value(scores: np.ndarray, involved: np.ndarray) -> np.ndarray:
    """The unified model's prior, ``q_i ~ N(mean(q), n sigma^2)`` over a group's ``n``."""
    count = np.maximum(involved.sum(axis=1), 1)
    mean = np.where(involved, scores, 0.0).sum(axis=1) / count
    centred = np.where(involved, scores - mean[:, None], 0.0)
    return np.sum(centred**2, axis=1) / (2.0 * count * STIMULUS_SIGMA**2)


def _prior_derivatives(scores: np.ndarray, involved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    count = np.maximum(involved.sum(axis=1), 1)
    mean = np.where(involved, scores, 0.0).sum(axis=1) / count
    centred = np.where(involved, scores - mean[:, None], 0.0)
    scale = (1.0 / (count * STIMULUS_SIGMA**2))[:, None, None]
    mask = involved[:, :, None] & involved[:, None, :]
    eye = np.eye(scores.shape[1])[None] * involved[:, :, None]
    hessian = scale * (eye - mask / count[:, None, None])
    return centred * scale[:, :, 0], hessian


def _linked_wins(wins: np.ndarray, rated: np.ndarray) -> np.ndarray:
    """Ratings place every rated stimulus on the scale; a part of a group's comparison graph
    with no rated member is tied to the rest as pwcmp links disconnected parts."""
    compared = (wins + wins.transpose(0, 2, 1)) > 0
    joined = compared | (rated[:, :, None] & rated[:, None, :])
    labels = component_labels(joined)
    involved = compared.any(axis=2) | rated
    linked = wins.copy()
    for group in np.flatnonzero(part_counts(labels, involved) > 1):
        _link_group(linked[group], labels[group], involved[group])
    return linked


def fit(
    batches: tuple[GroupBatch, ...],
    choice_weights: np.ndarray | None,
    ratings: RatingRows,
    rating_weights: np.ndarray,
    settings: FitSettings,
) -> Fit:
    """Joint scores (flat, batch after batch) and mappings at the maximum likelihood."""
    wins = [batch.wins(choice_weights).astype(float) for batch in batches]
    count = sum(w.shape[0] * w.shape[1] for w in wins)
    rated_flat = np.bincount(ratings.stimulus, weights=rating_weights, minlength=count) > 0
    parts = _split_batches(wins, rated_flat, settings)
    has_comparisons = any(w[part.rated].sum() > 0 for w, part in zip(wins, parts, strict=True))
    mapping = initial_mapping(ratings, rating_weights)
    scores = _flat_scores(parts, len(rated_flat))
    _solve_rated(parts, ratings, rating_weights, mapping, scores)
    rounds = 1
    if has_comparisons:  # ratings alone fix no scale: they keep the initial c = 1 mapping
        profile = _Profile(parts, ratings, rating_weights, scores)
        mapping = fit_mapping(scores, ratings, rating_weights, mapping)
        mapping, rounds = profile.minimise(mapping, settings)
    _solve_rated(parts, ratings, rating_weights, mapping, scores)
    linked = np.zeros(count, dtype=bool)
    for part in parts:
        linked[part.flat_rated().ravel()] = True
    return _gauged(Fit(scores, linked, mapping, rounds))


@dataclasses.dataclass
class _BatchPart:
    """One batch split into groups with ratings (solved jointly) and without (Thurstone)."""

    offset: int
    size: int
    rated: np.ndarray
    unrated: np.ndarray
    unrated_scores: np.ndarray
    problem: _RatedBatch
    current: np.ndarray

    def flat_rated(self) -> np.ndarray:
        return self.offset + self.rated[:, None] * self.size + np.arange(self.size)

    def flat_unrated(self) -> np.ndarray:
        return self.offset + self.unrated[:, None] * self.size + np.arange(self.size)


def _split_batches(
    wins: list[np.ndarray], rated_flat: np.ndarray, settings: FitSettings
) -> list[_BatchPart]:
    parts, offset = [], 0
    for batch_wins in wins:
        groups, size = batch_wins.shape[:2]
        rated = rated_flat[offset : offset + groups * size].reshape(groups, size)
        has_ratings = rated.any(axis=1)
        problem = _RatedBatch(batch_wins[has_ratings], rated[has_ratings], settings)
        unrated = np.flatnonzero(~has_ratings)
        parts.append(
            _BatchPart(
                offset=offset,
                size=size,
                rated=np.flatnonzero(has_ratings),
                unrated=unrated,
                unrated_scores=thurstone_scores(batch_wins[unrated], settings.thurstone),
                problem=problem,
                current=problem.start(),
            )
        )
        offset += groups * size
    return parts


def _flat_scores(parts: list[_BatchPart], count: int) -> np.ndarray:
    scores = np.full(count, np.nan)
    for part in parts:
        scores[part.flat_unrated().ravel()] = part.unrated_scores.ravel()
    return scores


def _solve_rated(
    parts: list[_BatchPart],
    ratings: RatingRows,
    weights: np.ndarray,
    mapping: Mapping,
    scores: np.ndarray,
    max_iterations: int = 200,
) -> None:
    """The score step: every rated group's scores given the mappings (in place)."""
    slope, offset = mapping.slope[ratings.rating_set], mapping.offset[ratings.rating_set]
    precision = weights / mapping.noise[ratings.rating_set] ** 2
    count = len(scores)
    weight = np.bincount(ratings.stimulus, weights=precision * slope**2, minlength=count)
    shift = np.bincount(
        ratings.stimulus, weights=precision * slope * (ratings.score - offset), minlength=count
    )
    for part in parts:
        if not part.rated.size:
            continue
        flat = part.flat_rated()
        part.problem.weight, part.problem.shift = weight[flat], shift[flat]
        part.current = part.problem.solve(np.nan_to_num(part.current), max_iterations)
        scores[flat.ravel()] = part.current.ravel()


def initial_mapping(ratings: RatingRows, weights: np.ndarray) -> Mapping:
    """``c = 1`` (rating noise equal to the comparisons' per-stimulus noise): the slope is
    the pooled within-stimulus rating sd over ``STIMULUS_SIGMA``; offsets are set means."""
    total = np.bincount(ratings.stimulus, weights=weights)
    sums = np.bincount(ratings.stimulus, weights=weights * ratings.score)
    with np.errstate(invalid="ignore", divide="ignore"):
        stimulus_mean = sums / total
    residual = ratings.score - stimulus_mean[ratings.stimulus]
    spread = _weighted_sd(ratings.score - _weighted_mean(ratings.score, weights), weights)
    noise = _weighted_sd(residual, weights)
    # One rating per stimulus leaves no within-stimulus spread (only rounding noise).
    if not noise > 1e-8 * spread:
        noise = spread
    noise = noise if noise > 0 else 1.0
    set_weight = np.bincount(ratings.rating_set, weights=weights, minlength=ratings.n_sets)
    set_sum = np.bincount(
        ratings.rating_set, weights=weights * ratings.score, minlength=ratings.n_sets
    )
    offset = np.divide(set_sum, set_weight, out=np.zeros(ratings.n_sets), where=set_weight > 0)
    return Mapping(
        slope=np.full(ratings.n_sets, noise / STIMULUS_SIGMA),
        offset=offset,
        noise=np.full(ratings.n_sets, noise),
    )


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    total = float(weights.sum())
    return float(np.sum(weights * values) / total) if total > 0 else 0.0


def _weighted_sd(values: np.ndarray, weights: np.ndarray) -> float:
    keep = np.isfinite(values) & (weights > 0)
    return float(np.sqrt(_weighted_mean(values[keep] ** 2, weights[keep]))) if keep.any() else 0.0


def fit_mapping(
    scores: np.ndarray, ratings: RatingRows, weights: np.ndarray, previous: Mapping
) -> Mapping:
    """The mapping step: per rating set, the weighted least-squares line of the ratings on
    the scores and the ML noise (mean squared residual). A set without enough spread in its
    stimuli's scores keeps its previous mapping."""
    x = scores[ratings.stimulus]
    keep = np.isfinite(x) & (weights > 0)
    w = np.where(keep, weights, 0.0)
    x, y, sets, n = np.where(keep, x, 0.0), ratings.score, ratings.rating_set, ratings.n_sets

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(sets, weights=w * values, minlength=n)

    count = np.maximum(total(np.ones_like(x)), 1e-300)
    mean_x, mean_y = total(x) / count, total(y) / count
    var_x = total(x**2) / count - mean_x**2
    cov = total(x * y) / count - mean_x * mean_y
    usable = var_x > 1e-12 * np.maximum(total(x**2) / count, 1e-300)
    slope = np.where(usable, cov / np.where(usable, var_x, 1.0), previous.slope)
    offset = np.where(usable, mean_y - slope * mean_x, previous.offset)
    residual = y - slope[sets] * x - offset[sets]
    noise = np.sqrt(total(residual**2) / count)
    floor = NOISE_FLOOR * float(np.max(previous.noise))
    noise = np.where(usable, np.maximum(noise, floor), previous.noise)
    return Mapping(slope=slope, offset=offset, noise=noise)


def _largest_change(old: Mapping, new: Mapping) -> float:
    """Largest move of a mapping, relative to its noise (scores move by about as much)."""
    scale = np.maximum(old.noise, 1e-300)
    moves = [
        np.abs(new.slope - old.slope) / np.maximum(np.abs(old.slope), 1e-300),
        np.abs(new.offset - old.offset) / scale,
        np.abs(new.noise - old.noise) / scale,
    ]
    return float(max(np.max(move, initial=0.0) for move in moves))


def _gauged(result: Fit) -> Fit:
    """Shift the groups linked by ratings (and the offsets with them) to mean score 0: the
    likelihood does not change under ``q + t``, ``b - a t``."""
    scores = result.scores.copy()
    linked = result.linked & np.isfinite(scores)
    if not linked.any():
        return result
    shift = -float(np.mean(scores[linked]))
    scores[result.linked] += shift
    mapping = result.mapping
    moved = Mapping(mapping.slope, mapping.offset - mapping.slope * shift, mapping.noise)
    return Fit(scores, result.linked, moved, result.rounds)


class _Profile:
    """The negative log-likelihood minimised over the scores, as a function of the mappings
    (``a``, ``b``, ``log s`` per rating set), with its gradient."""

    def __init__(
        self, parts: list[_BatchPart], ratings: RatingRows, weights: np.ndarray, scores: np.ndarray
    ) -> None:
        self.parts, self.ratings, self.weights, self.scores = parts, ratings, weights, scores

    def minimise(self, start: Mapping, settings: FitSettings) -> tuple[Mapping, int]:
        vector = np.concatenate([start.slope, start.offset, np.log(start.noise)])
        # The noise stays within NOISE_FLOOR of the start either way: a first quasi-Newton
        # step can otherwise overflow the ratings' weights.
        span = -np.log(NOISE_FLOOR)
        free = [(None, None)] * (2 * len(start.noise))
        bounds = free + [(v - span, v + span) for v in np.log(start.noise)]
        found = minimize(
            self.value_and_gradient,
            vector,
            jac=True,
            bounds=bounds,
            method="L-BFGS-B",
            options={"maxiter": settings.max_rounds, "ftol": 1e-15, "gtol": settings.tolerance},
        )
        return self.mapping(found.x), int(found.nit) + 1

    def mapping(self, vector: np.ndarray) -> Mapping:
        slope, offset, log_noise = np.split(vector, 3)
        return Mapping(slope=slope, offset=offset, noise=np.exp(log_noise))

    def value_and_gradient(self, vector: np.ndarray) -> tuple[float, np.ndarray]:
        mapping = self.mapping(vector)
        _solve_rated(self.parts, self.ratings, self.weights, mapping, self.scores)
        ratings, weights = self.ratings, self.weights
        sets, n = ratings.rating_set, ratings.n_sets
        x = np.nan_to_num(self.scores[ratings.stimulus])
        noise = mapping.noise[sets]
        residual = ratings.score - mapping.slope[sets] * x - mapping.offset[sets]
        standard = residual / noise
        value = float(np.sum(weights * (0.5 * standard**2 + np.log(noise))))
        value += sum(_comparison_value(part) for part in self.parts if part.rated.size)

        def total(values: np.ndarray) -> np.ndarray:
            return np.bincount(sets, weights=weights * values, minlength=n)

        gradient = np.concatenate(
            [-total(standard * x / noise), -total(standard / noise), total(1.0 - standard**2)]
        )
        return value, gradient


def _comparison_value(part: _BatchPart) -> float:
    """The rated groups' objective less its rating term (which the profile adds in full)."""
    problem = part.problem
    scores = np.nan_to_num(part.current)
    rows = np.arange(len(scores))
    value, _, _ = problem.evaluate(scores, rows, False)
    rating_term = np.sum(0.5 * problem.weight * scores**2 - problem.shift * scores, axis=1)
    return float(np.sum(value - rating_term) + 0.5 * problem.ridge * np.sum(scores**2))
