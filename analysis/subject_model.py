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
from analysis._groups import encode, group_sum
from analysis.confidence import Z_CONSTANTS, ZConstant, z_critical
from analysis.errors import OptionsError
from analysis.provenance import Provenance, jsonable, options_dict

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
    true_score_se: TrueScoreSE = "p910"
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
        return [
            (row.dimension, subject)
            for row in self.fit.itertuples(index=False)
            for subject in row.excluded_subjects
        ]

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


def _components(s: np.ndarray, j: np.ndarray, n_s: int, n_j: int) -> tuple[np.ndarray, int]:
    graph = sparse.coo_matrix((np.ones(len(s)), (s, n_s + j)), shape=(n_s + n_j, n_s + n_j)).tocsr()
    n_comp, labels = connected_components(graph, directed=False)
    return labels, n_comp


def _residual_sd(codes: np.ndarray, resid: np.ndarray, n_groups: int) -> np.ndarray:
    """Population standard deviation of the residuals of each group about their own mean."""
    count = group_sum(codes, None, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = group_sum(codes, resid, n_groups) / count
        centred = resid - mean[codes]
        return np.sqrt(group_sum(codes, centred * centred, n_groups) / count)


def fit_arrays(
    s: np.ndarray,
    j: np.ndarray,
    u: np.ndarray,
    n_s: int,
    n_j: int,
    options: SubjectModelOptions | None = None,
) -> _Fit:
    """Fit the model on integer-coded arrays (stimulus codes ``s``, subject codes ``j``)."""
    o = options or SubjectModelOptions()
    n_sub = group_sum(j, None, n_j)
    n_stim = group_sum(s, None, n_s)
    labels, n_comp = _components(s, j, n_s, n_j)
    comp_s, comp_j = labels[:n_s], labels[n_s:]
    comp_count = np.bincount(comp_j, minlength=n_comp).astype(float)
    floor = o.inconsistency_floor * max(float(np.std(u)), 1e-12)
    eps = o.variance_epsilon

    def centre(psi: np.ndarray, bias: np.ndarray) -> None:
        shift = np.bincount(comp_j, weights=bias, minlength=n_comp) / np.maximum(comp_count, 1)
        bias -= shift[comp_j]
        psi += shift[comp_s]

    psi = group_sum(s, u, n_s) / n_stim
    bias = group_sum(j, u - psi[s], n_j) / n_sub
    centre(psi, bias)
    resid = u - psi[s] - bias[j]
    v = np.maximum(np.sqrt(group_sum(j, resid * resid, n_j) / n_sub), floor)
    converged = False
    iterations = 0
    while iterations < o.max_iterations:
        iterations += 1
        wj = (1.0 / (v * v + eps))[j]
        new_psi = group_sum(s, wj * (u - bias[j]), n_s) / group_sum(s, wj, n_s)
        new_bias = group_sum(j, u - new_psi[s], n_j) / n_sub
        centre(new_psi, new_bias)
        resid = u - new_psi[s] - new_bias[j]
        new_v = np.maximum(np.sqrt(group_sum(j, resid * resid, n_j) / n_sub), floor)
        change = max(
            float(np.max(np.abs(new_psi - psi))),
            float(np.max(np.abs(new_bias - bias))),
            float(np.max(np.abs(new_v - v))),
        )
        psi, bias, v = new_psi, new_bias, new_v
        if change < o.tolerance:
            converged = True
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 1.0 / (v * v)
        info_psi = group_sum(s, w[j], n_s)
        resid = u - psi[s] - bias[j]
        loglik = float(np.sum(-0.5 * np.log(2 * np.pi) - np.log(v[j]) - resid * resid * w[j] / 2.0))
    at_floor = v <= floor * (1 + 1e-9)
    return _Fit(
        psi=psi,
        bias=bias,
        inconsistency=v,
        n_subject=n_sub,
        n_stimulus=n_stim,
        info_psi=info_psi,
        residual_sd=_residual_sd(s, resid, n_s),
        iterations=iterations,
        converged=converged,
        loglik=loglik,
        n_components=n_comp,
        at_floor=at_floor,
    )


def true_score_se(fit: _Fit, method: TrueScoreSE) -> np.ndarray:
    """Standard error of ψ_j: eq. 5 (``"p910"``) or the Fisher information (``"fisher"``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "fisher":
            return 1.0 / np.sqrt(fit.info_psi)
        se = fit.residual_sd / np.sqrt(fit.n_stimulus)
    return np.where(fit.n_stimulus >= 2, se, np.nan)


def inconsistency_interval(
    inconsistency: np.ndarray, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """χ² interval of a standard deviation (eq. 7), with n degrees of freedom as SUREAL."""
    alpha = 1.0 - confidence
    low = inconsistency * np.sqrt(n / stats.chi2.ppf(1.0 - alpha / 2.0, n))
    high = inconsistency * np.sqrt(n / stats.chi2.ppf(alpha / 2.0, n))
    return low, high


def fit_subject_model(
    ratings: pd.DataFrame, options: SubjectModelOptions | None = None
) -> SubjectModelResult:
    """Fit the P.910 Annex E / P.913 §12.6 model per dimension (see module docstring)."""
    o = options or SubjectModelOptions()
    z = z_critical(o.confidence, o.z_constant)
    stim_frames, subj_frames, fit_rows = [], [], []
    cols = ["stimulus", "subject", "score"]
    for dimension, part in ratings.groupby("dimension", sort=True, observed=True)[cols]:
        per_subject = part.groupby("subject", observed=True)["score"].transform("size")
        excluded = sorted(
            pd.unique(part.loc[per_subject < o.min_ratings_per_subject, "subject"]).tolist(),
            key=str,
        )
        used = part.loc[per_subject >= o.min_ratings_per_subject]
        if used.empty:
            fit_rows.append(
                {
                    "dimension": dimension,
                    "n_ratings": 0,
                    "converged": False,
                    "excluded_subjects": excluded,
                }
            )
            continue
        stim = encode(used["stimulus"])
        subj = encode(used["subject"])
        u = used["score"].to_numpy(dtype=float)
        f = fit_arrays(stim.codes, subj.codes, u, stim.size, subj.size, o)
        se_psi = true_score_se(f, o.true_score_se)
        stim_frames.append(
            pd.DataFrame(
                {
                    "stimulus": stim.labels.to_numpy(),
                    "dimension": dimension,
                    "n": f.n_stimulus.astype(np.int64),
                    "true_score": f.psi,
                    "residual_sd": f.residual_sd,
                    "se": se_psi,
                    "ci_low": f.psi - z * se_psi,
                    "ci_high": f.psi + z * se_psi,
                }
            )
        )
        se_b = f.inconsistency / np.sqrt(f.n_subject)
        se_v = f.inconsistency / np.sqrt(2.0 * f.n_subject)
        v_low, v_high = inconsistency_interval(f.inconsistency, f.n_subject, o.confidence)
        subj_frames.append(
            pd.DataFrame(
                {
                    "subject": subj.labels.to_numpy(),
                    "dimension": dimension,
                    "n": f.n_subject.astype(np.int64),
                    "bias": f.bias,
                    "bias_se": se_b,
                    "bias_ci_low": f.bias - z * se_b,
                    "bias_ci_high": f.bias + z * se_b,
                    "inconsistency": f.inconsistency,
                    "inconsistency_se": se_v,
                    "inconsistency_ci_low": v_low,
                    "inconsistency_ci_high": v_high,
                    "at_floor": f.at_floor,
                }
            )
        )
        fit_rows.append(
            {
                "dimension": dimension,
                "n_ratings": int(len(u)),
                "n_stimuli": stim.size,
                "n_subjects": subj.size,
                "iterations": f.iterations,
                "converged": f.converged,
                "loglik": f.loglik,
                "n_components": f.n_components,
                "n_at_floor": int(f.at_floor.sum()),
                "excluded_subjects": excluded,
            }
        )
    stim_cols = ["stimulus", "dimension", "n", "true_score", "residual_sd", "se"]
    return SubjectModelResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(o)),
        stimuli=pd.concat(stim_frames, ignore_index=True)
        if stim_frames
        else pd.DataFrame(columns=[*stim_cols, "ci_low", "ci_high"]),
        subjects=pd.concat(subj_frames, ignore_index=True)
        if subj_frames
        else pd.DataFrame(columns=["subject", "dimension", "bias", "inconsistency"]),
        fit=pd.DataFrame(fit_rows),
    )
