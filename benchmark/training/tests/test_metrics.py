from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from benchmark.training import metrics
from benchmark.training.metrics import aggregate, compute_metrics, fit_logistic, logistic4


def test_correlations_match_scipy() -> None:
    rng = np.random.default_rng(0)
    mos = rng.uniform(0, 5, 50)
    pred = mos + rng.normal(0, 1, 50)
    m = compute_metrics(pred, mos)
    assert m.srcc == pytest.approx(stats.spearmanr(pred, mos).statistic)
    assert m.krcc == pytest.approx(stats.kendalltau(pred, mos).statistic)
    assert m.plcc == pytest.approx(stats.pearsonr(pred, mos).statistic)
    assert m.rmse == pytest.approx(np.sqrt(np.mean((pred - mos) ** 2)))
    assert m.n == 50


def test_logistic_recovers_a_known_curve() -> None:
    x = np.linspace(-3, 3, 40)
    true = (4.5, 1.0, 0.3, 0.8)
    y = logistic4(x, *true)
    fit = fit_logistic(x, y)
    assert fit.mapping == "logistic"
    assert np.allclose(fit.params[:3], true[:3], atol=1e-4)
    assert abs(fit.params[3]) == pytest.approx(true[3], abs=1e-4)
    m = compute_metrics(x, y)
    assert m.plcc_logistic == pytest.approx(1.0, abs=1e-8)
    assert m.rmse_logistic == pytest.approx(0.0, abs=1e-5)
    assert m.plcc < 0.999  # the raw relation is not linear


def test_logistic_metrics_equal_a_hand_computation() -> None:
    # Five points worked by hand: mapped = (b1-b2)/(1+exp(-(x-b3)/|b4|)) + b2.
    x = np.array([0.1, 0.4, 0.5, 0.7, 0.9])
    y = np.array([1.0, 2.5, 2.0, 4.0, 4.5])
    fit = fit_logistic(x, y)
    b1, b2, b3, b4 = fit.params
    mapped = [(b1 - b2) / (1 + math.exp(-(xi - b3) / abs(b4))) + b2 for xi in x]
    m = compute_metrics(x, y)
    ybar, mbar = sum(y) / 5, sum(mapped) / 5
    cov = sum((a - mbar) * (b - ybar) for a, b in zip(mapped, y, strict=True))
    sm = math.sqrt(sum((a - mbar) ** 2 for a in mapped))
    sy = math.sqrt(sum((b - ybar) ** 2 for b in y))
    assert m.plcc_logistic == pytest.approx(cov / (sm * sy), rel=1e-9)
    rmse = math.sqrt(sum((a - b) ** 2 for a, b in zip(mapped, y, strict=True)) / 5)
    assert m.rmse_logistic == pytest.approx(rmse, rel=1e-9)
    # A least-squares fit is never worse than the identity or the initial guess.
    p0 = (max(y), min(y), x.mean(), x.std() / 4)
    assert m.rmse_logistic <= np.sqrt(np.mean((logistic4(x, *p0) - y) ** 2)) + 1e-12


def test_fallback_when_fit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(metrics.optimize, "curve_fit", boom)
    x = np.array([1.0, 2.0, 3.0, 5.0])
    y = np.array([1.5, 1.0, 3.5, 4.0])
    m = compute_metrics(x, y)
    assert m.mapping == "linear"
    assert m.plcc_logistic == pytest.approx(m.plcc)


def test_constant_prediction_is_nan_not_a_crash() -> None:
    m = compute_metrics(np.ones(5), np.arange(5.0))
    assert math.isnan(m.srcc) and m.mapping == "constant"
    assert m.to_dict()["srcc"] is None


def test_aggregate_median_mean_std() -> None:
    runs = [{"srcc": 0.5}, {"srcc": 0.7}, {"srcc": 0.9}, {"srcc": None}]
    s = aggregate(runs)["srcc"]
    assert s == {"median": 0.7, "mean": pytest.approx(0.7), "std": pytest.approx(0.2), "n": 3}
    assert aggregate(runs)["plcc"]["n"] == 0
