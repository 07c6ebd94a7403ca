"""Reliability of MOS: split-half correlation, ICC and Krippendorff's alpha.

* Split-half: the subjects are split at random into two halves (sizes ⌊k/2⌋ and ⌈k/2⌉),
  the MOS of each half is computed on the stimuli both halves rated, and SRCC / PLCC between
  the halves are corrected to full-panel length by the Spearman-Brown prophecy formula
  r_SB = 2r / (1 + r) (Spearman 1910; Brown 1910). Repeated over ``n_splits`` seeded random
  splits; mean, std and percentiles are reported. Standard practice for IQA databases (e.g.
  KonIQ-10k, Hosu et al. 2020).
* ICC (Shrout & Fleiss, Psychol. Bull. 86(2), 1979; McGraw & Wong, Psychol. Methods 1(1),
  1996): when every subject rated every stimulus, ICC(2,1) and ICC(2,k) (two-way random
  effects, absolute agreement, single rater / mean of k raters) with McGraw-Wong 95 % CIs.
  ICC(1,1) and ICC(1,k) (one-way random effects) are always reported because they are the
  forms defined for partial designs: with unequal numbers of ratings per stimulus the
  ANOVA group size is k0 = (N − Σn_j²/N)/(n − 1) (Searle, Variance Components, 1992), and
  their CIs are omitted (the F-based CI assumes balance).
* Krippendorff's alpha, interval metric (Krippendorff, "Computing Krippendorff's
  alpha-reliability", 2011): α = 1 − D_o/D_e with D_o and D_e from closed-form sums of
  squares per stimulus, O(N) in the number of ratings, no coincidence matrix.

All take one rating per (stimulus, subject, dimension); repeated showings are averaged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from analysis._checks import check_int_at_least, check_probability
from analysis._groups import Coded, encode, group_sum, rank_rows
from analysis.io import collapse_repeats
from analysis.provenance import Provenance, options_dict
from common.jsonable import jsonable

METHOD = "reliability"
STANDARD = (
    "split-half + Spearman-Brown; ICC per Shrout & Fleiss 1979 / McGraw & Wong 1996; "
    "Krippendorff alpha (interval) 2011"
)
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class ReliabilityOptions:
    n_splits: int = dataclasses.field(default=100, metadata={"help": "random split-halves"})
    seed: int = 0
    confidence: float = 0.95
    icc: bool = True
    krippendorff: bool = True

    def __post_init__(self) -> None:
        check_int_at_least("reliability.n_splits", self.n_splits, 1)
        check_int_at_least("reliability.seed", self.seed, 0)
        check_probability("reliability.confidence", self.confidence)


@dataclasses.dataclass(frozen=True)
class ReliabilityResult:
    """``split_half``: one row per dimension (summary); ``splits``: one row per split;
    ``icc``: one row per dimension x form; ``krippendorff``: one row per dimension."""

    provenance: Provenance
    split_half: pd.DataFrame
    splits: pd.DataFrame
    icc: pd.DataFrame
    krippendorff: pd.DataFrame

    def to_summary(self) -> dict[str, Any]:
        return jsonable(
            {
                **self.provenance.to_dict(),
                "split_half": self.split_half.to_dict(orient="records"),
                "icc": self.icc.to_dict(orient="records"),
                "krippendorff": self.krippendorff.to_dict(orient="records"),
            }
        )


def spearman_brown(coefficient: np.ndarray | float, factor: float = 2.0) -> np.ndarray | float:
    """Reliability of a test ``factor`` times as long as one with reliability ``r``."""
    return factor * np.asarray(coefficient) / (1.0 + (factor - 1.0) * np.asarray(coefficient))


def _rowwise_pearson(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    first = first - first.mean(axis=1, keepdims=True)
    second = second - second.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("ij,ij->i", first, second) / np.sqrt(
            np.einsum("ij,ij->i", first, first) * np.einsum("ij,ij->i", second, second)
        )


# Below this many stimulus x subject cells the score matrix is held dense so that the half
# sums are one BLAS product; sparse products are ~20x slower per rating.
DENSE_CELLS = 20_000_000


def _half_sums(
    stim: np.ndarray,
    subj: np.ndarray,
    scores: np.ndarray,
    n_s: int,
    n_subjects: int,
    member: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score sums and counts of half A per split (splits x stimuli), and the totals."""
    if n_s * n_subjects <= DENSE_CELLS:
        values = np.zeros((n_subjects, n_s))
        values[subj, stim] = scores
        present = np.zeros((n_subjects, n_s))
        present[subj, stim] = 1.0
        return member.T @ values, member.T @ present, values.sum(axis=0), present.sum(axis=0)
    values = sparse.csr_matrix((scores, (stim, subj)), shape=(n_s, n_subjects))
    present = sparse.csr_matrix((np.ones_like(scores), (stim, subj)), shape=(n_s, n_subjects))
    return (
        np.ascontiguousarray((values @ member).T),
        np.ascontiguousarray((present @ member).T),
        np.asarray(values.sum(axis=1)).ravel(),
        np.asarray(present.sum(axis=1)).ravel(),
    )


