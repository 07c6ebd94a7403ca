"""Factors behind quality: per-generator summaries, ANOVA / OLS, Tukey HSD, dimension correlations.

Standards / references:

* OLS with categorical factors and ANOVA tables (type II sums of squares by default, Langsrud,
  Statistics and Computing 13, 2003) via the statsmodels formula API (patsy formulas such as
  ``"mos ~ C(generator)"`` or ``"mos ~ C(base) * C(distilled) + np.log(prompt_words)"``).
  Effect sizes: η² = SS_effect / SS_total and partial η² = SS_effect / (SS_effect + SS_resid)
  (Cohen 1973).
* Tukey's honestly significant difference with the Tukey-Kramer adjustment for unequal group
  sizes (Tukey 1949; Kramer 1956), ``statsmodels.stats.multicomp.pairwise_tukeyhsd``.
* Pearson and Spearman correlation matrices between dimensions with two-sided p-values.

statsmodels is imported inside the functions so ``import analysis`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.integrate import IntegrationWarning

from analysis.errors import RatingsError
from analysis.provenance import Provenance
from common.jsonable import jsonable

VERSION = "1.0"
OLS_STANDARD = "OLS + ANOVA (statsmodels formula API, type II SS)"
TUKEY_STANDARD = "Tukey HSD / Tukey-Kramer (statsmodels pairwise_tukeyhsd)"


@dataclasses.dataclass(frozen=True)
class LinearModelResult:
    """ANOVA table (``term, sum_sq, df, F, p, eta_sq, partial_eta_sq``), coefficient table
    (``term, coef, se, t, p, ci_low, ci_high``) and fit statistics of one OLS model."""

    provenance: Provenance
    formula: str
    anova: pd.DataFrame
    coefficients: pd.DataFrame
    n: int
    r2: float
    adj_r2: float
    f: float
    f_p: float
    aic: float
    bic: float

    def to_summary(self) -> dict[str, Any]:
        return jsonable(
            {
                **self.provenance.to_dict(),
                "formula": self.formula,
                "n": self.n,
                "r2": self.r2,
                "adj_r2": self.adj_r2,
                "F": self.f,
                "F_p": self.f_p,
                "aic": self.aic,
                "bic": self.bic,
                "anova": self.anova.to_dict(orient="records"),
            }
        )


@dataclasses.dataclass(frozen=True)
class CorrelationMatrices:
    pearson: pd.DataFrame
    pearson_p: pd.DataFrame
    spearman: pd.DataFrame
    spearman_p: pd.DataFrame
    n: int

    def long(self) -> pd.DataFrame:
        """Tidy table: one row per pair of columns (upper triangle)."""
        cols = list(self.pearson.columns)
        rows = [
            {
                "a": a,
                "b": b,
                "pearson": self.pearson.loc[a, b],
                "pearson_p": self.pearson_p.loc[a, b],
                "spearman": self.spearman.loc[a, b],
                "spearman_p": self.spearman_p.loc[a, b],
                "n": self.n,
            }
            for i, a in enumerate(cols)
            for b in cols[i + 1 :]
        ]
        return pd.DataFrame(rows)


def generator_summary(
    frame: pd.DataFrame, value: str, by: str = "generator", confidence: float = 0.95
) -> pd.DataFrame:
    """n, mean, std, median, quartiles, min, max and Student-t CI of ``value`` per group."""
    if by not in frame.columns or value not in frame.columns:
        raise RatingsError(f"need columns {value!r} and {by!r}; have {list(frame.columns)}")
    grouped = frame.groupby(by, sort=True, observed=True)[value]
    out = grouped.agg(["size", "mean", "std", "median", "min", "max"]).rename(columns={"size": "n"})
    out["q25"], out["q75"] = grouped.quantile(0.25), grouped.quantile(0.75)
    t_q = stats.t.ppf(0.5 + confidence / 2, np.maximum(out["n"] - 1, 1))
    out["ci_t"] = np.where(out["n"] > 1, t_q * out["std"] / np.sqrt(out["n"]), np.nan)
    return out.sort_values("mean", ascending=False).reset_index()


def fit_linear_model(
    frame: pd.DataFrame, formula: str, anova_type: Literal[1, 2, 3] = 2
) -> LinearModelResult:
    """OLS fit of a patsy ``formula`` with its ANOVA table (see module doc)."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    try:
        model = smf.ols(formula, data=frame).fit()
    except Exception as exc:  # patsy raises its own error types for bad formulas / columns
        raise RatingsError(f"cannot fit {formula!r}: {exc}") from exc
    table = anova_lm(model, typ=anova_type)
    table = table.rename(columns={"PR(>F)": "p"}).reset_index(names="term")
    ss_total = float(np.sum((model.model.endog - model.model.endog.mean()) ** 2))
    ss_resid = float(model.ssr)
    effect = table["term"] != "Residual"
    table["eta_sq"] = np.where(effect, table["sum_sq"] / ss_total, np.nan)
    table["partial_eta_sq"] = np.where(
        effect, table["sum_sq"] / (table["sum_sq"] + ss_resid), np.nan
    )
    ci = model.conf_int()
    coefs = pd.DataFrame(
        {
            "term": model.params.index,
            "coef": model.params.to_numpy(),
            "se": model.bse.to_numpy(),
            "t": model.tvalues.to_numpy(),
            "p": model.pvalues.to_numpy(),
            "ci_low": ci[0].to_numpy(),
            "ci_high": ci[1].to_numpy(),
        }
    )
    return LinearModelResult(
        provenance=Provenance("ols_anova", OLS_STANDARD, VERSION, {"anova_type": anova_type}),
        formula=formula,
        anova=table[["term", "sum_sq", "df", "F", "p", "eta_sq", "partial_eta_sq"]],
        coefficients=coefs,
        n=int(model.nobs),
        r2=float(model.rsquared),
        adj_r2=float(model.rsquared_adj),
        f=float(model.fvalue),
        f_p=float(model.f_pvalue),
        aic=float(model.aic),
        bic=float(model.bic),
    )


