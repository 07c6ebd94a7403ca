"""Pairwise studies: comparison groups, and the pairs a new session is served.

A pairwise study (``scale_type="pairwise"``) shows two images of one comparison group per
trial and asks which is better on each dimension. The groups are the images of one prompt
(default), all images, or the values of a manifest column. A new session's pairs are chosen
under the study-row lock of `playlists.playlist_session_start` by the study's design
(:mod:`analysis.pairwise.designs`: full, random or active) from the choices stored so far
and the pairs other sessions were served and have not answered yet, so concurrent subjects
get different, informative pairs. Sides are randomised per trial and recorded in the entry.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError

from analysis.pairwise import ActiveDesign, FullDesign, PairDesign, RandomDesign
from annotation.models import Study
from annotation.playlist_entries import pair_entry
from annotation.selectors.pairwise import (
    GroupingRow,
    pairwise_first_dimension,
    pairwise_grouping_rows,
    pairwise_history,
    pairwise_pending,
)

PAIRWISE_FIELDS = (
    "pairwise_no_preference",
    "pairwise_grouping",
    "pairwise_group_column",
    "pairwise_design",
)
DESIGNS: dict[str, PairDesign] = {
    Study.PairDesign.FULL: FullDesign(),
    Study.PairDesign.RANDOM: RandomDesign(),
    Study.PairDesign.ACTIVE: ActiveDesign(),
}
_EMPTY_HISTORY = pd.DataFrame(columns=["left", "right", "choice"])


def pairwise_settings_validate(*, grouping: str, column: str) -> None:
    if grouping not in Study.PairGrouping.values:
        raise ValidationError(
            f"Unknown comparison grouping {grouping!r}; use one of "
            f"{', '.join(Study.PairGrouping.values)}."
        )
    if grouping == Study.PairGrouping.COLUMN and not column.strip():
        raise ValidationError("Grouping by a manifest column needs the column's name.")


def _group_key(row: GroupingRow, *, grouping: str, column: str) -> str:
    if grouping == Study.PairGrouping.ALL:
        return "all"
    if grouping == Study.PairGrouping.COLUMN:
        value = row.metadata.get(column, "")
        where = f"has no value in the manifest column {column!r}"
    else:
        value = row.prompt_group or row.prompt
        where = "has no prompt (and no prompt_group) to group it by"
    key = str(value).strip()
    if not key:
        raise ValidationError(f"Image {row.name or row.stimulus_id} {where}.")
    return key


def comparison_groups(
    rows: Sequence[GroupingRow], *, grouping: str, column: str = ""
) -> dict[str, list[int]]:
    """Group name -> its stimulus ids; every group must hold at least two images."""
    groups: dict[str, list[int]] = {}
    names: dict[int, str] = {}
    for row in rows:
        groups.setdefault(_group_key(row, grouping=grouping, column=column), []).append(
            row.stimulus_id
        )
        names[row.stimulus_id] = row.name or str(row.stimulus_id)
    if not groups:
        raise ValidationError("This pairwise study has no images to compare yet.")
    for name, members in groups.items():
        if len(members) < 2:
            raise ValidationError(
                f"Comparison group {name!r} has one image ({names[members[0]]}); a pair needs "
                "two: add images to it or group the study differently."
            )
    return groups


def study_comparison_groups(*, study: Study) -> dict[str, list[int]]:
    """The study's groups now; a ValidationError (one line) says why it cannot pair."""
    return comparison_groups(
        pairwise_grouping_rows(study=study),
        grouping=study.pairwise_grouping,
        column=study.pairwise_group_column,
    )


def _pair_count(size: int) -> int:
    return size * (size - 1) // 2


def pairs_choose(
    *,
    groups: Mapping[str, Sequence[int]],
    history: Mapping[str, pd.DataFrame],
    pending: Mapping[str, Sequence[tuple[str, str]]],
    design: PairDesign,
    count: int,
    rng: random.Random,
) -> list[tuple[str, int, int]]:
    """`count` pairs (group, first, second): each batch goes to the least-compared group.

    A group's load is its answered and pending comparisons per possible pair, so the groups
    fill evenly; within a group the design chooses (a batch of at most one spanning tree).
    """
    generator = np.random.default_rng(rng.getrandbits(64))
    busy = {name: list(pending.get(name, ())) for name in groups}
    load = {
        name: (len(history.get(name, ())) + len(busy[name])) / _pair_count(len(members))
        for name, members in groups.items()
    }
    tie_break = {name: rng.random() for name in sorted(groups)}
    chosen: list[tuple[str, int, int]] = []
    while len(chosen) < count:
        name = min(sorted(groups), key=lambda group: (load[group], tie_break[group]))
        members = [str(stimulus_id) for stimulus_id in groups[name]]
        batch = min(count - len(chosen), len(members) - 1)
        pairs = design.next_pairs(
            history.get(name, _EMPTY_HISTORY), members, batch, generator, pending=busy[name]
        )
        for first, second in pairs:
            chosen.append((name, int(first), int(second)))
            busy[name].append((first, second))
        load[name] += len(pairs) / _pair_count(len(members))
    return chosen


def pair_trials_build(
    *, pairs: Sequence[tuple[str, int, int]], repeats: int, rng: random.Random
) -> list[dict]:
    """Playlist entries for `pairs` with random sides, and `repeats` pairs shown again
    later with their sides swapped (a subject's consistency check)."""
    trials = [
        pair_entry(first=first, second=second, group=group, swap=rng.random() < 0.5)
        for group, first, second in pairs
    ]
    # Sources come from the first half and copies go after them into the second half, so
    # inserting never moves a source and the swap is not simply remembered.
    half = (len(trials) + 1) // 2
    sources = rng.sample(range(half), min(max(repeats, 0), half))
    for source in sorted(sources):
        slot = rng.randint(max(half, source + 1), len(trials))
        trials.insert(slot, _swapped_repeat(trials[source]))
    return trials


def _swapped_repeat(entry: dict) -> dict:
    return {
        **entry,
        "stimulus": entry["right"],
        "right": entry["stimulus"],
        "side": "left" if entry["side"] == "right" else "right",
        "repeat": True,
    }


def pairwise_playlist(*, study: Study, rng: random.Random) -> list[dict]:
    """A new session's trials; call under the study-row lock (see module docstring)."""
    groups = study_comparison_groups(study=study)
    pairs = pairs_choose(
        groups=groups,
        history=pairwise_history(study=study, dimension=pairwise_first_dimension(study=study)),
        pending=pairwise_pending(study=study),
        design=DESIGNS[study.pairwise_design],
        count=study.session_size,
        rng=rng,
    )
    return pair_trials_build(pairs=pairs, repeats=study.repeats_per_session, rng=rng)
