"""Score distributions: Gaussian fit, shape statistics, normality tests, histogram and Q-Q data.

Standards / references:

* Gaussian fit by maximum likelihood: mean and σ with denominator n (``scipy.stats.norm.fit``).
* Skewness G1 and excess kurtosis G2, bias-corrected sample estimators (Joanes & Gill,
  "Comparing measures of sample skewness and kurtosis", The Statistician 47(1), 1998);
  ``scipy.stats.skew/kurtosis(bias=False)``.
* Shapiro-Wilk W (Shapiro & Wilk 1965; Royston 1995 algorithm AS R94 in scipy). Its p-value
  is only validated up to n = 5000, so larger samples are tested on a seeded random
  subsample of ``shapiro_max_n`` values; ``shapiro_n`` records the size actually tested.
* D'Agostino-Pearson K² omnibus test (D'Agostino & Pearson, Biometrika 60, 1973;
  ``scipy.stats.normaltest``), needs n ≥ 8 (NaN below; scipy warns below 20).
* Lilliefors test, i.e. Kolmogorov-Smirnov with estimated mean and variance (Lilliefors,
  JASA 62, 1967; ``statsmodels.stats.diagnostic.lilliefors``, table p-values), n ≥ 4.

Constant samples (σ = 0) have undefined shape statistics and tests: all NaN.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis._checks import check_int_at_least
from analysis.errors import RatingsError
from analysis.provenance import Provenance, options_dict
from common.jsonable import jsonable

METHOD = "gaussian_fit"
STANDARD = "MLE normal fit; Shapiro-Wilk (AS R94); D'Agostino-Pearson K2; Lilliefors 1967"
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class DistributionOptions:
    shapiro_max_n: int = 5000
    seed: int = 0
    lilliefors: bool = True

    def __post_init__(self) -> None:
        # Shapiro-Wilk needs at least 3 values.
        check_int_at_least("distribution.shapiro_max_n", self.shapiro_max_n, 3)
        check_int_at_least("distribution.seed", self.seed, 0)


@dataclasses.dataclass(frozen=True)
class GaussianFit:
    n: int
    mean: float
    sigma: float
    skewness: float
    excess_kurtosis: float
    shapiro_w: float
    shapiro_p: float
    shapiro_n: int
    dagostino_k2: float
    dagostino_p: float
    lilliefors_d: float
    lilliefors_p: float
    minimum: float
    maximum: float
    median: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


def _finite(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        raise RatingsError("no finite values to fit a distribution to")
    return finite


def fit_gaussian(
    values: Sequence[float] | np.ndarray | pd.Series, options: DistributionOptions | None = None
) -> GaussianFit:
    """Gaussian fit, shape statistics and normality tests of one sample (see module doc)."""
    options = options or DistributionOptions()
    finite = _finite(values)
    n_values = finite.size
    mean, sigma = float(finite.mean()), float(finite.std(ddof=0))
    nan = float("nan")
    shape = dict(
        skewness=nan,
        excess_kurtosis=nan,
        shapiro_w=nan,
        shapiro_p=nan,
        dagostino_k2=nan,
        dagostino_p=nan,
        lilliefors_d=nan,
        lilliefors_p=nan,
    )
    shapiro_n = 0
    if sigma > 1e-12 * max(abs(mean), 1.0) and n_values >= 3:
        with warnings.catch_warnings():
            # scipy warns about small-sample accuracy; the n limits are documented above.
            warnings.simplefilter("ignore")
            shape["skewness"] = float(stats.skew(finite, bias=False))
            shape["excess_kurtosis"] = (
                float(stats.kurtosis(finite, fisher=True, bias=False)) if n_values >= 4 else nan
            )
            sample = finite
            if n_values > options.shapiro_max_n:
                rng = np.random.default_rng(options.seed)
                sample = rng.choice(finite, size=options.shapiro_max_n, replace=False)
            shapiro = stats.shapiro(sample)
            shape["shapiro_w"], shape["shapiro_p"] = float(shapiro.statistic), float(shapiro.pvalue)
            shapiro_n = int(sample.size)
            if n_values >= 8:
                k2 = stats.normaltest(finite)
                shape["dagostino_k2"], shape["dagostino_p"] = float(k2.statistic), float(k2.pvalue)
            if options.lilliefors and n_values >= 4:
                from statsmodels.stats.diagnostic import lilliefors

                statistic, p_value = lilliefors(finite, dist="norm", pvalmethod="table")
                shape["lilliefors_d"], shape["lilliefors_p"] = float(statistic), float(p_value)
    return GaussianFit(
        n=int(n_values),
        mean=mean,
        sigma=sigma,
        shapiro_n=shapiro_n,
        minimum=float(finite.min()),
        maximum=float(finite.max()),
        median=float(np.median(finite)),
        **shape,
    )


def distribution_table(
    frame: pd.DataFrame,
    value_columns: Sequence[str],
    by: str | None = None,
    options: DistributionOptions | None = None,
) -> pd.DataFrame:
    """One row per value column (and per level of ``by``, plus an ``all`` row) with the fit.

    For a per-stimulus MOS table such as PKU-I2IQA's ``mos.csv`` use
    ``value_columns=["mos_quality", "mos_authenticity", "mos_correspondence"], by="generator"``.
    """
    rows = []
    for col in value_columns:
        groups: list[tuple[str, pd.Series]] = [("all", frame[col])]
        if by is not None:
            groups += [(str(k), g[col]) for k, g in frame.groupby(by, sort=True, observed=True)]
        for level, values in groups:
            fit = fit_gaussian(values, options)
            rows.append({"column": col, "group": level, **dataclasses.asdict(fit)})
    return pd.DataFrame(rows)


def distribution_result(
    frame: pd.DataFrame,
    value_columns: Sequence[str],
    by: str | None = None,
    options: DistributionOptions | None = None,
) -> tuple[Provenance, pd.DataFrame]:
    options = options or DistributionOptions()
    return Provenance(METHOD, STANDARD, VERSION, options_dict(options)), distribution_table(
        frame, value_columns, by, options
    )


def qq_data(values: Sequence[float] | np.ndarray | pd.Series) -> pd.DataFrame:
    """Normal Q-Q points: theoretical quantile, ordered sample and the least-squares line.

    Plotting positions are Filliben's (``scipy.stats.probplot``).
    """
    finite = _finite(values)
    (theoretical, ordered), (slope, intercept, _r) = stats.probplot(finite, dist="norm")
    return pd.DataFrame(
        {"theoretical": theoretical, "sample": ordered, "line": intercept + slope * theoretical}
    )


def histogram_data(
    values: Sequence[float] | np.ndarray | pd.Series, bins: int | str = "auto"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Histogram (density-normalised) and the fitted Gaussian pdf on a fine grid."""
    finite = _finite(values)
    density, edges = np.histogram(finite, bins=bins, density=True)
    hist = pd.DataFrame({"left": edges[:-1], "right": edges[1:], "density": density})
    mean, sigma = float(finite.mean()), float(finite.std(ddof=0))
    grid = np.linspace(edges[0], edges[-1], 200)
    pdf = stats.norm.pdf(grid, mean, sigma) if sigma > 0 else np.zeros_like(grid)
    return hist, pd.DataFrame({"x": grid, "pdf": pdf})