def tukey_hsd(
    frame: pd.DataFrame, value: str, group: str = "generator", alpha: float = 0.05
) -> pd.DataFrame:
    """All pairwise mean differences with family-wise (Tukey-Kramer) adjusted p-values and CIs.

    ``meandiff`` is mean(group2) − mean(group1), as in statsmodels.
    """
    from statsmodels.stats.multicomp import pairwise_tukeyhsd

    data = frame[[value, group]].dropna()
    if data[group].nunique() < 2:
        raise RatingsError(f"Tukey HSD needs at least two levels of {group!r}")
    with warnings.catch_warnings():
        # The studentized-range integral warns about slow convergence for extreme q values,
        # where the p-value is ~0 anyway.
        warnings.simplefilter("ignore", IntegrationWarning)
        res = pairwise_tukeyhsd(
            data[value].to_numpy(float), data[group].astype(str).to_numpy(), alpha
        )
    pairs = list(zip(*np.triu_indices(len(res.groupsunique), 1), strict=True))
    names = res.groupsunique
    return pd.DataFrame(
        {
            "group1": [names[i] for i, _ in pairs],
            "group2": [names[j] for _, j in pairs],
            "meandiff": res.meandiffs,
            "p_adj": res.pvalues,
            "ci_low": res.confint[:, 0],
            "ci_high": res.confint[:, 1],
            "reject": res.reject,
        }
    )


def dimension_correlations(frame: pd.DataFrame, columns: Sequence[str]) -> CorrelationMatrices:
    """Pearson and Spearman matrices (with p-values) between MOS columns, complete rows only."""
    data = frame[list(columns)].dropna()
    if len(data) < 3:
        raise RatingsError("need at least 3 complete rows to correlate dimensions")
    cols = list(columns)
    mats = {
        key: pd.DataFrame(np.eye(len(cols)), index=cols, columns=cols)
        for key in ("r", "rp", "s", "sp")
    }
    for key in ("rp", "sp"):
        mats[key].loc[:, :] = 0.0
    for first_index, first in enumerate(cols):
        for second in cols[first_index + 1 :]:
            pearson = stats.pearsonr(data[first], data[second])
            spearman = stats.spearmanr(data[first], data[second])
            for key, val in (
                ("r", pearson.statistic),
                ("rp", pearson.pvalue),
                ("s", spearman.statistic),
                ("sp", spearman.pvalue),
            ):
                mats[key].loc[first, second] = mats[key].loc[second, first] = float(val)
    return CorrelationMatrices(mats["r"], mats["rp"], mats["s"], mats["sp"], len(data))
