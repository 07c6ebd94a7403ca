"""Loading and validating long-format ratings and per-stimulus MOS tables.

The canonical ratings table has one row per rating with columns

=================  ==========================================================================
``stimulus``       stimulus id (int or str)
``subject``        subject id (int or str)
``dimension``      rated dimension (str); ``"score"`` when the source has a single dimension
``repeat``         int, 0 = first showing, 1+ = repeated showing (consistency checks)
``score``          float, finite
``session``        optional, session id (used by per-session normalisation)
``response_time``  optional, seconds
``is_gold``        optional bool; gold stimuli carry a known ``gold_score``
``gold_score``     optional float, required on gold rows
``generator``      optional per-stimulus metadata (or attach it with :func:`attach_stimuli`)
=================  ==========================================================================

Columns outside this list are dropped so that downstream memory use is predictable at the
scale of AIGIQA-20K (about 1.3 M ratings).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from analysis._groups import Coded, combine, encode
from analysis.errors import RatingsError

REQUIRED = ("stimulus", "subject", "score")
OPTIONAL = ("dimension", "repeat", "session", "response_time", "is_gold", "gold_score", "generator")
CANONICAL_ORDER = (
    "stimulus",
    "subject",
    "dimension",
    "repeat",
    "score",
    "session",
    "response_time",
    "is_gold",
    "gold_score",
    "generator",
)
DEFAULT_DIMENSION = "score"
# Only the spellings of the shared real-ratings CSVs are recognised automatically; anything
# else must be mapped explicitly so a mistaken column is never silently picked up.
ALIASES = {"stimulus": ("stimulus_id",), "subject": ("subject_id",), "repeat": ("repetition",)}
MAX_ROWS_IN_MESSAGE = 5

RepeatPolicy = Literal["first", "mean", "all"]


@dataclasses.dataclass(frozen=True)
class ColumnMap:
    """Names of the source columns for each canonical field.

    An optional field whose column is absent from the source is treated as not provided.
    ``dimension=None`` (or an absent dimension column) means a single-dimension study whose
    dimension is called ``default_dimension``.
    """

    stimulus: str = "stimulus"
    subject: str = "subject"
    score: str = "score"
    dimension: str | None = "dimension"
    repeat: str | None = "repeat"
    session: str | None = "session"
    response_time: str | None = "response_time"
    is_gold: str | None = "is_gold"
    gold_score: str | None = "gold_score"
    generator: str | None = "generator"
    default_dimension: str = DEFAULT_DIMENSION

    @classmethod
    def real_ratings(cls) -> ColumnMap:
        """Layout of ``shared/data/real-ratings/*.csv``: stimulus_id, subject_id, repetition."""
        return cls(
            stimulus="stimulus_id", subject="subject_id", repeat="repetition", dimension=None
        )

    @classmethod
    def parse(cls, spec: str) -> ColumnMap:
        """Parse ``"stimulus=stimulus_id,subject=subject_id"`` (the CLI's ``--columns``)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, str | None] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in fields:
                raise RatingsError(
                    f"bad column mapping {part!r}: expected FIELD=COLUMN with FIELD in "
                    f"{sorted(fields)}"
                )
            kwargs[key.strip()] = value.strip() or None
        return cls(**kwargs)  # type: ignore[arg-type]


def _rows(index: pd.Index | np.ndarray, mask: np.ndarray | pd.Series) -> str:
    labels = list(np.asarray(index)[np.asarray(mask, dtype=bool)][:MAX_ROWS_IN_MESSAGE])
    return ", ".join(str(x) for x in labels)


def _read_table(source: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"ratings file not found: {path}")
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise RatingsError(f"ratings file {path} is empty") from exc


def _resolve(frame: pd.DataFrame, columns: ColumnMap | None) -> dict[str, str]:
    """Map canonical field -> source column for the fields present in ``frame``."""
    cmap = columns or ColumnMap()
    present: dict[str, str] = {}
    for field in REQUIRED + OPTIONAL:
        name = getattr(cmap, field)
        if name is not None and name in frame.columns:
            present[field] = name
        elif columns is None:
            alias = next((a for a in ALIASES.get(field, ()) if a in frame.columns), None)
            if alias is not None:
                present[field] = alias
    missing = [f"{f} (column {getattr(cmap, f)!r})" for f in REQUIRED if f not in present]
    if missing:
        raise RatingsError(
            f"ratings table is missing required column(s): {', '.join(missing)}; "
            f"available columns: {list(frame.columns)}"
        )
    return present


def _id_column(values: pd.Series, field: str) -> pd.Series:
    bad = values.isna().to_numpy()
    if bad.any():
        raise RatingsError(
            f"column {field!r} has {int(bad.sum())} missing value(s), first at row(s) "
            f"{_rows(values.index, bad)}"
        )
    if pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_string_dtype(values):
        return values
    # Mixed or float ids would compare unequal across files (1 vs "1" vs 1.0); strings are
    # the one spelling every source can agree on.
    return values.astype(str)


def _score_column(values: pd.Series, field: str) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    non_numeric = numeric.isna() & values.notna()
    if non_numeric.any():
        examples = ", ".join(
            f"row {i}: {v!r}" for i, v in values[non_numeric].head(MAX_ROWS_IN_MESSAGE).items()
        )
        raise RatingsError(
            f"column {field!r} has {int(non_numeric.sum())} non-numeric value(s): {examples}"
        )
    arr = numeric.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(arr)
    if missing.any():
        raise RatingsError(
            f"column {field!r} has {int(missing.sum())} missing (NaN) score(s), first at "
            f"row(s) {_rows(values.index, missing)}; drop or impute them before analysis"
        )
    infinite = np.isinf(arr)
    if infinite.any():
        raise RatingsError(
            f"column {field!r} has infinite score(s) at row(s) {_rows(values.index, infinite)}"
        )
    return pd.Series(arr, index=values.index, name="score")


def _repeat_column(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    arr = numeric.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(arr) | (arr < 0) | (arr != np.round(arr))
    if bad.any():
        raise RatingsError(
            "column 'repeat' must hold integers >= 0 (0 = first showing); bad value(s) at "
            f"row(s) {_rows(values.index, bad)}"
        )
    return pd.Series(arr.astype(np.int64), index=values.index, name="repeat")


def _gold_columns(out: pd.DataFrame) -> None:
    gold = out["is_gold"]
    if gold.dtype != bool:
        text = gold.astype(str).str.strip().str.lower()
        truthy = text.isin(["true", "1", "yes", "t", "y", "1.0"])
        falsy = text.isin(["false", "0", "no", "f", "n", "0.0", "", "nan", "none", "<na>"])
        bad = ~(truthy | falsy)
        if bad.any():
            raise RatingsError(
                f"column 'is_gold' must be boolean; bad value(s) at row(s) {_rows(out.index, bad)}"
            )
        out["is_gold"] = truthy.to_numpy()
    if "gold_score" in out:
        gs = pd.to_numeric(out["gold_score"], errors="coerce").to_numpy(dtype=float)
        out["gold_score"] = gs
        missing = out["is_gold"].to_numpy() & np.isnan(gs)
        if missing.any():
            raise RatingsError(
                "gold rows need a numeric 'gold_score'; missing at row(s) "
                f"{_rows(out.index, missing)}"
            )
    elif out["is_gold"].any():
        raise RatingsError("rows are marked is_gold but there is no 'gold_score' column")


def _check_duplicates(out: pd.DataFrame, coded: dict[str, Coded]) -> None:
    keys = ["stimulus", "subject", "dimension", "repeat"]
    rep = encode(out["repeat"])
    parts = [coded["stimulus"], coded["subject"], coded["dimension"], rep]
    key, total = combine([c.codes for c in parts], [c.size for c in parts])
    if total <= 4 * len(key):
        dup = np.bincount(key, minlength=total)[key] > 1
    else:
        dup = pd.Series(key).duplicated(keep=False).to_numpy()
    if dup.any():
        first = out.loc[dup, keys].head(MAX_ROWS_IN_MESSAGE)
        described = "; ".join(
            f"row {i}: " + ", ".join(f"{k}={row[k]!r}" for k in keys) for i, row in first.iterrows()
        )
        raise RatingsError(
            f"{int(dup.sum())} rows duplicate a (stimulus, subject, dimension, repeat) key; "
            f"a repeated showing must carry repeat >= 1. First: {described}"
        )


def load_ratings(
    source: str | os.PathLike[str] | pd.DataFrame,
    columns: ColumnMap | None = None,
    *,
    categorical: bool = False,
) -> pd.DataFrame:
    """Read, validate and normalise a long-format ratings table.

    ``source`` is a CSV path or a DataFrame (not modified). With ``columns=None`` the
    canonical names are expected, with the real-ratings spellings ``stimulus_id``,
    ``subject_id`` and ``repetition`` accepted as aliases. Returns a new DataFrame with the
    canonical columns in canonical order and a fresh RangeIndex.

    Raises :class:`~analysis.errors.RatingsError` on: an empty table, missing required
    columns, missing ids, non-numeric / NaN / infinite scores (naming the first bad rows),
    negative or fractional repeats, gold rows without a gold score, and duplicate
    (stimulus, subject, dimension, repeat) rows.

    Accepted but flagged downstream (not errors): a stimulus with one rating (MOS defined,
    std and CI NaN, ``single_rating`` True in the MOS table), a subject with one rating
    (excluded from the subject model and z-scoring, reported), constant scores (BT.500
    skips zero-variance stimuli, see :mod:`analysis.screening.bt500`).

    ``categorical=True`` returns stimulus, subject and dimension as categoricals with sorted
    categories, which makes every later grouping cheaper (the pipeline uses it).
    """
    frame = _read_table(source)
    if frame.shape[0] == 0:
        raise RatingsError("ratings table is empty (no rows)")
    present = _resolve(frame, columns)
    src = frame.reset_index(drop=True)
    out = _required_columns(src, present, columns or ColumnMap())
    _add_optional_columns(out, src, present)
    coded = {column: encode(out[column]) for column in ("stimulus", "subject", "dimension")}
    _check_duplicates(out, coded)
    if categorical:
        for column, coded_column in coded.items():
            out[column] = pd.Categorical.from_codes(
                coded_column.codes, categories=coded_column.labels
            )
    return out


def _required_columns(src: pd.DataFrame, present: dict[str, str], cmap: ColumnMap) -> pd.DataFrame:
    """Stimulus, subject, dimension, repeat and score, in that order; dimension and
    repeat get their defaults when the table has none."""
    out = pd.DataFrame(index=pd.RangeIndex(src.shape[0]))
    out["stimulus"] = _id_column(src[present["stimulus"]], present["stimulus"])
    out["subject"] = _id_column(src[present["subject"]], present["subject"])
    if "dimension" in present:
        out["dimension"] = _id_column(src[present["dimension"]], present["dimension"]).astype(str)
    else:
        out["dimension"] = pd.Series(cmap.default_dimension, index=out.index, dtype="str")
    if "repeat" in present:
        out["repeat"] = _repeat_column(src[present["repeat"]])
    else:
        out["repeat"] = np.zeros(len(out), dtype=np.int64)
    out["score"] = _score_column(src[present["score"]], present["score"])
    return out


def _add_optional_columns(out: pd.DataFrame, src: pd.DataFrame, present: dict[str, str]) -> None:
    """The optional columns the table has, after the required ones."""
    if "session" in present:
        out["session"] = _id_column(src[present["session"]], present["session"])
    if "response_time" in present:
        out["response_time"] = pd.to_numeric(src[present["response_time"]], errors="coerce")
    if "is_gold" in present:
        out["is_gold"] = src[present["is_gold"]].to_numpy()
        if "gold_score" in present:
            out["gold_score"] = src[present["gold_score"]].to_numpy()
        _gold_columns(out)
    if "generator" in present:
        out["generator"] = src[present["generator"]].astype(str)


def attach_stimuli(
    ratings: pd.DataFrame, stimuli: pd.DataFrame, columns: Sequence[str] = ("generator",)
) -> pd.DataFrame:
    """Join per-stimulus metadata (a table with a ``stimulus`` column) onto the ratings."""
    if "stimulus" not in stimuli.columns:
        raise RatingsError("the stimulus table needs a 'stimulus' column")
    missing = [c for c in columns if c not in stimuli.columns]
    if missing:
        raise RatingsError(
            f"the stimulus table lacks column(s) {missing}; available: {list(stimuli.columns)}"
        )
    if stimuli["stimulus"].duplicated().any():
        raise RatingsError("the stimulus table lists a stimulus more than once")
    keep = ratings.drop(columns=[c for c in columns if c in ratings.columns])
    table = stimuli[["stimulus", *columns]]
    if table["stimulus"].dtype != keep["stimulus"].dtype:
        table = table.assign(stimulus=table["stimulus"].astype(keep["stimulus"].dtype))
    return keep.merge(table, on="stimulus", how="left", validate="many_to_one")


def collapse_repeats(ratings: pd.DataFrame, policy: RepeatPolicy) -> pd.DataFrame:
    """One rating per (stimulus, subject, dimension) according to ``policy``.

    ``"first"`` keeps the earliest showing (smallest ``repeat``): repeats exist to measure
    consistency, and keeping them would weight re-shown stimuli twice for some subjects.
    ``"mean"`` averages a subject's showings. ``"all"`` keeps every row (the subject model
    and MOS then treat showings as independent observations).
    """
    if policy == "all" or not (ratings["repeat"].to_numpy() != 0).any():
        return ratings
    keys = ["stimulus", "subject", "dimension"]
    if policy == "first":
        order = ratings.sort_values("repeat", kind="stable")
        out = order.drop_duplicates(keys, keep="first").sort_index()
        return out.reset_index(drop=True)
    if policy == "mean":
        first = collapse_repeats(ratings, "first")
        means = ratings.groupby(keys, sort=False, observed=True)["score"].mean()
        merged = first.drop(columns="score").merge(
            means.rename("score").reset_index(), on=keys, how="left"
        )
        return merged[list(first.columns)]
    raise ValueError(f"unknown repeat policy {policy!r}; choose from {get_args(RepeatPolicy)}")


_GENERATOR_RE = re.compile(r"^(?P<generator>.+?)(?:_\d+)+$")


def generator_from_name(name: str) -> str:
    """Generator label from an image name: the basename minus extension and trailing ``_<digits>``.

    ``Generated_image/All/MJ_000_00.jpg`` -> ``MJ`` (PKU-I2IQA);
    ``LCM_SDXL_0042.png`` -> ``LCM_SDXL`` (AIGIQA-20K).
    """
    stem = Path(str(name)).stem
    match = _GENERATOR_RE.match(stem)
    return match.group("generator") if match else stem


def load_mos_table(
    source: str | os.PathLike[str] | pd.DataFrame,
    value_columns: Sequence[str],
    names: Sequence[str] | None = None,
    generator_from: str | None = None,
) -> pd.DataFrame:
    """Read a per-stimulus MOS table (PKU-I2IQA ``mos.csv``, AIGIQA-20K ``info_train.csv``).

    ``names`` is given for header-less files (AIGIQA-20K: ``name, prompt, mos``).
    ``generator_from`` names a column from which :func:`generator_from_name` derives a
    ``generator`` column. Value columns must be numeric and finite.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"MOS file not found: {path}")
        frame = pd.read_csv(
            path, header=None if names else "infer", names=list(names) if names else None
        )
    if frame.empty:
        raise RatingsError("MOS table is empty (no rows)")
    missing = [c for c in value_columns if c not in frame.columns]
    if missing:
        hint = " (header-less file? pass names=...)" if names is None else ""
        raise RatingsError(
            f"MOS table lacks column(s) {missing}; available: {list(frame.columns)}{hint}"
        )
    for col in value_columns:
        frame[col] = _score_column(frame[col], col).to_numpy()
    if generator_from is not None:
        if generator_from not in frame.columns:
            raise RatingsError(f"no column {generator_from!r} to derive the generator from")
        frame["generator"] = [generator_from_name(v) for v in frame[generator_from]]
    return frame
