"""The critical value behind every normal-approximation interval of the library.

By default the exact quantile z(1 − α/2) of the standard normal is used (1.959963985 for
95 %). Netflix SUREAL 0.9.0 multiplies standard errors by the rounded constant 1.95996
(``subjective_model.py``: ``quality_scores_ci95 = 1.95996 * std``); ``"sureal"`` reproduces
it, which changes 95 % half-widths by about 1e-6 relative.
"""

from __future__ import annotations

from typing import Literal, get_args

from scipy import stats

ZConstant = Literal["exact", "sureal"]
Z_CONSTANTS: tuple[str, ...] = get_args(ZConstant)
SUREAL_Z95 = 1.95996


def z_critical(confidence: float, z_constant: ZConstant = "exact") -> float:
    """z(1 − α/2) for a two-sided interval of level ``confidence`` (α = 1 − confidence)."""
    if z_constant == "sureal":
        return SUREAL_Z95
    return float(stats.norm.ppf(0.5 + confidence / 2.0))
