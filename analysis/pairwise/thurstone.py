"""Thurstone Case V scaling in JOD units, by maximum likelihood with pwcmp's distance prior.

Model: ``P(i chosen over j) = Phi((q_i - q_j) / sigma)`` with ``sigma = 1 / Phi^-1(0.75)``
(about 1.4826), so that a difference of 1 JOD means 75 % of answers prefer the better
stimulus (Perez-Ortiz and Mantiuk, "A practical guide and software for analysing pairwise
comparison experiments", 2017; the pwcmp toolbox, ``pw_scale``).

Following pwcmp, the negative log-likelihood is completed by

* a *distance prior* per compared pair: ``-log(prior + 0.1)``, where ``prior`` is the
  normalised sum, over every compared pair of the group, of the probability of that pair's
  answers if its distance were this pair's distance. Unanimous answers (``k`` of ``k``)
  enter that sum shifted to ``k-1`` of ``k``. This keeps unanimous pairs at a finite
  distance of the size the rest of the data shows instead of letting it run to infinity;
* *linking* of disconnected parts of a group's comparison graph: the best stimulus (highest
  share of wins) of each part is tied with the best of every other part by one pseudo
  comparison each way, as pwcmp does, so that every part has a defined place on the scale.
  Stimuli never compared get no score (NaN) - pwcmp would link them too;
* the gauge: scores of each group have mean 0 (pwcmp's ``mean0``).

Ties ("no preference") count half a win each way. Each unordered pair enters once; pwcmp
sums over ordered pairs, which doubles every term and leaves the minimum unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
from scipy.special import log_ndtr, ndtri

from analysis._checks import check_choice, check_int_at_least, check_number
from analysis.pairwise._graph import component_labels, part_counts
from analysis.pairwise._prior import DistancePrior, answer_classes
from analysis.pairwise._solver import (
    NewtonOptions,
    minimise,
    pair_gradient,
    pair_hessian,
    pair_indices,
)

JOD_SIGMA = float(1.0 / ndtri(0.75))
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
CHUNK_GROUPS = 64


@dataclasses.dataclass(frozen=True)
class ThurstoneOptions:
    """``prior``: ``"gaussian"`` (pwcmp's distance prior, the default) or ``"none"`` (plain
    maximum likelihood, which has no finite answer for unanimous pairs).

    ``score_sd`` (JOD; off by default, as in pwcmp) adds a Gaussian prior ``N(0, score_sd^2)``
    on every score. pwcmp's distance prior is flat for pairs answered once (a single answer
    is always "unanimous" and the prior gives every distance the same weight), so in a
    sparse design - one answer per pair, as an active design leaves many - unanimous chains
    run off to large distances; a weak score prior (a few JOD) keeps them in range."""

    prior: Literal["gaussian", "none"] = "gaussian"
    score_sd: float | None = None
    max_iterations: int = 200

    def __post_init__(self) -> None:
        check_choice("thurstone.prior", self.prior, ("gaussian", "none"))
        if self.score_sd is not None:
            check_number("thurstone.score_sd", self.score_sd, minimum=0.0, inclusive=False)
        check_int_at_least("thurstone.max_iterations", self.max_iterations, 1)


def thurstone_scores(wins: np.ndarray, options: ThurstoneOptions | None = None) -> np.ndarray:
    """JOD scores ``(G, n)`` of a batch of win-count matrices; NaN for stimuli never compared."""
    options = options or ThurstoneOptions()
    # Chunks of groups keep the (groups x pairs x classes) arrays of the prior in cache.
    chunks = [
        _scores_of_chunk(wins[start : start + CHUNK_GROUPS], options)
        for start in range(0, len(wins), CHUNK_GROUPS)
    ]
    return np.concatenate(chunks) if chunks else np.zeros(wins.shape[:2])


def _scores_of_chunk(wins: np.ndarray, options: ThurstoneOptions) -> np.ndarray:
    linked = link_components(wins)
    total = linked + linked.transpose(0, 2, 1)
    involved = total.sum(axis=2) > 0
    problem = _ThurstoneProblem(linked, options.prior == "gaussian")
    scores, _ = minimise(
        problem.evaluate,
        least_squares_start(linked, involved),
        involved,
        ridge=0.0 if options.score_sd is None else 1.0 / options.score_sd**2,
        options=NewtonOptions(max_iterations=options.max_iterations),
    )
    return _centred(scores, involved)


def least_squares_start(wins: np.ndarray, involved: np.ndarray) -> np.ndarray:
    """Classical Case V estimate: least squares on each pair's z-score of its (shrunk) share
    of wins, weighted by its number of answers. A cheap, close start for the likelihood."""
    size = wins.shape[1]
    first, second = pair_indices(size)
    forward, backward = wins[:, first, second], wins[:, second, first]
    total = forward + backward
    distance = JOD_SIGMA * ndtri((forward + 0.5) / (total + 1.0))
    hessian = np.zeros_like(wins)
    hessian[:, first, second] = -total
    hessian[:, second, first] = -total
    hessian[:, np.arange(size), np.arange(size)] = -hessian.sum(axis=2) + np.where(
        involved, 1e-9, 1.0
    )
    counts = np.maximum(involved.sum(axis=1), 1)[:, None, None]
    hessian += involved[:, :, None] * involved[:, None, :] / counts
    right_side = pair_gradient(total * distance, size)
    return np.linalg.solve(hessian, right_side[:, :, None])[:, :, 0]


def link_components(wins: np.ndarray) -> np.ndarray:
    """Copy of ``wins`` where the parts of each group's comparison graph are linked by ties."""
    compared = (wins + wins.transpose(0, 2, 1)) > 0
    labels = component_labels(compared)
    involved = compared.any(axis=2)
    linked = wins.copy()
    for group in np.flatnonzero(part_counts(labels, involved) > 1):
        _link_group(linked[group], labels[group], involved[group])
    return linked


