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
from analysis._groups import encode, group_sum, rank_rows
from analysis.io import collapse_repeats
from analysis.provenance import Provenance, jsonable, options_dict

METHOD = "reliability"
STANDARD = (
    "split-half + Spearman-Brown; ICC per Shrout & Fleiss 1979 / McGraw & Wong 1996; "
    "Krippendorff alpha (interval) 2011"
)
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class ReliabilityOptions:
    n_splits: int = 100
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


def spearman_brown(r: np.ndarray | float, factor: float = 2.0) -> np.ndarray | float:
    """Reliability of a test ``factor`` times as long as one with reliability ``r``."""
    return factor * np.asarray(r) / (1.0 + (factor - 1.0) * np.asarray(r))


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("ij,ij->i", a, b) / np.sqrt(
            np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b)
        )


# Below this many stimulus x subject cells the score matrix is held dense so that the half
# sums are one BLAS product; sparse products are ~20x slower per rating.
DENSE_CELLS = 20_000_000


def _half_sums(
    stim: np.ndarray, subj: np.ndarray, x: np.ndarray, n_s: int, k: int, member: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score sums and counts of half A per split (splits x stimuli), and the totals."""
    if n_s * k <= DENSE_CELLS:
        values = np.zeros((k, n_s))
        values[subj, stim] = x
        present = np.zeros((k, n_s))
        present[subj, stim] = 1.0
        return member.T @ values, member.T @ present, values.sum(axis=0), present.sum(axis=0)
    values = sparse.csr_matrix((x, (stim, subj)), shape=(n_s, k))
    present = sparse.csr_matrix((np.ones_like(x), (stim, subj)), shape=(n_s, k))
    return (
        np.ascontiguousarray((values @ member).T),
        np.ascontiguousarray((present @ member).T),
        np.asarray(values.sum(axis=1)).ravel(),
        np.asarray(present.sum(axis=1)).ravel(),
    )


def split_half(
    ratings: pd.DataFrame, options: ReliabilityOptions | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split-half SRCC / PLCC with Spearman-Brown correction per dimension (see module doc).

    Vectorised over splits: with V the subject x stimulus score matrix and M the subject x
    split membership matrix, Mᵀ V gives every half's score sums at once.
    """
    o = options or ReliabilityOptions()
    data = collapse_repeats(ratings, "mean")
    rng = np.random.default_rng(o.seed)
    summary, per_split = [], []
    cols = ["stimulus", "subject", "score"]
    for dimension, part in data.groupby("dimension", sort=True, observed=True)[cols]:
        stim, subj = encode(part["stimulus"]), encode(part["subject"])
        k = subj.size
        if k < 2:
            summary.append({"dimension": dimension, "n_subjects": k, "n_splits": 0})
            continue
        x = part["score"].to_numpy(dtype=float)
        member = np.zeros((k, o.n_splits))
        for col in range(o.n_splits):
            member[rng.permutation(k)[: k // 2], col] = 1.0
        sum_a, cnt_a, total, count = _half_sums(stim.codes, subj.codes, x, stim.size, k, member)
        sum_b, cnt_b = total - sum_a, count - cnt_a
        with np.errstate(invalid="ignore", divide="ignore"):
            mos_a, mos_b = sum_a / cnt_a, sum_b / cnt_b
        valid = (cnt_a > 0) & (cnt_b > 0)
        if valid.all():
            plcc = _rowwise_pearson(mos_a, mos_b)
            srcc = _rowwise_pearson(rank_rows(mos_a), rank_rows(mos_b))
            n_common = np.full(o.n_splits, stim.size)
        else:
            plcc, srcc = np.full(o.n_splits, np.nan), np.full(o.n_splits, np.nan)
            n_common = valid.sum(axis=1)
            for row in range(o.n_splits):
                m = valid[row]
                if m.sum() >= 3:
                    a, b = mos_a[row, m][None, :], mos_b[row, m][None, :]
                    plcc[row] = _rowwise_pearson(a, b)[0]
                    srcc[row] = _rowwise_pearson(rank_rows(a), rank_rows(b))[0]
        frame = pd.DataFrame(
            {
                "dimension": dimension,
                "split": np.arange(o.n_splits),
                "n_stimuli": n_common,
                "srcc": srcc,
                "plcc": plcc,
                "srcc_sb": spearman_brown(srcc),
                "plcc_sb": spearman_brown(plcc),
            }
        )
        per_split.append(frame)
        row: dict[str, Any] = {"dimension": dimension, "n_subjects": k, "n_splits": o.n_splits}
        lo, hi = 50 * (1 - o.confidence), 50 * (1 + o.confidence)
        for col in ("srcc", "plcc", "srcc_sb", "plcc_sb"):
            v = frame[col].to_numpy()
            row[f"{col}_mean"] = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
            row[f"{col}_std"] = float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else np.nan
            row[f"{col}_p{lo:g}"] = (
                float(np.nanpercentile(v, lo)) if np.isfinite(v).any() else np.nan
            )
            row[f"{col}_p{hi:g}"] = (
                float(np.nanpercentile(v, hi)) if np.isfinite(v).any() else np.nan
            )
        summary.append(row)
    splits = pd.concat(per_split, ignore_index=True) if per_split else pd.DataFrame()
    return pd.DataFrame(summary), splits


def _icc_dimension(part: pd.DataFrame, confidence: float) -> list[dict[str, Any]]:
    stim, subj = encode(part["stimulus"]), encode(part["subject"])
    x = part["score"].to_numpy(dtype=float)
    n, k, total = stim.size, subj.size, len(x)
    rows: list[dict[str, Any]] = []
    if n < 2 or total <= n:
        return rows
    grand = x.mean()
    n_j = group_sum(stim.codes, None, n)
    mean_j = group_sum(stim.codes, x, n) / n_j
    ss_between = float(np.sum(n_j * (mean_j - grand) ** 2))
    ss_within = float(np.sum((x - mean_j[stim.codes]) ** 2))
    msr, msw = ss_between / (n - 1), ss_within / (total - n)
    k0 = (total - np.sum(n_j**2) / total) / (n - 1)
    balanced = bool(np.all(n_j == n_j[0]))
    alpha = 1.0 - confidence
    f1 = msr / msw if msw > 0 else np.inf
    for form, value in (
        ("ICC(1,1)", (msr - msw) / (msr + (k0 - 1) * msw)),
        ("ICC(1,k)", (msr - msw) / msr),
    ):
        low = high = np.nan
        if balanced and np.isfinite(f1):
            fl = f1 / stats.f.ppf(1 - alpha / 2, n - 1, total - n)
            fu = f1 * stats.f.ppf(1 - alpha / 2, total - n, n - 1)
            if form == "ICC(1,1)":
                low, high = (fl - 1) / (fl + k0 - 1), (fu - 1) / (fu + k0 - 1)
            else:
                low, high = 1 - 1 / fl, 1 - 1 / fu
        rows.append(
            {
                "form": form,
                "icc": value,
                "ci_low": low,
                "ci_high": high,
                "F": f1,
                "df1": n - 1,
                "df2": total - n,
                "k": k0,
                "p": float(stats.f.sf(f1, n - 1, total - n)),
            }
        )
    complete = balanced and total == n * k
    if complete:
        mean_i = group_sum(subj.codes, x, k) / n
        ss_cols = float(n * np.sum((mean_i - grand) ** 2))
        ss_err = ss_within - ss_cols
        msc, mse = ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
        f2 = msr / mse if mse > 0 else np.inf
        icc21 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        icc2k = (msr - mse) / (msr + (msc - mse) / n)
        low1, high1, lowk, highk = _mcgraw_wong_ci(icc21, msr, msc, mse, n, k, alpha)
        for form, value, lo, hi in (
            ("ICC(2,1)", icc21, low1, high1),
            ("ICC(2,k)", icc2k, lowk, highk),
        ):
            rows.append(
                {
                    "form": form,
                    "icc": value,
                    "ci_low": lo,
                    "ci_high": hi,
                    "F": f2,
                    "df1": n - 1,
                    "df2": (n - 1) * (k - 1),
                    "k": float(k),
                    "p": float(stats.f.sf(f2, n - 1, (n - 1) * (k - 1))),
                }
            )
    return rows


def _mcgraw_wong_ci(
    icc: float, msr: float, msc: float, mse: float, n: int, k: int, alpha: float
) -> tuple[float, float, float, float]:
    """CI of ICC(A,1) and ICC(A,k), McGraw & Wong (1996) Table 7, case 2A (Satterthwaite df)."""
    if not np.isfinite(icc) or icc >= 1 or mse <= 0:
        return (np.nan,) * 4
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    f_up = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f_lo = stats.f.ppf(1 - alpha / 2, v, n - 1)
    low = n * (msr - f_up * mse) / (f_up * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (f_lo * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_lo * msr)
    return low, high, low * k / (1 + low * (k - 1)), high * k / (1 + high * (k - 1))


def icc(ratings: pd.DataFrame, options: ReliabilityOptions | None = None) -> pd.DataFrame:
    """ICC forms per dimension (see module doc for which form applies to which design)."""
    o = options or ReliabilityOptions()
    data = collapse_repeats(ratings, "mean")
    rows = []
    for dimension, part in data.groupby("dimension", sort=True, observed=True)[
        ["stimulus", "subject", "score"]
    ]:
        rows += [{"dimension": dimension, **r} for r in _icc_dimension(part, o.confidence)]
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
        x = part["score"].to_numpy(dtype=float)
        m = group_sum(stim.codes, None, stim.size)
        pairable = (m >= 2)[stim.codes]
        xs, codes = x[pairable], stim.codes[pairable]
        m_u = m[m >= 2]
        n = float(m_u.sum())
        if n < 2:
            rows.append({"dimension": dimension, "alpha": np.nan, "n_pairable": int(n)})
            continue
        # Centring first keeps the sums of squares exact for scores far from zero.
        xs = xs - xs.mean()
        s1 = group_sum(codes, xs, stim.size)[m >= 2]
        s2 = group_sum(codes, xs * xs, stim.size)[m >= 2]
        d_o = float(np.sum(2 * (m_u * s2 - s1 * s1) / (m_u - 1))) / n
        d_e = 2 * (n * float(np.sum(xs * xs)) - float(np.sum(xs)) ** 2) / (n * (n - 1))
        alpha = 1 - d_o / d_e if d_e > 0 else np.nan
        rows.append(
            {"dimension": dimension, "alpha": alpha, "n_pairable": int(n), "D_o": d_o, "D_e": d_e}
        )
    return pd.DataFrame(rows)


def reliability(
    ratings: pd.DataFrame, options: ReliabilityOptions | None = None
) -> ReliabilityResult:
    """Split-half, ICC and Krippendorff's alpha per dimension."""
    o = options or ReliabilityOptions()
    summary, splits = split_half(ratings, o)
    return ReliabilityResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(o)),
        split_half=summary,
        splits=splits,
        icc=icc(ratings, o) if o.icc else pd.DataFrame(),
        krippendorff=krippendorff_alpha_interval(ratings) if o.krippendorff else pd.DataFrame(),
    )
