"""Mean opinion score per stimulus and dimension with confidence intervals.

Standard: ITU-R BT.500-14 Annex 1 §2.2 (mean score and 95 % confidence interval
δ = 1.96·S/√N) and ITU-T P.1401 (07/2020), which uses Student's t with N − 1 degrees of
freedom because panels are small. Both intervals are
reported: ``ci_t`` = t(1 − α/2, N − 1)·S/√N and ``ci_z`` = z(1 − α/2)·S/√N, S with ``ddof``.
``z_constant="sureal"`` uses SUREAL's rounded 1.95996 for z (its ``quality_scores_ci95``).

A stimulus with a single rating has a MOS but no spread: std, se and both CIs are NaN and
``single_rating`` is True. Constant ratings give std = 0 and a zero-width CI.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis._checks import check_choice, check_ddof, check_probability
from analysis._groups import combine, dense_codes, encode, group_mean_std
from analysis.confidence import Z_CONSTANTS, ZConstant, z_critical
from analysis.errors import OptionsError
from analysis.provenance import Provenance, options_dict
from common.jsonable import jsonable

METHOD = "mos"
STANDARD = "ITU-R BT.500-14 Annex 1 §2.2; ITU-T P.1401 (07/2020)"
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class MOSOptions:
    confidence: float = 0.95
    ddof: int = 1
    z_constant: ZConstant = "exact"

    def __post_init__(self) -> None:
        check_probability("mos.confidence", self.confidence)
        check_ddof("mos.ddof", self.ddof)
        check_choice("mos.z_constant", self.z_constant, Z_CONSTANTS)
        if self.z_constant == "sureal" and self.confidence != 0.95:
            raise OptionsError(
                "mos.z_constant",
                f"'sureal' (1.95996) is the 95 % constant; confidence is {self.confidence}",
            )


@dataclasses.dataclass(frozen=True)
class MOSResult:
    provenance: Provenance
    table: pd.DataFrame

    def to_summary(self) -> dict[str, Any]:
        table = self.table
        per_dim = {
            str(d): {
                "n_stimuli": int(len(g)),
                "ratings_per_stimulus_mean": float(g["n"].mean()),
                "mos_mean": float(g["mos"].mean()),
                "ci_t_halfwidth_mean": float(g["ci_t"].mean()),
                "n_single_rating": int(g["single_rating"].sum()),
            }
            for d, g in table.groupby("dimension", observed=True)
        }
        return jsonable({**self.provenance.to_dict(), "dimensions": per_dim})


def compute_mos(ratings: pd.DataFrame, options: MOSOptions | None = None) -> MOSResult:
    """MOS, std, n, standard error and t / z confidence intervals per stimulus x dimension.

    Every row of ``ratings`` counts as one observation; apply a repeat policy
    (:func:`analysis.io.collapse_repeats`) first if repeated showings should not.
    A ``generator`` column, if present, is carried into the table (first value per stimulus).
    """
    options = options or MOSOptions()
    stim = encode(ratings["stimulus"])
    dim = encode(ratings["dimension"])
    cell, total = combine([stim.codes, dim.codes], [stim.size, dim.size])
    codes, uniques = dense_codes(cell, total)
    scores = ratings["score"].to_numpy(dtype=float)
    counts, mean, std = group_mean_std(codes, scores, len(uniques), options.ddof)
    alpha = 1.0 - options.confidence
    # t quantiles per distinct panel size: scipy's ppf costs ~µs per element and a study has
    # only a handful of distinct n.
    sizes, which = np.unique(counts, return_inverse=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = std / np.sqrt(counts)
        t_q = stats.t.ppf(1.0 - alpha / 2.0, np.where(sizes > 1, sizes - 1, np.nan))[which]
    z_q = z_critical(options.confidence, options.z_constant)
    s_idx, d_idx = np.unravel_index(uniques, (stim.size, dim.size))
    table = pd.DataFrame(
        {
            "stimulus": stim.labels.to_numpy()[s_idx],
            "dimension": dim.labels.to_numpy()[d_idx],
            "n": counts.astype(np.int64),
            "mos": mean,
            "std": std,
            "se": se,
            "ci_t": t_q * se,
            "ci_z": z_q * se,
        }
    )
    table["ci_t_low"] = table["mos"] - table["ci_t"]
    table["ci_t_high"] = table["mos"] + table["ci_t"]
    table["ci_z_low"] = table["mos"] - table["ci_z"]
    table["ci_z_high"] = table["mos"] + table["ci_z"]
    table["single_rating"] = table["n"] < 2
    if "generator" in ratings.columns:
        # Row of each stimulus' first rating: scatter in reverse so the first one wins.
        first = np.empty(stim.size, dtype=np.intp)
        first[stim.codes[::-1]] = np.arange(len(scores))[::-1]
        gen = ratings["generator"].to_numpy()[first]
        table.insert(2, "generator", gen[s_idx])
    return MOSResult(Provenance(METHOD, STANDARD, VERSION, options_dict(options)), table)


def mos_wide(table: pd.DataFrame, value: str = "mos") -> pd.DataFrame:
    """Stimulus x dimension matrix of one column of a MOS table."""
    return table.pivot(index="stimulus", columns="dimension", values=value)