def _link_group(wins: np.ndarray, labels: np.ndarray, involved: np.ndarray) -> None:
    played = wins.sum(axis=1) + wins.sum(axis=0)
    share = np.divide(wins.sum(axis=1), played, out=np.zeros(len(played)), where=played > 0)
    best = [
        int(np.flatnonzero(members)[np.argmax(share[members])])
        for members in (labels == part for part in np.unique(labels[involved]))
    ]
    for position, first in enumerate(best):
        for second in best[position + 1 :]:
            wins[first, second] += 1.0
            wins[second, first] += 1.0


def _centred(scores: np.ndarray, involved: np.ndarray) -> np.ndarray:
    counts = np.maximum(involved.sum(axis=1, keepdims=True), 1)
    mean = np.where(involved, scores, 0.0).sum(axis=1, keepdims=True) / counts
    return np.where(involved, scores - mean, np.nan)


class _ThurstoneProblem:
    """Per-pair counts of a batch and the prior's answer classes, for :func:`minimise`."""

    def __init__(self, wins: np.ndarray, use_prior: bool) -> None:
        size = wins.shape[1]
        self.size = size
        first, second = pair_indices(size)
        self.forward = wins[:, first, second]
        self.backward = wins[:, second, first]
        self.compared = (self.forward + self.backward) > 0
        self.use_prior = use_prior and bool(self.compared.any())
        if self.use_prior:
            self._prepare_prior()

    def _prepare_prior(self) -> None:
        self.classes = answer_classes(self.forward, self.backward)

    def evaluate(
        self, scores: np.ndarray, rows: np.ndarray, derivatives: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        first, second = pair_indices(self.size)
        distance = (scores[:, first] - scores[:, second]) / JOD_SIGMA
        forward, backward = self.forward[rows], self.backward[rows]
        compared = self.compared[rows]
        log_win, log_loss = log_ndtr(distance), log_ndtr(-distance)
        value = -np.sum(forward * log_win + backward * log_loss, axis=1)
        if not derivatives and not self.use_prior:
            return value, np.empty(0), np.empty(0)
        log_pdf = -0.5 * distance**2 - HALF_LOG_2PI
        mills_win, mills_loss = np.exp(log_pdf - log_win), np.exp(log_pdf - log_loss)
        slope = -forward * mills_win + backward * mills_loss
        curvature = forward * mills_win * (distance + mills_win)
        curvature += backward * mills_loss * (mills_loss - distance)
        coupled = None
        if self.use_prior:
            prior = DistancePrior(self.classes.subset(rows), compared, log_win, log_loss)
            value = value + prior.value()
            if derivatives:
                prior_slope, prior_diagonal, coupled = prior.derivatives(
                    distance, mills_win, mills_loss
                )
                slope = slope + prior_slope
                curvature = curvature + prior_diagonal
        if not derivatives:
            return value, np.empty(0), np.empty(0)
        slope, curvature = np.where(compared, slope, 0.0), np.where(compared, curvature, 0.0)
        gradient = pair_gradient(slope, self.size) / JOD_SIGMA
        if coupled is None:
            return value, gradient, curvature / JOD_SIGMA**2
        hessian = pair_hessian(curvature, self.size) + coupled
        return value, gradient, hessian / JOD_SIGMA**2
