"""IQA agreement metrics between predictions and MOS.

SRCC / KRCC measure monotonic agreement, PLCC / RMSE linear agreement. Following
VQEG (Final Report on the validation of objective models of video quality, Phase
II, 2003) PLCC and RMSE are also reported after fitting a monotonic 4-parameter
logistic from predictions to MOS, which removes the nonlinearity a model is not
asked to reproduce:

    y = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

with initial values b1 = max(MOS), b2 = min(MOS), b3 = mean(pred) and
b4 = std(pred) / 4 (a scale that spans the predictions' range with a gentle slope).
When the fit fails to converge the mapping falls back to a least-squares line, which
leaves PLCC unchanged and is recorded as ``mapping: "linear"``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

METRIC_NAMES = ("srcc", "krcc", "plcc", "plcc_logistic", "rmse", "rmse_logistic")


def logistic4(values: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    exponent = np.clip(-(values - b3) / abs(b4), -500.0, 500.0)
    return (b1 - b2) / (1.0 + np.exp(exponent)) + b2


def _logistic4_jac(values: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    # Analytic derivatives: MINPACK's finite differences use a step relative to each
    # parameter, which is zero when b3 = mean(pred) starts at 0 (centred predictions),
    # and the fit then never moves b3.
    scale = abs(b4)
    sigmoid = 1.0 / (1.0 + np.exp(np.clip(-(values - b3) / scale, -500.0, 500.0)))
    ds = (b1 - b2) * sigmoid * (1.0 - sigmoid)
    return np.stack(
        [sigmoid, 1.0 - sigmoid, -ds / scale, -ds * (values - b3) / scale**2 * np.sign(b4)], axis=1
    )


@dataclass(frozen=True)
class LogisticFit:
    params: tuple[float, ...]
    mapping: str  # "logistic", "linear" or "constant"

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.mapping == "logistic":
            return logistic4(values, *self.params)
        if self.mapping == "linear":
            return self.params[0] * values + self.params[1]
        return np.full_like(values, self.params[0])


def fit_logistic(pred: np.ndarray, mos: np.ndarray) -> LogisticFit:
    """Fit the VQEG 4-parameter logistic from ``pred`` to ``mos``."""
    predicted = np.asarray(pred, dtype=np.float64)
    observed = np.asarray(mos, dtype=np.float64)
    if np.std(predicted) == 0:
        return LogisticFit((float(np.mean(observed)),), "constant")
    if len(predicted) <= 4:
        # Four parameters would interpolate four points: no fit, just a line.
        slope, intercept = np.polyfit(predicted, observed, 1)
        return LogisticFit((float(slope), float(intercept)), "linear")
    p0 = [
        float(np.max(observed)),
        float(np.min(observed)),
        float(np.mean(predicted)),
        float(np.std(predicted)) / 4.0,
    ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = optimize.curve_fit(
                logistic4, predicted, observed, p0=p0, jac=_logistic4_jac, maxfev=20000
            )
        if np.all(np.isfinite(params)) and params[3] != 0:
            fitted = logistic4(predicted, *params)
            if np.all(np.isfinite(fitted)):
                return LogisticFit(tuple(float(p) for p in params), "logistic")
    except (RuntimeError, ValueError, TypeError, optimize.OptimizeWarning):
        pass
    slope, intercept = np.polyfit(predicted, observed, 1)
    return LogisticFit((float(slope), float(intercept)), "linear")


def _corr(fn, first: np.ndarray, second: np.ndarray) -> float:
    if len(first) < 2 or np.std(first) == 0 or np.std(second) == 0:
        return float("nan")
    return float(fn(first, second)[0])


@dataclass(frozen=True)
class Metrics:
    srcc: float
    krcc: float
    plcc: float
    plcc_logistic: float
    rmse: float
    rmse_logistic: float
    n: int
    mapping: str

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def compute_metrics(pred: Iterable[float], mos: Iterable[float]) -> Metrics:
    predicted = np.asarray(
        list(pred) if not isinstance(pred, np.ndarray) else pred, dtype=np.float64
    )
    observed = np.asarray(list(mos) if not isinstance(mos, np.ndarray) else mos, dtype=np.float64)
    if predicted.shape != observed.shape:
        raise ValueError(f"pred and mos differ in shape: {predicted.shape} vs {observed.shape}")
    fit = (
        fit_logistic(predicted, observed)
        if len(predicted) >= 2
        else LogisticFit((float(np.mean(observed)),), "constant")
    )
    mapped = fit(predicted)
    return Metrics(
        srcc=_corr(stats.spearmanr, predicted, observed),
        krcc=_corr(stats.kendalltau, predicted, observed),
        plcc=_corr(stats.pearsonr, predicted, observed),
        plcc_logistic=_corr(stats.pearsonr, mapped, observed),
        rmse=float(np.sqrt(np.mean((predicted - observed) ** 2))),
        rmse_logistic=float(np.sqrt(np.mean((mapped - observed) ** 2))),
        n=int(len(predicted)),
        mapping=fit.mapping,
    )


def aggregate(runs: Iterable[Mapping[str, float | None]]) -> dict[str, dict[str, float | None]]:
    """Median, mean and sample std of each metric over repeats (NaNs skipped)."""
    runs = list(runs)
    out: dict[str, dict[str, float | None]] = {}
    for name in METRIC_NAMES:
        vals = np.array(
            [
                value
                for run in runs
                if (value := run.get(name)) is not None and not math.isnan(value)
            ],
            dtype=np.float64,
        )
        if len(vals) == 0:
            out[name] = {"median": None, "mean": None, "std": None, "n": 0}
            continue
        out[name] = {
            "median": float(np.median(vals)),
            "mean": float(np.mean(vals)),
            "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
            "n": int(len(vals)),
        }
    return out
