"""Maximum-likelihood subject model: true quality, subject bias and subject inconsistency.

Standard: ITU-T P.910 (10/2023) Annex E and ITU-T P.913 (06/2021) §12.6; Z. Li and
C. G. Bampis, "Recover subjective quality scores from noisy measurements", DCC 2017;
Z. Li et al., "A simple model for subject behavior in subjective experiments", HVEI 2020.
Reference implementation: Netflix SUREAL 0.9.0, ``P910AnnexEModel`` (type ``P910``, the
alternating-projection solver ``MLE_CO_AP2``).

Model (P.910 Annex E): the rating of stimulus j by subject i is

    U_ij = ψ_j + Δ_i + υ_i·X,   X ~ N(0, 1)                                    (1)

with ψ_j the true score, Δ_i the subject's bias and υ_i the subject's inconsistency. The
log-likelihood L = Σ_ij [−log υ_i − (U_ij − ψ_j − Δ_i)² / (2υ_i²)] is maximised by block
coordinate ascent (the "alternating projection" of Li et al. 2020, §III-B); each block has a
closed form given the others:

    ψ_j = Σ_i w_i (U_ij − Δ_i)  /  Σ_i w_i,   w_i = 1 / (υ_i² + ε)            (2)
    Δ_i = mean_j (U_ij − ψ_j)                                                 (3)
    υ_i² = mean_j (U_ij − ψ_j − Δ_i)²                                         (4)

(sums over the ratings present, so any partial design and numeric scale is handled; repeated
showings are independent observations). ε is 0 here by default; SUREAL adds ε = 1e-8
(``variance_epsilon``).

Identifiability: ψ + c, Δ − c leave L unchanged, so the unweighted mean bias of the subjects
is fixed to 0 (SUREAL's ``force_subjbias_zeromean``), separately in each connected component
of the subject-stimulus design graph (biases of disconnected groups cannot be compared).

Uncertainty. With e_ij = U_ij − ψ_j − Δ_i the residuals at the optimum, n_j the ratings of
stimulus j, n_i those of subject i and z = z(1 − α/2) (:mod:`analysis.confidence`):

* true score, ``true_score_se="p910"`` (default), as P.910 Annex E computes it and SUREAL's
  ``P910AnnexEModel`` (``_get_s_j_std`` of ``SubjectMLEModelProjectionSolver2``) implements
  it, from the stimulus's *own* residual spread:

      σ_j = sqrt( mean_i (e_ij − ē_j)² ),   se(ψ_j) = (Σ_i 1/σ_j²)^(−1/2) = σ_j / √n_j   (5)

  so a stimulus the subjects disagree on gets a wide interval and one they agree on a narrow
  one. A stimulus with a single rating has no spread: its se is NaN (SUREAL reports 0).
* true score, ``true_score_se="fisher"``: the diagonal of the Fisher information of (1),
  se(ψ_j) = (Σ_i 1/υ_i²)^(−1/2) (Li & Bampis 2017; SUREAL ``MLE_CO``). In a full design it
  is the same for every stimulus however much the subjects disagree on it.
* bias: se(Δ_i) = (Σ_j 1/υ_i²)^(−1/2) = υ_i/√n_i, interval Δ_i ± z·se (SUREAL
  ``observer_bias_ci95``).                                                    (6)
* inconsistency: se(υ_i) = υ_i/√(2 n_i) (Fisher), and the χ² interval for a standard
  deviation, n_i·υ̂_i²/υ_i² ~ χ²(n_i) (SUREAL ``observer_inconsistency_ci95``):

      [ υ_i·sqrt(n_i / χ²_{1−α/2}(n_i)),  υ_i·sqrt(n_i / χ²_{α/2}(n_i)) ]          (7)

  which is asymmetric and never negative. Intervals (5)-(6) are ψ ± z·se and ignore the
  covariances between blocks and the sum-to-zero constraint, as the standard does.

Degenerate cases: subjects with fewer than ``min_ratings_per_subject`` ratings are excluded
(listed per dimension in the fit table; the pipeline turns them into warnings). The
likelihood is unbounded: putting ψ_j = U_ij − Δ_i for one subject i makes that subject's
residuals vanish and log υ_i → −∞. The estimate sought is the interior maximum, which block
ascent from the MOS start finds for real panels (Netflix: 26 subjects, VQEG HD3: 24). Small
panels slide to the degenerate optimum instead - in simulations almost always with ≤ 8
subjects, often with 10-16, rarely with ≥ 20 subjects on ≥ 30 stimuli - and so does SUREAL on
the same data, so this is the model, not the solver. υ is therefore floored at
``inconsistency_floor`` × the pooled score std, and subjects at the floor are flagged
(``at_floor`` per subject, ``n_at_floor`` per dimension): their estimates, and the true
scores they dominate, should not be trusted. (SUREAL has no floor; it relies on ε.)

The ML inconsistency is biased low for precise subjects: it ignores the share of the
weighted true score its own ratings supply, E[residual²] ≈ υ_i²(1 − w_i/Σw), w = 1/υ² (a
few percent for panels of ~20; tested in ``tests/test_subject_model.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from analysis._checks import (
    check_choice,
    check_int_at_least,
    check_number,
    check_probability,
)
from analysis._groups import Coded, encode, group_sum
from analysis.confidence import Z_CONSTANTS, ZConstant, z_critical
from analysis.errors import OptionsError
from analysis.provenance import Provenance, options_dict
from common.jsonable import jsonable

METHOD = "p913_subject_model"
STANDARD = "ITU-T P.910 (10/2023) Annex E; ITU-T P.913 (06/2021) §12.6 (MLE, Li & Bampis 2017)"
# 2.0: the true-score se follows P.910 Annex E (eq. 5) by default; χ² inconsistency interval.
VERSION = "2.0"

TrueScoreSE = Literal["p910", "fisher"]
TRUE_SCORE_SE: tuple[str, ...] = ("p910", "fisher")


@dataclasses.dataclass(frozen=True)
class SubjectModelOptions:
    """Options of :func:`fit_subject_model` (equations refer to the module docstring).

    ``true_score_se``: ``"p910"`` (eq. 5, P.910 Annex E / SUREAL ``P910``) or ``"fisher"``.
    ``z_constant``: ``"exact"`` z(1 − α/2) or SUREAL's rounded 1.95996 (95 % only).
    ``variance_epsilon``: ε of eq. 2 (SUREAL: 1e-8). ``inconsistency_floor`` may be 0 only
    when ε > 0 (otherwise a subject with no residual would get an infinite weight).
    """

    max_iterations: int = 5000
    tolerance: float = 1e-9
    confidence: float = 0.95
    min_ratings_per_subject: int = 2
    inconsistency_floor: float = 1e-3
    true_score_se: TrueScoreSE = dataclasses.field(
        default="p910",
        metadata={
            "help": "standard error of the true scores: p910 (P.910 Annex E, each stimulus's "
            "own residual spread) or fisher (Fisher information)"
        },
    )
    z_constant: ZConstant = "exact"
    variance_epsilon: float = 0.0

    def __post_init__(self) -> None:
        check_int_at_least("subject_model.max_iterations", self.max_iterations, 1)
        check_number("subject_model.tolerance", self.tolerance, minimum=0.0, inclusive=False)
        check_probability("subject_model.confidence", self.confidence)
        check_int_at_least("subject_model.min_ratings_per_subject", self.min_ratings_per_subject, 1)
        check_number("subject_model.inconsistency_floor", self.inconsistency_floor, minimum=0.0)
        check_number("subject_model.variance_epsilon", self.variance_epsilon, minimum=0.0)
        if self.inconsistency_floor == 0 and self.variance_epsilon == 0:
            raise OptionsError(
                "subject_model.inconsistency_floor",
                "may be 0 only with variance_epsilon > 0 (a subject without residual would "
                "get an infinite weight)",
            )
        check_choice("subject_model.true_score_se", self.true_score_se, TRUE_SCORE_SE)
        check_choice("subject_model.z_constant", self.z_constant, Z_CONSTANTS)
        if self.z_constant == "sureal" and self.confidence != 0.95:
            raise OptionsError(
                "subject_model.z_constant",
                f"'sureal' (1.95996) is the 95 % constant; confidence is {self.confidence}",
            )


@dataclasses.dataclass(frozen=True)
class SubjectModelResult:
    """``stimuli``: true score per stimulus x dimension; ``subjects``: bias and inconsistency
    per subject x dimension; ``fit``: one row per dimension (iterations, log-likelihood, the
    subjects left out for too few ratings)."""

    provenance: Provenance
    stimuli: pd.DataFrame
    subjects: pd.DataFrame
    fit: pd.DataFrame

    def excluded_subjects(self) -> list[tuple[Any, Any]]:
        """(dimension, subject) pairs left out of the model for too few ratings."""
        if "excluded_subjects" not in self.fit.columns:
            return []
        pairs: list[tuple[Any, Any]] = []
        for dimension, excluded in zip(
            self.fit["dimension"], self.fit["excluded_subjects"], strict=True
        ):
            pairs += [(dimension, subject) for subject in excluded]
        return pairs

    def to_summary(self) -> dict[str, Any]:
        return jsonable({**self.provenance.to_dict(), "fit": self.fit.to_dict(orient="records")})


@dataclasses.dataclass(frozen=True)
class _Fit:
    psi: np.ndarray
    bias: np.ndarray
    inconsistency: np.ndarray
    n_subject: np.ndarray
    n_stimulus: np.ndarray
    info_psi: np.ndarray
    residual_sd: np.ndarray
    iterations: int
    converged: bool
    loglik: float
    n_components: int
    at_floor: np.ndarray


def _components(
    stimulus_codes: np.ndarray, subject_codes: np.ndarray, n_s: int, n_j: int
) -> tuple[np.ndarray, int]:
    graph = sparse.coo_matrix(
        (np.ones(len(stimulus_codes)), (stimulus_codes, n_s + subject_codes)),
        shape=(n_s + n_j, n_s + n_j),
    ).tocsr()
    n_comp, labels = connected_components(graph, directed=False)
    return labels, n_comp


@dataclasses.dataclass(frozen=True)
class _Design:
    """Who rated what, and the constants the alternating estimates share."""

    stimulus_codes: np.ndarray
    subject_codes: np.ndarray
    scores: np.ndarray
    n_stimuli: int
    n_subjects: int
    per_subject: np.ndarray  # ratings per subject
    per_stimulus: np.ndarray
    component_of_stimulus: np.ndarray
    component_of_subject: np.ndarray
    n_components: int
    floor: float  # the smallest inconsistency an estimate may take
    epsilon: float  # added to v² in the true-score weights (SUREAL: 1e-8)

    def centre(self, psi: np.ndarray, bias: np.ndarray) -> None:
        """Make the biases sum to zero within each connected component (in place)."""
        components = self.component_of_subject
        size = np.bincount(components, minlength=self.n_components).astype(float)
        total = np.bincount(components, weights=bias, minlength=self.n_components)
        shift = total / np.maximum(size, 1)
        bias -= shift[components]
        psi += shift[self.component_of_stimulus]

    def residuals(self, psi: np.ndarray, bias: np.ndarray) -> np.ndarray:
        return self.scores - psi[self.stimulus_codes] - bias[self.subject_codes]

    def inconsistency(self, psi: np.ndarray, bias: np.ndarray) -> np.ndarray:
        resid = self.residuals(psi, bias)
        spread = group_sum(self.subject_codes, resid * resid, self.n_subjects) / self.per_subject
        return np.maximum(np.sqrt(spread), self.floor)

    def information(self, inconsistency: np.ndarray) -> np.ndarray:
        """Per stimulus, the sum of its raters' weights 1/v² (the inverse variance of psi)."""
        with np.errstate(divide="ignore"):
            weights = 1.0 / (inconsistency * inconsistency)
        return group_sum(self.stimulus_codes, weights[self.subject_codes], self.n_stimuli)

    def update(
        self, bias: np.ndarray, inconsistency: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One round of the alternating estimates: weighted psi (eq. 2), then bias, then v."""
        weights = (1.0 / (inconsistency * inconsistency + self.epsilon))[self.subject_codes]
        weight_sum = group_sum(self.stimulus_codes, weights, self.n_stimuli)
        debiased = weights * (self.scores - bias[self.subject_codes])
        psi = group_sum(self.stimulus_codes, debiased, self.n_stimuli) / weight_sum
        residual = self.scores - psi[self.stimulus_codes]
        new_bias = group_sum(self.subject_codes, residual, self.n_subjects) / self.per_subject
        self.centre(psi, new_bias)
        return psi, new_bias, self.inconsistency(psi, new_bias)

    def loglik(self, psi: np.ndarray, bias: np.ndarray, inconsistency: np.ndarray) -> float:
        resid = self.residuals(psi, bias)
        # A zero floor (allowed with epsilon > 0) can leave v = 0: the likelihood is then inf.
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = (1.0 / (inconsistency * inconsistency))[self.subject_codes]
            log_v = np.log(inconsistency[self.subject_codes])
            terms = -0.5 * np.log(2 * np.pi) - log_v - resid * resid * weights / 2.0
        return float(np.sum(terms))

    def residual_sd(self, psi: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """Per stimulus, the population std of its residuals about their own mean (σ_j)."""
        resid = self.residuals(psi, bias)
        codes = self.stimulus_codes
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = group_sum(codes, resid, self.n_stimuli) / self.per_stimulus
            centred = resid - mean[codes]
            return np.sqrt(group_sum(codes, centred * centred, self.n_stimuli) / self.per_stimulus)


def _design(
    stimulus_codes: np.ndarray,
    subject_codes: np.ndarray,
    scores: np.ndarray,
    n_stimuli: int,
    n_subjects: int,
    options: SubjectModelOptions,
) -> _Design:
    labels, n_components = _components(stimulus_codes, subject_codes, n_stimuli, n_subjects)
    return _Design(
        stimulus_codes=stimulus_codes,
        subject_codes=subject_codes,
        scores=scores,
        n_stimuli=n_stimuli,
        n_subjects=n_subjects,
        per_subject=group_sum(subject_codes, None, n_subjects),
        per_stimulus=group_sum(stimulus_codes, None, n_stimuli),
        component_of_stimulus=labels[:n_stimuli],
        component_of_subject=labels[n_stimuli:],
        n_components=n_components,
        floor=options.inconsistency_floor * max(float(np.std(scores)), 1e-12),
        epsilon=options.variance_epsilon,
    )


def fit_arrays(
    stimulus_codes: np.ndarray,
    subject_codes: np.ndarray,
    scores: np.ndarray,
    n_stimuli: int,
    n_subjects: int,
    options: SubjectModelOptions | None = None,
) -> _Fit:
    """Fit the model on integer-coded arrays (codes 0..n-1 of stimuli and subjects)."""
    options = options or SubjectModelOptions()
    design = _design(stimulus_codes, subject_codes, scores, n_stimuli, n_subjects, options)
    psi = group_sum(stimulus_codes, scores, n_stimuli) / design.per_stimulus
    bias = group_sum(subject_codes, scores - psi[stimulus_codes], n_subjects) / design.per_subject
    design.centre(psi, bias)
    inconsistency = design.inconsistency(psi, bias)
    converged = False
    iterations = 0
    while iterations < options.max_iterations:
        iterations += 1
        new_psi, new_bias, new_inconsistency = design.update(bias, inconsistency)
        change = max(
            float(np.max(np.abs(new_psi - psi))),
            float(np.max(np.abs(new_bias - bias))),
            float(np.max(np.abs(new_inconsistency - inconsistency))),
        )
        psi, bias, inconsistency = new_psi, new_bias, new_inconsistency
        if change < options.tolerance:
            converged = True
            break
    return _Fit(
        psi=psi,
        bias=bias,
        inconsistency=inconsistency,
        n_subject=design.per_subject,
        n_stimulus=design.per_stimulus,
        info_psi=design.information(inconsistency),
        residual_sd=design.residual_sd(psi, bias),
        iterations=iterations,
        converged=converged,
        loglik=design.loglik(psi, bias, inconsistency),
        n_components=design.n_components,
        at_floor=inconsistency <= design.floor * (1 + 1e-9),
    )


def true_score_se(fit: _Fit, method: TrueScoreSE) -> np.ndarray:
    """Standard error of ψ_j: eq. 5 (``"p910"``) or the Fisher information (``"fisher"``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "fisher":
            return 1.0 / np.sqrt(fit.info_psi)
        standard_error = fit.residual_sd / np.sqrt(fit.n_stimulus)
    return np.where(fit.n_stimulus >= 2, standard_error, np.nan)


def inconsistency_interval(
    inconsistency: np.ndarray, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """χ² interval of a standard deviation (eq. 7), with n degrees of freedom as SUREAL."""
    alpha = 1.0 - confidence
    low = inconsistency * np.sqrt(n / stats.chi2.ppf(1.0 - alpha / 2.0, n))
    high = inconsistency * np.sqrt(n / stats.chi2.ppf(alpha / 2.0, n))
    return low, high


def _stimulus_frame(
    fit: _Fit, stimuli: Coded, dimension: Any, z_crit: float, method: TrueScoreSE
) -> pd.DataFrame:
    standard_error = true_score_se(fit, method)
    return pd.DataFrame(
        {
            "stimulus": stimuli.labels.to_numpy(),
            "dimension": dimension,
            "n": fit.n_stimulus.astype(np.int64),
            "true_score": fit.psi,
            "residual_sd": fit.residual_sd,
            "se": standard_error,
            "ci_low": fit.psi - z_crit * standard_error,
            "ci_high": fit.psi + z_crit * standard_error,
        }
    )


def _subject_frame(
    fit: _Fit, subjects: Coded, dimension: Any, z_crit: float, confidence: float
) -> pd.DataFrame:
    bias_se = fit.inconsistency / np.sqrt(fit.n_subject)
    inconsistency_se = fit.inconsistency / np.sqrt(2.0 * fit.n_subject)
    inconsistency_low, inconsistency_high = inconsistency_interval(
        fit.inconsistency, fit.n_subject, confidence
    )
    return pd.DataFrame(
        {
            "subject": subjects.labels.to_numpy(),
            "dimension": dimension,
            "n": fit.n_subject.astype(np.int64),
            "bias": fit.bias,
            "bias_se": bias_se,
            "bias_ci_low": fit.bias - z_crit * bias_se,
            "bias_ci_high": fit.bias + z_crit * bias_se,
            "inconsistency": fit.inconsistency,
            "inconsistency_se": inconsistency_se,
            "inconsistency_ci_low": inconsistency_low,
            "inconsistency_ci_high": inconsistency_high,
            "at_floor": fit.at_floor,
        }
    )


def _split_by_rating_count(part: pd.DataFrame, minimum: int) -> tuple[pd.DataFrame, list]:
    """The ratings of subjects with at least ``minimum`` ratings, and the other subjects."""
    per_subject = part.groupby("subject", observed=True)["score"].transform("size")
    excluded = sorted(
        pd.unique(part.loc[per_subject < minimum, "subject"]).tolist(),
        key=str,
    )
    return part.loc[per_subject >= minimum], excluded


def fit_subject_model(
    ratings: pd.DataFrame, options: SubjectModelOptions | None = None
) -> SubjectModelResult:
    """Fit the P.910 Annex E / P.913 §12.6 model per dimension (see module docstring)."""
    options = options or SubjectModelOptions()
    z_crit = z_critical(options.confidence, options.z_constant)
    stim_frames, subj_frames, fit_rows = [], [], []
    columns = ["stimulus", "subject", "score"]
    for dimension, part in ratings.groupby("dimension", sort=True, observed=True)[columns]:
        fitted = _fit_dimension(dimension, part, options, z_crit)
        if fitted.stimuli is not None and fitted.subjects is not None:
            stim_frames.append(fitted.stimuli)
            subj_frames.append(fitted.subjects)
        fit_rows.append(fitted.fit_row)
    return SubjectModelResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(options)),
        stimuli=_concat_or_empty(stim_frames, _STIMULUS_COLUMNS),
        subjects=_concat_or_empty(subj_frames, _SUBJECT_COLUMNS),
        fit=pd.DataFrame(fit_rows),
    )


# The columns of the result's tables when no dimension could be fitted.
_STIMULUS_COLUMNS = [
    "stimulus",
    "dimension",
    "n",
    "true_score",
    "residual_sd",
    "se",
    "ci_low",
    "ci_high",
]
_SUBJECT_COLUMNS = ["subject", "dimension", "bias", "inconsistency"]


@dataclasses.dataclass(frozen=True)
class _DimensionFit:
    """One dimension's rows of the result; no stimulus or subject rows when none was fitted."""

    stimuli: pd.DataFrame | None
    subjects: pd.DataFrame | None
    fit_row: dict[str, Any]


def _fit_dimension(
    dimension: Any, part: pd.DataFrame, options: SubjectModelOptions, z_crit: float
) -> _DimensionFit:
    used, excluded = _split_by_rating_count(part, options.min_ratings_per_subject)
    if used.empty:
        row = {
            "dimension": dimension,
            "n_ratings": 0,
            "converged": False,
            "excluded_subjects": excluded,
        }
        return _DimensionFit(None, None, row)
    stimuli = encode(used["stimulus"])
    subjects = encode(used["subject"])
    scores = used["score"].to_numpy(dtype=float)
    fit = fit_arrays(stimuli.codes, subjects.codes, scores, stimuli.size, subjects.size, options)
    fit_row = {
        "dimension": dimension,
        "n_ratings": int(len(scores)),
        "n_stimuli": stimuli.size,
        "n_subjects": subjects.size,
        "iterations": fit.iterations,
        "converged": fit.converged,
        "loglik": fit.loglik,
        "n_components": fit.n_components,
        "n_at_floor": int(fit.at_floor.sum()),
        "excluded_subjects": excluded,
    }
    return _DimensionFit(
        stimuli=_stimulus_frame(fit, stimuli, dimension, z_crit, options.true_score_se),
        subjects=_subject_frame(fit, subjects, dimension, z_crit, options.confidence),
        fit_row=fit_row,
    )


def _concat_or_empty(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
