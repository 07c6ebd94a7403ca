"""Per-subject z-score normalisation, rescaled to a published range.

Standard: z-scoring per subject as in van Dijk, Martens & Watson, "Quality assessment of
coded images using numerical category scaling", Proc. SPIE 2451, 1995, and the practice of
AIGC quality databases (AGIQA-3K, Li et al. 2023; PKU-I2IQA; AIGIQA-20K), which z-score
each subject's ratings and rescale them linearly before averaging.

For each (subject, dimension) - and session with ``per_session`` - the z-score is
z = (u − mean) / std (std with ``ddof``). The rescaling rule (``rescale``):

* ``"fixed"`` (default): z = ±``z_span`` maps to the ends of ``target_range``,
  u' = lo + (z + z_span) / (2·z_span) · (hi − lo). With ``z_span=3`` and 0..100 this is
  u' = 100·(z + 3)/6, the LIVE / AIGC-database convention. Values beyond ±z_span fall
  outside the range and are *not* clipped (clipping would bias MOS of extreme stimuli).
* ``"minmax"``: per dimension, the smallest and largest z over all subjects map to lo and hi.
* ``"none"``: keep z.

Groups whose std is undefined (one rating) or zero (constant ratings) cannot be z-scored:
``degenerate="drop"`` (default) removes them and reports them; ``"zero"`` sets z = 0, i.e.
the centre of the range.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd

from analysis._checks import check_choice, check_ddof, check_number, check_range
from analysis._groups import combine, dense_codes, encode, group_mean_std
from analysis.errors import RatingsError
from analysis.provenance import Provenance, options_dict

METHOD = "zscore"
STANDARD = "van Dijk et al. 1995 (z-score); AGIQA-3K / AIGIQA-20K rescaling"
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class NormalisationOptions:
    per_session: bool = False
    ddof: int = 1
    rescale: Literal["fixed", "minmax", "none"] = dataclasses.field(
        default="fixed",
        metadata={"help": "fixed: z=±3 -> range ends; minmax: observed z range"},
    )
    target_range: tuple[float, float] = (0.0, 100.0)
    z_span: float = 3.0
    degenerate: Literal["drop", "zero"] = "drop"

    def __post_init__(self) -> None:
        check_ddof("normalisation.ddof", self.ddof)
        check_choice("normalisation.rescale", self.rescale, ("fixed", "minmax", "none"))
        check_range("normalisation.target_range", self.target_range)
        check_number("normalisation.z_span", self.z_span, minimum=0.0, inclusive=False)
        check_choice("normalisation.degenerate", self.degenerate, ("drop", "zero"))


@dataclasses.dataclass(frozen=True)
class NormalisationResult:
    """``ratings`` has the normalised ``score`` and the original in ``score_raw``."""

    provenance: Provenance
    ratings: pd.DataFrame
    groups: pd.DataFrame
    dropped: pd.DataFrame


def zscore_ratings(
    ratings: pd.DataFrame, options: NormalisationOptions | None = None
) -> NormalisationResult:
    """z-score per subject and dimension (and session), then rescale (see module doc)."""
    options = options or NormalisationOptions()
    keys = ["subject", "dimension"] + (["session"] if options.per_session else [])
    if options.per_session and "session" not in ratings.columns:
        raise RatingsError("per-session normalisation needs a 'session' column")
    coded = [encode(ratings[k]) for k in keys]
    group, n_groups = combine([c.codes for c in coded], [c.size for c in coded])
    group_codes, uniques = dense_codes(group, n_groups)
    scores = ratings["score"].to_numpy(dtype=float)
    count, mean, std = group_mean_std(group_codes, scores, len(uniques), options.ddof)
    scale = np.maximum(np.abs(mean), 1.0)
    degenerate = np.isnan(std) | (std <= 1e-12 * scale)
    with np.errstate(invalid="ignore", divide="ignore"):
        zscores = (scores - mean[group_codes]) / std[group_codes]
    bad_rows = degenerate[group_codes]
    zscores[bad_rows] = 0.0

    out = ratings.copy()
    out["score_raw"] = scores
    out["score"] = zscores
    if options.degenerate == "drop":
        out = out.loc[~bad_rows].reset_index(drop=True)

    lo, hi = options.target_range
    if options.rescale == "fixed":
        span = options.z_span
        out["score"] = lo + (out["score"] + span) / (2 * span) * (hi - lo)
    elif options.rescale == "minmax":
        grouped = out.groupby("dimension", observed=True)["score"]
        zmin, zmax = grouped.transform("min"), grouped.transform("max")
        width = (zmax - zmin).replace(0.0, np.nan)
        out["score"] = (lo + (out["score"] - zmin) / width * (hi - lo)).fillna((lo + hi) / 2)
    elif options.rescale != "none":
        raise ValueError(
            f"unknown rescale rule {options.rescale!r}; choose from 'fixed', 'minmax', 'none'"
        )

    unravel = np.unravel_index(uniques, [c.size for c in coded])
    groups = pd.DataFrame(
        {k: c.labels.to_numpy()[i] for k, c, i in zip(keys, coded, unravel, strict=True)}
    )
    groups["n"] = count.astype(np.int64)
    groups["mean"] = mean
    groups["std"] = std
    groups["status"] = np.where(
        degenerate,
        np.where(np.isnan(std), "undefined_std", "zero_std")
        + ("_dropped" if options.degenerate == "drop" else "_set_to_zero"),
        "ok",
    )
    return NormalisationResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(options)),
        ratings=out,
        groups=groups,
        dropped=groups.loc[degenerate & (options.degenerate == "drop")].reset_index(drop=True),
    )
