"""Bradley-Terry scaling by maximum likelihood (Newton), reported in JOD or logit units.

Model: ``P(i chosen over j) = 1 / (1 + exp(-(s_i - s_j)))`` (Bradley and Terry 1952; the
logistic counterpart of Thurstone Case V). The logit difference of a 75 % preference is
``ln 3``, so ``units="jod"`` divides by ``ln 3`` and a difference of 1 means 75 %, as in
:mod:`analysis.pairwise.thurstone`.

``alpha`` adds ``alpha * sum(s^2)`` (logit units) to the negative log-likelihood: the MAP
estimate under a Gaussian prior of variance ``1 / (2 alpha)``, the regularisation of
``choix`` (``opt_pairwise(alpha=...)``). Without it (``alpha=0``) the estimate exists only
where, in every group, each stimulus has beaten and been beaten through chains of answers
(the win graph is strongly connected); :func:`bradley_terry_scores` reports the groups
where it is not, and the scores have mean 0 per group. A tie counts half a win each way.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
from scipy.special import expit, log_expit

from analysis._checks import check_choice, check_int_at_least, check_number
from analysis.pairwise._graph import component_labels, part_counts
from analysis.pairwise._solver import NewtonOptions, minimise, pair_gradient, pair_indices

LOGIT_PER_JOD = math.log(3.0)


@dataclasses.dataclass(frozen=True)
class BradleyTerryOptions:
    alpha: float = 0.0
    units: Literal["jod", "logit"] = "jod"
    max_iterations: int = 100

    def __post_init__(self) -> None:
        check_number("bradley_terry.alpha", self.alpha, minimum=0.0)
        check_choice("bradley_terry.units", self.units, ("jod", "logit"))
        check_int_at_least("bradley_terry.max_iterations", self.max_iterations, 1)


def bradley_terry_scores(
    wins: np.ndarray, options: BradleyTerryOptions | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(G, n)`` (NaN for stimuli never compared) and, per group, whether a finite
    estimate exists (always with ``alpha > 0``); groups without one get NaN scores."""
    options = options or BradleyTerryOptions()
    size = wins.shape[1]
    first, second = pair_indices(size)
    forward, backward = wins[:, first, second], wins[:, second, first]
    involved = (wins + wins.transpose(0, 2, 1)).sum(axis=2) > 0
    finite = np.ones(len(wins), dtype=bool) if options.alpha > 0 else strongly_connected(wins)

    def objective(
        scores: np.ndarray, rows: np.ndarray, derivatives: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        difference = scores[:, first] - scores[:, second]
        won, lost = forward[rows], backward[rows]
        value = -np.sum(won * log_expit(difference) + lost * log_expit(-difference), axis=1)
        if not derivatives:
            return value, np.empty(0), np.empty(0)
        chance = expit(difference)
        slope = (won + lost) * chance - won
        curvature = (won + lost) * chance * (1.0 - chance)
        return value, pair_gradient(slope, size), curvature

    solvable = involved & finite[:, None]
    scores, _ = minimise(
        objective,
        np.zeros(involved.shape),
        solvable,
        ridge=2.0 * options.alpha,
        options=NewtonOptions(max_iterations=options.max_iterations),
    )
    if options.alpha == 0:
        counts = np.maximum(solvable.sum(axis=1, keepdims=True), 1)
        scores = scores - np.where(solvable, scores, 0.0).sum(axis=1, keepdims=True) / counts
    scores = np.where(solvable, scores, np.nan)
    return (scores / LOGIT_PER_JOD if options.units == "jod" else scores), finite


def strongly_connected(wins: np.ndarray) -> np.ndarray:
    """Per group: do the compared stimuli form one strongly connected win graph?"""
    involved = (wins + wins.transpose(0, 2, 1)).sum(axis=2) > 0
    labels = component_labels(wins > 0, strong=True)
    return part_counts(labels, involved) <= 1
