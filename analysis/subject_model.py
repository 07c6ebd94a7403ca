"""Maximum-likelihood subject model: true quality, subject bias and subject inconsistency.

Standard: ITU-T P.910 (10/2023) Annex E and ITU-T P.913 (06/2021) §12.6; Z. Li and
C. G. Bampis, "Recover subjective quality scores from noisy measurements", DCC 2017;
Z. Li et al., "A simple model for subject behavior in subjective experiments", HVEI 2020.

Model: the rating of stimulus j by subject i is U_ij = ψ_j + Δ_i + υ_i·X, X ~ N(0, 1),
with ψ_j the true score, Δ_i the subject's bias and υ_i the subject's inconsistency. The
log-likelihood Σ −log υ_i − (U_ij − ψ_j − Δ_i)² / (2υ_i²) is maximised by block
coordinate ascent; each block has a closed form given the others:

    ψ_j = Σ_i (U_ij − Δ_i) / υ_i²  /  Σ_i 1 / υ_i²       (over subjects who rated j)
    Δ_i = mean_j (U_ij − ψ_j)                           (over stimuli i rated)
    υ_i² = mean_j (U_ij − ψ_j − Δ_i)²

so the likelihood never decreases and any partial design and numeric scale is handled
(missing ratings are simply absent rows; repeated showings are independent observations).

Identifiability: ψ + c, Δ − c leave the likelihood unchanged, so the unweighted mean bias
of the subjects is fixed to 0, separately in each connected component of the
subject-stimulus design graph (biases of disconnected groups cannot be compared).

Uncertainty: standard errors from the diagonal of the Fisher (= observed, at the optimum)
information, as in P.913 / sureal: se(ψ_j) = (Σ_i 1/υ_i²)^(−1/2), se(Δ_i) = υ_i/√n_i,
se(υ_i) = υ_i/√(2 n_i); intervals are estimate ± z(1 − α/2)·se. They ignore covariances
between blocks and the sum-to-zero constraint, as the standard does.

Degenerate cases: subjects with fewer than ``min_ratings_per_subject`` ratings are excluded
(reported). The likelihood is unbounded: putting ψ_j = U_ij − Δ_i for one subject i makes
that subject's residuals vanish and log υ_i → −∞. The estimate sought is the interior
maximum, which block ascent from the MOS start finds for real panels (Netflix: 26 subjects,
VQEG HD3: 24). Small panels slide to the degenerate optimum instead - in simulations almost
always with ≤ 8 subjects, often with 10-16, rarely with ≥ 20 subjects on ≥ 30 stimuli - and
so does Netflix sureal on the same data, so this is the model, not the solver.
υ is therefore floored at ``inconsistency_floor`` × the pooled score std, and subjects at the
floor are flagged (``at_floor`` per subject, ``n_at_floor`` per dimension): their estimates,
and the true scores they dominate, should not be trusted.

The ML inconsistency is biased low for precise subjects: it ignores the share of the
weighted true score its own ratings supply, E[residual²] ≈ υ_i²(1 − w_i/Σw), w = 1/υ² (a
few percent for panels of ~20; tested in ``tests/test_subject_model.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from analysis._groups import Coded, encode, group_sum
from analysis.provenance import Provenance, options_dict
from common.jsonable import jsonable

METHOD = "p913_subject_model"
STANDARD = "ITU-T P.910 (10/2023) Annex E; ITU-T P.913 (06/2021) §12.6 (MLE, Li & Bampis 2017)"
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class SubjectModelOptions:
    max_iterations: int = 5000
    tolerance: float = 1e-9
    confidence: float = 0.95
    min_ratings_per_subject: int = 2
    inconsistency_floor: float = 1e-3


@dataclasses.dataclass(frozen=True)
class SubjectModelResult:
    """``stimuli``: true score per stimulus x dimension; ``subjects``: bias and inconsistency
    per subject x dimension; ``fit``: one row per dimension (iterations, log-likelihood)."""

    provenance: Provenance
    stimuli: pd.DataFrame
    subjects: pd.DataFrame
    fit: pd.DataFrame

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
        weights = 1.0 / (inconsistency * inconsistency)
        return group_sum(self.stimulus_codes, weights[self.subject_codes], self.n_stimuli)

    def update(
        self, bias: np.ndarray, inconsistency: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One round of the alternating estimates: weighted psi, then bias, then v."""
        weights = (1.0 / (inconsistency * inconsistency))[self.subject_codes]
        info_psi = group_sum(self.stimulus_codes, weights, self.n_stimuli)
        debiased = weights * (self.scores - bias[self.subject_codes])
        psi = group_sum(self.stimulus_codes, debiased, self.n_stimuli) / info_psi
        residual = self.scores - psi[self.stimulus_codes]
        new_bias = group_sum(self.subject_codes, residual, self.n_subjects) / self.per_subject
        self.centre(psi, new_bias)
        return psi, new_bias, self.inconsistency(psi, new_bias)

    def loglik(self, psi: np.ndarray, bias: np.ndarray, inconsistency: np.ndarray) -> float:
        resid = self.residuals(psi, bias)
        weights = (1.0 / (inconsistency * inconsistency))[self.subject_codes]
        log_v = np.log(inconsistency[self.subject_codes])
        return float(np.sum(-0.5 * np.log(2 * np.pi) - log_v - resid * resid * weights / 2.0))


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
        psi,
        bias,
        inconsistency,
        design.per_subject,
        design.per_stimulus,
        design.information(inconsistency),
        iterations,
        converged,
        design.loglik(psi, bias, inconsistency),
        design.n_components,
        inconsistency <= design.floor * (1 + 1e-9),
    )


