"""Distribution fits (PKU-I2IQA reproduction) and factor analysis (AIGIQA-20K example)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.distribution import (
    DistributionOptions,
    distribution_table,
    fit_gaussian,
    histogram_data,
    qq_data,
)
from analysis.errors import RatingsError
from analysis.factors import (
    dimension_correlations,
    fit_linear_model,
    generator_summary,
    tukey_hsd,
)
from analysis.io import load_mos_table
from analysis.tests.helpers import shared_file

PKU_COLUMNS = ["mos_quality", "mos_authenticity", "mos_correspondence"]


def test_fit_matches_scipy_and_statsmodels():
    from statsmodels.stats.diagnostic import lilliefors

    x = np.random.default_rng(0).gamma(4.0, 1.0, 400)
    fit = fit_gaussian(x)
    mu, sigma = stats.norm.fit(x)
    assert (fit.mean, fit.sigma) == pytest.approx((mu, sigma))
    assert fit.skewness == pytest.approx(stats.skew(x, bias=False))
    assert fit.excess_kurtosis == pytest.approx(stats.kurtosis(x, bias=False))
    assert (fit.shapiro_w, fit.shapiro_p) == pytest.approx(tuple(stats.shapiro(x)))
    assert (fit.dagostino_k2, fit.dagostino_p) == pytest.approx(tuple(stats.normaltest(x)))
    assert (fit.lilliefors_d, fit.lilliefors_p) == pytest.approx(lilliefors(x, pvalmethod="table"))
    assert fit.shapiro_n == 400


def test_shapiro_subsamples_large_samples_reproducibly():
    x = np.random.default_rng(1).normal(size=12000)
    one = fit_gaussian(x, DistributionOptions(shapiro_max_n=5000, seed=3))
    two = fit_gaussian(x, DistributionOptions(shapiro_max_n=5000, seed=3))
    assert one.shapiro_n == 5000 and one.n == 12000
    assert one.shapiro_w == two.shapiro_w


def test_constant_and_tiny_samples():
    flat = fit_gaussian([3.0] * 10)
    assert flat.sigma == 0 and np.isnan(flat.skewness) and np.isnan(flat.shapiro_p)
    tiny = fit_gaussian([1.0, 2.0, 4.0, 7.0, 8.0])
    assert np.isnan(tiny.dagostino_p) and not np.isnan(tiny.shapiro_p)
    with pytest.raises(RatingsError):
        fit_gaussian([np.nan, np.inf])


def test_qq_and_histogram_data():
    x = np.random.default_rng(2).normal(10, 2, 300)
    qq = qq_data(x)
    (osm, osr), (slope, intercept, _) = stats.probplot(x)
    np.testing.assert_allclose(qq["theoretical"], osm)
    np.testing.assert_allclose(qq["line"], intercept + slope * osm)
    hist, curve = histogram_data(x)
    assert np.sum(hist["density"] * (hist["right"] - hist["left"])) == pytest.approx(1)
    assert curve["pdf"].max() == pytest.approx(stats.norm.pdf(10, x.mean(), x.std()), rel=0.05)


def _pku() -> pd.DataFrame:
    return load_mos_table(
        shared_file("pku-i2iqa-mos", "mos.csv"), PKU_COLUMNS, generator_from="image"
    )


def test_pku_distribution_reproduction():
    pku = _pku()
    assert pku["generator"].value_counts().to_dict() == {"MJ": 800, "SD": 800}
    table = distribution_table(pku, PKU_COLUMNS, by="generator").set_index(["column", "group"])
    raw = pd.read_csv(shared_file("pku-i2iqa-mos", "mos.csv"))
    gen = raw["image"].str.extract(r"/(MJ|SD)_")[0]
    for col in PKU_COLUMNS:
        for level, values in [
            ("all", raw[col]),
            ("MJ", raw.loc[gen == "MJ", col]),
            ("SD", raw.loc[gen == "SD", col]),
        ]:
            row = table.loc[(col, level)]
            assert row["mean"] == pytest.approx(values.mean())
            assert row["sigma"] == pytest.approx(values.std(ddof=0))
    # Numbers quoted in the README write-up.
    assert table.loc[("mos_quality", "all"), ["mean", "sigma"]].tolist() == pytest.approx(
        [3.1273, 0.5536], abs=1e-4
    )
    assert table.loc[("mos_authenticity", "all"), ["mean", "sigma"]].tolist() == pytest.approx(
        [2.6877, 0.7103], abs=1e-4
    )
    assert table.loc[("mos_correspondence", "all"), ["mean", "sigma"]].tolist() == pytest.approx(
        [3.5639, 0.6494], abs=1e-4
    )
    assert table.loc[("mos_quality", "MJ"), "mean"] - table.loc[
        ("mos_quality", "SD"), "mean"
    ] == pytest.approx(0.2955, abs=1e-4)
    assert table.loc[("mos_correspondence", "MJ"), "skewness"] == pytest.approx(-1.555, abs=1e-3)
    # No column is normal by Shapiro-Wilk at 5 %, though authenticity is closest (W = 0.990).
    assert (table["shapiro_p"] < 0.05).all()


def test_pku_dimension_correlations_match_scipy():
    pku = _pku()
    corr = dimension_correlations(pku, PKU_COLUMNS)
    r = stats.pearsonr(pku["mos_quality"], pku["mos_authenticity"])
    assert corr.pearson.loc["mos_quality", "mos_authenticity"] == pytest.approx(r.statistic)
    s = stats.spearmanr(pku["mos_quality"], pku["mos_correspondence"])
    assert corr.spearman.loc["mos_correspondence", "mos_quality"] == pytest.approx(s.statistic)
    assert len(corr.long()) == 3 and corr.n == 1600


def _aigiqa() -> pd.DataFrame:
    return load_mos_table(
        shared_file("aigiqa20k-mos", "info_train.csv"),
        ["mos"],
        names=["name", "prompt", "mos"],
        generator_from="name",
    )


def test_aigiqa_generator_anova():
    data = _aigiqa()
    summary = generator_summary(data, "mos")
    assert len(summary) == 15 and summary["n"].sum() == 14000
    assert summary.iloc[0]["generator"] == "DALLE3" and summary.iloc[-1]["generator"] == "LCM_SDXL"
    model = fit_linear_model(data, "mos ~ C(generator)")
    grand = data["mos"].mean()
    means = data.groupby("generator")["mos"].agg(["mean", "size"])
    ss_between = float((means["size"] * (means["mean"] - grand) ** 2).sum())
    ss_total = float(((data["mos"] - grand) ** 2).sum())
    effect = model.anova.set_index("term").loc["C(generator)"]
    assert effect["eta_sq"] == pytest.approx(ss_between / ss_total)
    assert effect["eta_sq"] == pytest.approx(0.5063, abs=1e-4)
    assert effect["df"] == 14 and model.n == 14000
    assert model.r2 == pytest.approx(effect["eta_sq"])


def test_tukey_matches_scipy_on_small_groups():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "g": np.repeat(["a", "b", "c"], [10, 12, 15]),
            "v": np.r_[rng.normal(0, 1, 10), rng.normal(0.5, 1, 12), rng.normal(2, 1, 15)],
        }
    )
    ours = tukey_hsd(frame, "v", "g").set_index(["group1", "group2"])
    ref = stats.tukey_hsd(*(frame.loc[frame.g == k, "v"] for k in "abc"))
    ci = ref.confidence_interval()
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        row = ours.loc[("abc"[i], "abc"[j])]
        # statsmodels reports mean(group2) - mean(group1); scipy statistic[i, j] = mean_i - mean_j.
        assert row["meandiff"] == pytest.approx(-ref.statistic[i, j])
        assert row["p_adj"] == pytest.approx(ref.pvalue[i, j], abs=2e-3)
        assert row["ci_low"] == pytest.approx(-ci.high[i, j], abs=2e-3)


def test_linear_model_bad_formula_is_a_ratings_error():
    frame = pd.DataFrame({"mos": [1.0, 2.0, 3.0], "generator": ["a", "b", "a"]})
    with pytest.raises(RatingsError, match="cannot fit"):
        fit_linear_model(frame, "mos ~ C(nonexistent)")
    with pytest.raises(RatingsError, match="two levels"):
        tukey_hsd(frame.assign(generator="a"), "mos")
