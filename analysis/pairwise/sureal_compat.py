"""SUREAL-compatible paired-comparison scales (Netflix SUREAL 0.9.0, ``pc_subjective_model``).

These reproduce ``ThurstoneMlePairedCompSubjectiveModel`` and
``BradleyTerryMlePairedCompSubjectiveModel`` - scores and standard errors - so that a study
can be reported the way SUREAL users expect. They differ from the library's own scales
(:mod:`analysis.pairwise.thurstone`, :mod:`analysis.pairwise.bradley_terry`) on purpose:

* all stimuli form one set (SUREAL has no comparison groups), in standard-normal units for
  Thurstone (``Phi(v_i - v_j)``; 1 JOD = 1.4826 of them) and log-strength for BT;
* per subject and pair only the *last* answer counts (SUREAL's dataset holds one value per
  subject and pair); a "no preference" answer is 0.5, as SUREAL allows;
* Thurstone: SUREAL's negative log-likelihood keeps ``1e-8 / M`` inside each logarithm, and
  its answer is where SciPy's SLSQP (2-point differences, ``ftol=1e-8``, from zeros) stops.
  On the Lukas SPIE 2014 study that point is up to 6e-6 from the exact minimum, so this mode
  runs the same optimiser to match SUREAL to 1e-6; the standard errors use SUREAL's
  "simplified" information matrix, bordered by the sum constraint and pseudo-inverted;
* Bradley-Terry: Hunter's MM iteration from equal strengths, renormalised to sum 1 after
  each step, until the step is below 1e-8; scores are ``log p``. The standard errors follow
  SUREAL's formula, including its off-diagonal term ``n_ij / (p_i + p_j) * 2`` (where the
  Fisher information has ``n_ij / (p_i + p_j)^2``): this is a compatibility mode, so it
  keeps SUREAL's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.optimize import minimize
from scipy.special import ndtr
from scipy.stats import norm

from analysis.errors import RatingsError
from analysis.pairwise.choices import validate_choices

SUREAL_VERSION = "0.9.0"
MM_TOLERANCE = 1e-8


def sureal_preference_matrix(
    choices: pd.DataFrame, stimuli: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Stimuli (``stimuli`` order, else sorted) and ``alpha[i, j]``: subjects preferring
    ``i`` over ``j``, one (the last) answer per subject and pair, ties 0.5."""
    table = validate_choices(choices)
    names = (
        list(stimuli) if stimuli is not None else sorted(set(table["left"]) | set(table["right"]))
    )
    index = {name: position for position, name in enumerate(names)}
    missing = (set(table["left"]) | set(table["right"])) - set(index)
    if missing:
        raise RatingsError(f"stimulus {sorted(missing)[0]!r} is not in the given stimulus order")
    left = table["left"].map(index).to_numpy()
    right = table["right"].map(index).to_numpy()
    value = table["choice"].map({"left": 1.0, "right": 0.0, "none": 0.5}).to_numpy()
    first, second = np.minimum(left, right), np.maximum(left, right)
    first_wins = np.where(left == first, value, 1.0 - value)
    last = pd.DataFrame(
        {"subject": table["subject"].to_numpy(), "a": first, "b": second, "v": first_wins}
    ).drop_duplicates(["subject", "a", "b"], keep="last")
    alpha = np.zeros((len(names), len(names)))
    np.add.at(alpha, (last["a"].to_numpy(), last["b"].to_numpy()), last["v"].to_numpy())
    np.add.at(alpha, (last["b"].to_numpy(), last["a"].to_numpy()), 1.0 - last["v"].to_numpy())
    return names, alpha


def sureal_thurstone(choices: pd.DataFrame, stimuli: Sequence[str] | None = None) -> pd.DataFrame:
    """``stimulus``, ``score`` and ``se`` as SUREAL's ``ThurstoneMlePairedCompSubjectiveModel``."""
    names, alpha = sureal_preference_matrix(choices, stimuli)
    scores = _sureal_thurstone_scores(alpha)
    return pd.DataFrame({"stimulus": names, "score": scores, "se": _thurstone_se(alpha, scores)})


def sureal_bradley_terry(
    choices: pd.DataFrame, stimuli: Sequence[str] | None = None
) -> pd.DataFrame:
    """``stimulus``, ``score`` (log strength) and ``se`` as SUREAL's
    ``BradleyTerryMlePairedCompSubjectiveModel``."""
    names, alpha = sureal_preference_matrix(choices, stimuli)
    strength = _mm_strengths(alpha)
    return pd.DataFrame(
        {"stimulus": names, "score": np.log(strength), "se": _bradley_terry_se(alpha, strength)}
    )


def _thurstone_nll(scores: np.ndarray, alpha: np.ndarray) -> float:
    """SUREAL's objective, evaluated in the same order of operations (same rounding)."""
    offset = 1e-8 / alpha.shape[0]
    difference = scores[:, None] - scores[None, :]
    terms = alpha * np.log(ndtr(difference) + offset) + alpha.T * np.log(ndtr(-difference) + offset)
    return float(-np.sum(terms))


def _sureal_thurstone_scores(alpha: np.ndarray) -> np.ndarray:
    result = minimize(
        _thurstone_nll,
        np.zeros(alpha.shape[0]),
        args=(alpha,),
        method="SLSQP",
        jac="2-point",
        options={"ftol": 1e-8, "maxiter": 1000},
    )
    if not result.success:
        raise RatingsError(f"SUREAL-compatible Thurstone fit did not converge: {result.message}")
    return np.asarray(result.x)


def _bordered_inverse(information: np.ndarray) -> np.ndarray:
    """SUREAL's covariance: pseudo-inverse of ``[[-lambda, 1], [1', 0]]`` without the border."""
    size = information.shape[0]
    bordered = np.vstack(
        [
            np.hstack([-information, np.ones([size, 1])]),
            np.hstack([np.ones([1, size]), np.array([[0]])]),
        ]
    )
    return np.linalg.pinv(bordered)[:-1, :-1]


def _thurstone_se(alpha: np.ndarray, scores: np.ndarray) -> np.ndarray:
    difference = scores[:, None] - scores[None, :]
    cdf, pdf = norm.cdf(difference), norm.pdf(difference)
    term = (alpha + alpha.T) * (-difference * cdf * pdf - pdf**2) / cdf**2
    information = -term + np.diag(np.sum(term, axis=1))
    return np.sqrt(np.diagonal(_bordered_inverse(information)))


def _mm_strengths(alpha: np.ndarray) -> np.ndarray:
    """Hunter's MM updates ``p_i = W_i / sum_j n_ij / (p_i + p_j)``, renormalised each step."""
    size = alpha.shape[0]
    total = alpha + alpha.T
    strength = np.ones(size) / size
    change = np.inf
    while change > MM_TOLERANCE:
        previous = strength
        sums = strength[:, None] + strength[None, :]
        strength = np.sum(alpha, axis=1) / np.sum(total / sums, axis=1)
        strength = strength / np.sum(strength)
        change = float(linalg.norm(strength - previous))
    return strength


def _bradley_terry_se(alpha: np.ndarray, strength: np.ndarray) -> np.ndarray:
    total = alpha + alpha.T
    sums = strength[:, None] + strength[None, :]
    diagonal = np.sum(-alpha / (strength[:, None] ** 2) + total / sums**2, axis=1)
    information = total / sums * 2 + np.diag(diagonal)
    covariance = _bordered_inverse(information)
    return np.sqrt(np.diagonal(covariance)) / strength