def _stimulus_frame(fit: _Fit, stimuli: Coded, dimension: Any, z_crit: float) -> pd.DataFrame:
    standard_error = 1.0 / np.sqrt(fit.info_psi)
    return pd.DataFrame(
        {
            "stimulus": stimuli.labels.to_numpy(),
            "dimension": dimension,
            "n": fit.n_stimulus.astype(np.int64),
            "true_score": fit.psi,
            "se": standard_error,
            "ci_low": fit.psi - z_crit * standard_error,
            "ci_high": fit.psi + z_crit * standard_error,
        }
    )


def _subject_frame(fit: _Fit, subjects: Coded, dimension: Any, z_crit: float) -> pd.DataFrame:
    bias_se = fit.inconsistency / np.sqrt(fit.n_subject)
    inconsistency_se = fit.inconsistency / np.sqrt(2.0 * fit.n_subject)
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
            "inconsistency_ci_low": np.maximum(fit.inconsistency - z_crit * inconsistency_se, 0.0),
            "inconsistency_ci_high": fit.inconsistency + z_crit * inconsistency_se,
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
    z_crit = stats.norm.ppf(0.5 + options.confidence / 2.0)
    stim_frames, subj_frames, fit_rows = [], [], []
    columns = ["stimulus", "subject", "score"]
    for dimension, part in ratings.groupby("dimension", sort=True, observed=True)[columns]:
        used, excluded = _split_by_rating_count(part, options.min_ratings_per_subject)
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
        stimuli = encode(used["stimulus"])
        subjects = encode(used["subject"])
        scores = used["score"].to_numpy(dtype=float)
        fit = fit_arrays(
            stimuli.codes, subjects.codes, scores, stimuli.size, subjects.size, options
        )
        stim_frames.append(_stimulus_frame(fit, stimuli, dimension, z_crit))
        subj_frames.append(_subject_frame(fit, subjects, dimension, z_crit))
        fit_rows.append(
            {
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
        )
    stim_cols = ["stimulus", "dimension", "n", "true_score", "se", "ci_low", "ci_high"]
    return SubjectModelResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(options)),
        stimuli=pd.concat(stim_frames, ignore_index=True)
        if stim_frames
        else pd.DataFrame(columns=stim_cols),
        subjects=pd.concat(subj_frames, ignore_index=True)
        if subj_frames
        else pd.DataFrame(columns=["subject", "dimension", "bias", "inconsistency"]),
        fit=pd.DataFrame(fit_rows),
    )
