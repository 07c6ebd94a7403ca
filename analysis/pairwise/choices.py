"""The choices table of a pairwise-comparison study, and its validation.

One row per trial: ``subject``, ``group`` (the comparison group the pair was drawn from,
e.g. the images of one prompt), ``left`` and ``right`` (the stimuli as shown on screen),
``choice`` (``"left"``, ``"right"`` or ``"none"`` for "no preference"), and optionally
``side`` (where the first stimulus of the pair as the design served it was shown, ``"left"``
or ``"right"``: the record of the side randomisation) and ``time`` (response time in
seconds).

Bad input raises :class:`~analysis.errors.RatingsError` with a one-line message naming the
column, the value and the first offending rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

from analysis.errors import RatingsError

REQUIRED_COLUMNS = ("subject", "group", "left", "right", "choice")
OPTIONAL_COLUMNS = ("side", "time")
CHOICE_VALUES = ("left", "right", "none")
SIDE_VALUES = ("left", "right")
MAX_ROWS_IN_MESSAGE = 5

Groups = Mapping[str, Collection[str]]


def validate_choices(choices: pd.DataFrame, groups: Groups | None = None) -> pd.DataFrame:
    """A checked copy of ``choices`` with string ids, the canonical columns only.

    ``groups`` (group -> its stimuli, as the study defines them) makes the check complete: a
    group of fewer than two stimuli, a stimulus that is in no group and a pair that is not
    in the row's group are refused. Without it the groups are what the table shows.
    """
    _check_columns(choices)
    if choices.empty:
        raise RatingsError("choices table is empty (no rows)")
    out = pd.DataFrame(index=choices.index)
    for column in ("subject", "group", "left", "right"):
        out[column] = _id_column(choices[column], column)
    out["choice"] = _value_column(choices["choice"], "choice", CHOICE_VALUES, allow_missing=False)
    if "side" in choices.columns:
        out["side"] = _value_column(choices["side"], "side", SIDE_VALUES, allow_missing=True)
    if "time" in choices.columns:
        out["time"] = _time_column(choices["time"])
    _check_self_pairs(out)
    if groups is not None:
        check_groups(groups)
        _check_pairs_in_groups(out, groups)
    return out


def check_groups(groups: Groups) -> None:
    """Every comparison group needs at least two stimuli to form a pair."""
    for name, members in groups.items():
        if len(set(members)) < 2:
            listed = ", ".join(repr(str(m)) for m in members) or "none"
            raise RatingsError(
                f"comparison group {str(name)!r} has {len(set(members))} stimulus ({listed}); "
                "a pair needs two"
            )


def groups_of(choices: pd.DataFrame, groups: Groups | None = None) -> dict[str, list[str]]:
    """Group -> sorted stimuli: ``groups`` as given (ids as strings), else those the choices show."""
    if groups is not None:
        return {str(g): sorted({str(s) for s in members}) for g, members in groups.items()}
    shown = pd.concat(
        [
            choices[["group", "left"]].set_axis(["group", "stimulus"], axis=1),
            choices[["group", "right"]].set_axis(["group", "stimulus"], axis=1),
        ]
    ).drop_duplicates()
    return {
        str(g): sorted(frame["stimulus"].tolist()) for g, frame in shown.groupby("group", sort=True)
    }


def choices_from_winners(
    frame: pd.DataFrame,
    *,
    winner: str,
    loser: str,
    subject: str,
    group: str | None = None,
) -> pd.DataFrame:
    """A winner/loser table (one row per decided comparison) as a choices table.

    The winner is put on the left; sides are unknown in such tables, so ``side`` is left out.
    Without a ``group`` column every row is in one group, ``"all"``.
    """
    out = pd.DataFrame(
        {
            "subject": frame[subject].astype(str).to_numpy(),
            "group": frame[group].astype(str).to_numpy() if group else "all",
            "left": frame[winner].astype(str).to_numpy(),
            "right": frame[loser].astype(str).to_numpy(),
            "choice": "left",
        }
    )
    return out


def _rows(index: pd.Index, mask: np.ndarray) -> str:
    labels = np.asarray(index)[mask][:MAX_ROWS_IN_MESSAGE]
    return ", ".join(str(label) for label in labels)


def _check_columns(choices: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in choices.columns]
    if missing:
        raise RatingsError(
            f"choices table is missing column(s) {', '.join(missing)}; it needs "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})"
        )


def _id_column(values: pd.Series, column: str) -> pd.Series:
    missing = values.isna().to_numpy()
    if missing.any():
        raise RatingsError(
            f"column {column!r} has {int(missing.sum())} missing value(s), first at row(s) "
            f"{_rows(values.index, missing)}"
        )
    # Ids are compared with the study's group lists, so one spelling (str) for every source.
    return values if pd.api.types.is_string_dtype(values) else values.astype(str)


def _value_column(
    values: pd.Series, column: str, allowed: tuple[str, ...], *, allow_missing: bool
) -> pd.Series:
    present = values.notna().to_numpy()
    if not allow_missing and not present.all():
        raise RatingsError(
            f"column {column!r} has missing value(s) at row(s) {_rows(values.index, ~present)}; "
            f"allowed: {', '.join(allowed)}"
        )
    unknown = present & ~values.isin(allowed).to_numpy()
    if unknown.any():
        first = values[unknown].iloc[0]
        raise RatingsError(
            f"column {column!r} has unknown value {first!r} at row(s) "
            f"{_rows(values.index, unknown)}; allowed: {', '.join(allowed)}"
        )
    return values.astype(object).where(present, None)


def _time_column(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = (numeric.isna() & values.notna()) | (numeric < 0) | np.isinf(numeric)
    if bad.any():
        first = values[bad.to_numpy()].iloc[0]
        raise RatingsError(
            f"column 'time' has invalid response time {first!r} at row(s) "
            f"{_rows(values.index, bad.to_numpy())}; it needs seconds >= 0 (or empty)"
        )
    return numeric.astype(float)


def _check_self_pairs(out: pd.DataFrame) -> None:
    same = (out["left"] == out["right"]).to_numpy()
    if same.any():
        raise RatingsError(
            f"row(s) {_rows(out.index, same)} compare a stimulus with itself "
            f"({out['left'].to_numpy()[same][0]!r}); a pair needs two different stimuli"
        )


def _check_pairs_in_groups(out: pd.DataFrame, groups: Groups) -> None:
    members = pd.MultiIndex.from_tuples(
        [(str(g), str(s)) for g, stimuli in groups.items() for s in stimuli]
    )
    known_stimuli = set(members.get_level_values(1))
    known_groups = set(members.get_level_values(0))
    for column in ("left", "right"):
        unknown = ~out[column].isin(known_stimuli).to_numpy()
        if unknown.any():
            raise RatingsError(
                f"column {column!r} names stimulus {out[column].to_numpy()[unknown][0]!r}, which "
                f"is in no comparison group, at row(s) {_rows(out.index, unknown)}"
            )
    no_group = ~out["group"].isin(known_groups).to_numpy()
    if no_group.any():
        raise RatingsError(
            f"column 'group' names unknown group {out['group'].to_numpy()[no_group][0]!r} at "
            f"row(s) {_rows(out.index, no_group)}"
        )
    _check_membership(out, members)


def _check_membership(out: pd.DataFrame, members: pd.MultiIndex) -> None:
    outside = np.zeros(len(out), dtype=bool)
    for column in ("left", "right"):
        keys = pd.MultiIndex.from_arrays([out["group"].to_numpy(), out[column].to_numpy()])
        outside |= ~keys.isin(members)
    if outside.any():
        first = np.flatnonzero(outside)[0]
        raise RatingsError(
            f"pair ({out['left'].iloc[first]!r}, {out['right'].iloc[first]!r}) is not in "
            f"comparison group {out['group'].iloc[first]!r}, at row(s) "
            f"{_rows(out.index, outside)}"
        )