def _half_scores(
    part: pd.DataFrame, n_splits: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MOS of half A and of half B per split (splits x stimuli), and where both exist."""
    stimuli, subjects = encode(part["stimulus"]), encode(part["subject"])
    n_subjects = subjects.size
    scores = part["score"].to_numpy(dtype=float)
    member = np.zeros((n_subjects, n_splits))
    for split_index in range(n_splits):
        member[rng.permutation(n_subjects)[: n_subjects // 2], split_index] = 1.0
    sum_a, count_a, total, count = _half_sums(
        stimuli.codes, subjects.codes, scores, stimuli.size, n_subjects, member
    )
    sum_b, count_b = total - sum_a, count - count_a
    with np.errstate(invalid="ignore", divide="ignore"):
        mos_a, mos_b = sum_a / count_a, sum_b / count_b
    return mos_a, mos_b, (count_a > 0) & (count_b > 0)


def _half_correlations(
    mos_a: np.ndarray, mos_b: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SRCC, PLCC and the number of stimuli both halves rated, per split."""
    n_splits = len(mos_a)
    if valid.all():
        plcc = _rowwise_pearson(mos_a, mos_b)
        srcc = _rowwise_pearson(rank_rows(mos_a), rank_rows(mos_b))
        return srcc, plcc, np.full(n_splits, mos_a.shape[1])
    plcc, srcc = np.full(n_splits, np.nan), np.full(n_splits, np.nan)
    for split_index in range(n_splits):
        both = valid[split_index]
        if both.sum() >= 3:
            half_a = mos_a[split_index, both][None, :]
            half_b = mos_b[split_index, both][None, :]
            plcc[split_index] = _rowwise_pearson(half_a, half_b)[0]
            srcc[split_index] = _rowwise_pearson(rank_rows(half_a), rank_rows(half_b))[0]
    return srcc, plcc, valid.sum(axis=1)


def _split_half_row(frame: pd.DataFrame, confidence: float) -> dict[str, float]:
    """Mean, sample std and the central ``confidence`` interval of each statistic."""
    row: dict[str, float] = {}
    low, high = 50 * (1 - confidence), 50 * (1 + confidence)
    for column in ("srcc", "plcc", "srcc_sb", "plcc_sb"):
        values = frame[column].to_numpy()
        finite = np.isfinite(values)
        row[f"{column}_mean"] = float(np.nanmean(values)) if finite.any() else np.nan
        row[f"{column}_std"] = float(np.nanstd(values, ddof=1)) if finite.sum() > 1 else np.nan
        row[f"{column}_p{low:g}"] = float(np.nanpercentile(values, low)) if finite.any() else np.nan
        row[f"{column}_p{high:g}"] = (
            float(np.nanpercentile(values, high)) if finite.any() else np.nan
        )
    return row


def split_half(
    ratings: pd.DataFrame, options: ReliabilityOptions | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split-half SRCC / PLCC with Spearman-Brown correction per dimension (see module doc).

    Vectorised over splits: with V the subject x stimulus score matrix and M the subject x
    split membership matrix, Mᵀ V gives every half's score sums at once.
    """
    options = options or ReliabilityOptions()
    n_splits = options.n_splits
    data = collapse_repeats(ratings, "mean")
    rng = np.random.default_rng(options.seed)
    summary: list[dict[str, Any]] = []
    per_split: list[pd.DataFrame] = []
    columns = ["stimulus", "subject", "score"]
    for dimension, part in data.groupby("dimension", sort=True, observed=True)[columns]:
        n_subjects = part["subject"].nunique()
        if n_subjects < 2:
            summary.append({"dimension": dimension, "n_subjects": n_subjects, "n_splits": 0})
            continue
        srcc, plcc, n_common = _half_correlations(*_half_scores(part, n_splits, rng))
        frame = pd.DataFrame(
            {
                "dimension": dimension,
                "split": np.arange(n_splits),
                "n_stimuli": n_common,
                "srcc": srcc,
                "plcc": plcc,
                "srcc_sb": spearman_brown(srcc),
                "plcc_sb": spearman_brown(plcc),
            }
        )
        per_split.append(frame)
        head = {"dimension": dimension, "n_subjects": n_subjects, "n_splits": n_splits}
        summary.append({**head, **_split_half_row(frame, options.confidence)})
    splits = pd.concat(per_split, ignore_index=True) if per_split else pd.DataFrame()
    return pd.DataFrame(summary), splits


@dataclasses.dataclass(frozen=True)
class _OneWayAnova:
    """One-way ANOVA of the scores by stimulus: what every ICC form is computed from."""

    n_stimuli: int
    n_subjects: int
    total: int  # ratings
    grand_mean: float
    ss_within: float
    msr: float  # mean square between stimuli (rows)
    msw: float  # mean square within stimuli
    k0: float  # effective ratings per stimulus (unbalanced designs)
    balanced: bool


def _one_way_anova(stimuli: Coded, n_subjects: int, scores: np.ndarray) -> _OneWayAnova | None:
    n_stimuli, total = stimuli.size, len(scores)
    if n_stimuli < 2 or total <= n_stimuli:
        return None
    grand = float(scores.mean())
    per_stimulus = group_sum(stimuli.codes, None, n_stimuli)
    stimulus_means = group_sum(stimuli.codes, scores, n_stimuli) / per_stimulus
    ss_between = float(np.sum(per_stimulus * (stimulus_means - grand) ** 2))
    ss_within = float(np.sum((scores - stimulus_means[stimuli.codes]) ** 2))
    return _OneWayAnova(
        n_stimuli=n_stimuli,
        n_subjects=n_subjects,
        total=total,
        grand_mean=grand,
        ss_within=ss_within,
        msr=ss_between / (n_stimuli - 1),
        msw=ss_within / (total - n_stimuli),
        k0=float((total - np.sum(per_stimulus**2) / total) / (n_stimuli - 1)),
        balanced=bool(np.all(per_stimulus == per_stimulus[0])),
    )


def _icc_row(
    form: str,
    value: float,
    interval: tuple[float, float],
    f_ratio: float,
    dfs: tuple[float, float],
    raters: float,
) -> dict[str, Any]:
    """One row of the ICC table: the form, its value and CI, and the F test behind it."""
    return {
        "form": form,
        "icc": value,
        "ci_low": interval[0],
        "ci_high": interval[1],
        "F": f_ratio,
        "df1": dfs[0],
        "df2": dfs[1],
        "k": raters,
        "p": float(stats.f.sf(f_ratio, dfs[0], dfs[1])),
    }


def _one_way_rows(anova: _OneWayAnova, alpha: float) -> list[dict[str, Any]]:
    """ICC(1,1) and ICC(1,k), with their F-based CI for balanced designs."""
    msr, msw, k0 = anova.msr, anova.msw, anova.k0
    df1, df2 = anova.n_stimuli - 1, anova.total - anova.n_stimuli
    f_ratio = msr / msw if msw > 0 else np.inf
    rows: list[dict[str, Any]] = []
    for form, value in (
        ("ICC(1,1)", (msr - msw) / (msr + (k0 - 1) * msw)),
        ("ICC(1,k)", (msr - msw) / msr),
    ):
        low = high = np.nan
        if anova.balanced and np.isfinite(f_ratio):
            f_low = f_ratio / stats.f.ppf(1 - alpha / 2, df1, df2)
            f_up = f_ratio * stats.f.ppf(1 - alpha / 2, df2, df1)
            if form == "ICC(1,1)":
                low, high = (f_low - 1) / (f_low + k0 - 1), (f_up - 1) / (f_up + k0 - 1)
            else:
                low, high = 1 - 1 / f_low, 1 - 1 / f_up
        rows.append(_icc_row(form, value, (low, high), f_ratio, (df1, df2), k0))
    return rows


def _two_way_rows(
    anova: _OneWayAnova, subjects: Coded, scores: np.ndarray, alpha: float
) -> list[dict[str, Any]]:
    """ICC(2,1) and ICC(2,k) (absolute agreement), for complete designs only."""
    n_stimuli, n_subjects, msr = anova.n_stimuli, anova.n_subjects, anova.msr
    subject_means = group_sum(subjects.codes, scores, n_subjects) / n_stimuli
    ss_cols = float(n_stimuli * np.sum((subject_means - anova.grand_mean) ** 2))
    ss_err = anova.ss_within - ss_cols
    df1, df2 = n_stimuli - 1, (n_stimuli - 1) * (n_subjects - 1)
    msc, mse = ss_cols / (n_subjects - 1), ss_err / df2
    f_ratio = msr / mse if mse > 0 else np.inf
    icc21 = (msr - mse) / (msr + (n_subjects - 1) * mse + n_subjects * (msc - mse) / n_stimuli)
    icc2k = (msr - mse) / (msr + (msc - mse) / n_stimuli)
    low1, high1, lowk, highk = _mcgraw_wong_ci(icc21, msr, msc, mse, n_stimuli, n_subjects, alpha)
    return [
        _icc_row(form, value, (low, high), f_ratio, (df1, df2), float(n_subjects))
        for form, value, low, high in (
            ("ICC(2,1)", icc21, low1, high1),
            ("ICC(2,k)", icc2k, lowk, highk),
        )
    ]


def _icc_dimension(part: pd.DataFrame, confidence: float) -> list[dict[str, Any]]:
    stimuli, subjects = encode(part["stimulus"]), encode(part["subject"])
    scores = part["score"].to_numpy(dtype=float)
    anova = _one_way_anova(stimuli, subjects.size, scores)
    if anova is None:
        return []
    alpha = 1.0 - confidence
    rows = _one_way_rows(anova, alpha)
    if anova.balanced and anova.total == anova.n_stimuli * anova.n_subjects:
        rows += _two_way_rows(anova, subjects, scores, alpha)
    return rows


def _mcgraw_wong_ci(
    icc: float, msr: float, msc: float, mse: float, n_stimuli: int, n_subjects: int, alpha: float
) -> tuple[float, float, float, float]:
    """CI of ICC(A,1) and ICC(A,k), McGraw & Wong (1996) Table 7, case 2A (Satterthwaite df)."""
    if not np.isfinite(icc) or icc >= 1 or mse <= 0:
        return (np.nan,) * 4
    coef_a = n_subjects * icc / (n_stimuli * (1 - icc))
    coef_b = 1 + n_subjects * icc * (n_stimuli - 1) / (n_stimuli * (1 - icc))
    dof = (coef_a * msc + coef_b * mse) ** 2 / (
        (coef_a * msc) ** 2 / (n_subjects - 1)
        + (coef_b * mse) ** 2 / ((n_stimuli - 1) * (n_subjects - 1))
    )
    f_up = stats.f.ppf(1 - alpha / 2, n_stimuli - 1, dof)
    f_lo = stats.f.ppf(1 - alpha / 2, dof, n_stimuli - 1)
    low = (
        n_stimuli
        * (msr - f_up * mse)
        / (
            f_up * (n_subjects * msc + (n_subjects * n_stimuli - n_subjects - n_stimuli) * mse)
            + n_stimuli * msr
        )
    )
    high = (
        n_stimuli
        * (f_lo * msr - mse)
        / (
            n_subjects * msc
            + (n_subjects * n_stimuli - n_subjects - n_stimuli) * mse
            + n_stimuli * f_lo * msr
        )
    )
    return (
        low,
        high,
        low * n_subjects / (1 + low * (n_subjects - 1)),
        high * n_subjects / (1 + high * (n_subjects - 1)),
    )


def icc(ratings: pd.DataFrame, options: ReliabilityOptions | None = None) -> pd.DataFrame:
    """ICC forms per dimension (see module doc for which form applies to which design)."""
    options = options or ReliabilityOptions()
    data = collapse_repeats(ratings, "mean")
    rows = []
    for dimension, part in data.groupby("dimension", sort=True, observed=True)[
        ["stimulus", "subject", "score"]
    ]:
        rows += [{"dimension": dimension, **r} for r in _icc_dimension(part, options.confidence)]
    return pd.DataFrame(rows)


def krippendorff_alpha_interval(ratings: pd.DataFrame) -> pd.DataFrame:
    """Krippendorff's alpha (interval metric) per dimension, in O(N).

    With m_u pairable values in unit u (stimuli with m_u ≥ 2), n = Σ m_u,
    D_o = (1/n) Σ_u 2(m_u Σv² − (Σv)²)/(m_u − 1) and D_e = 2(n Σv² − (Σv)²)/(n(n − 1)),
    which equal Krippendorff's coincidence-matrix definitions for δ² = (v − v')².
    """
    data = collapse_repeats(ratings, "mean")
    rows = []
    for dimension, part in data.groupby("dimension", sort=True, observed=True)[
        ["stimulus", "score"]
    ]:
        stim = encode(part["stimulus"])
        scores = part["score"].to_numpy(dtype=float)
        values_per_unit = group_sum(stim.codes, None, stim.size)
        pairable = (values_per_unit >= 2)[stim.codes]
        xs, codes = scores[pairable], stim.codes[pairable]
        m_u = values_per_unit[values_per_unit >= 2]
        n_pairable = float(m_u.sum())
        if n_pairable < 2:
            rows.append({"dimension": dimension, "alpha": np.nan, "n_pairable": int(n_pairable)})
            continue
        # Centring first keeps the sums of squares exact for scores far from zero.
        xs = xs - xs.mean()
        s1 = group_sum(codes, xs, stim.size)[values_per_unit >= 2]
        s2 = group_sum(codes, xs * xs, stim.size)[values_per_unit >= 2]
        d_o = float(np.sum(2 * (m_u * s2 - s1 * s1) / (m_u - 1))) / n_pairable
        d_e = (
            2
            * (n_pairable * float(np.sum(xs * xs)) - float(np.sum(xs)) ** 2)
            / (n_pairable * (n_pairable - 1))
        )
        alpha = 1 - d_o / d_e if d_e > 0 else np.nan
        rows.append(
            {
                "dimension": dimension,
                "alpha": alpha,
                "n_pairable": int(n_pairable),
                "D_o": d_o,
                "D_e": d_e,
            }
        )
    return pd.DataFrame(rows)


def reliability(
    ratings: pd.DataFrame, options: ReliabilityOptions | None = None
) -> ReliabilityResult:
    """Split-half, ICC and Krippendorff's alpha per dimension."""
    options = options or ReliabilityOptions()
    summary, splits = split_half(ratings, options)
    return ReliabilityResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(options)),
        split_half=summary,
        splits=splits,
        icc=icc(ratings, options) if options.icc else pd.DataFrame(),
        krippendorff=krippendorff_alpha_interval(ratings)
        if options.krippendorff
        else pd.DataFrame(),
    )
