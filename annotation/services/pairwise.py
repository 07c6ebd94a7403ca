"""Pairwise studies: comparison groups, and the pairs a new session is served.

A pairwise study (``scale_type="pairwise"``) shows two images of one comparison group per
trial and asks which is better on each dimension. The groups are the images of one prompt
(default), all images, or the values of a manifest column. A new session's pairs are chosen
under the study-row lock of `playlists.playlist_session_start` by the study's design
(:mod:`analysis.pairwise.designs`: full, random or active) from the choices stored so far
and the pairs other sessions were served and have not answered yet, so concurrent subjects
get different, informative pairs. Sides are randomised per trial and recorded in the entry.

Training and gold pairs are the researcher's: stimuli of role training or gold, paired
within their comparison group in id order ((1st, 2nd), (3rd, 4th), ...), whose expected
scores say the winner on each dimension (the higher score; a tie means no preference).
Training pairs come first, with feedback; gold pairs (a pair must have a winner on every
dimension) are spread through the session like ACR gold and scored pass/fail.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError

from analysis.pairwise import ActiveDesign, FullDesign, PairDesign, RandomDesign, VarianceDesign
from annotation.models import Stimulus, Study
from annotation.playlist_entries import (
    STAGE_GOLD,
    STAGE_TRAINING,
    checks_insert,
    checks_per_session,
    pair_entry,
)
from annotation.selectors.pairwise import (
    GroupingRow,
    pairwise_expected_scores,
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
    Study.PairDesign.VARIANCE: VarianceDesign(),
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


def reference_winners(
    *, first: Mapping[str, object], second: Mapping[str, object], keys: Sequence[str]
) -> dict[str, str] | None:
    """Per dimension key, which of (first, second) should win: "first", "second" or "none"
    (equal expected scores); None where a key has no expected score on either image."""
    winners = {}
    for key in keys:
        try:
            first_score, second_score = float(first[key]), float(second[key])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            return None
        if first_score == second_score:
            winners[key] = "none"
        else:
            winners[key] = "first" if first_score > second_score else "second"
    return winners


def reference_pairs(
    *,
    rows: Sequence[GroupingRow],
    expected: Mapping[int, Mapping[str, object]],
    keys: Sequence[str],
    grouping: str,
    column: str,
    allow_none: bool,
) -> list[tuple[str, int, int, dict[str, str]]]:
    """(group, first, second, winners) for training or gold stimuli, paired in id order
    within their group; a pair is kept only if it has a usable answer on every dimension
    (no tie unless the study offers "no preference")."""
    by_group: dict[str, list[int]] = {}
    for row in rows:
        key = _group_key(row, grouping=grouping, column=column)
        by_group.setdefault(key, []).append(row.stimulus_id)
    pairs = []
    for group, members in by_group.items():
        for first, second in zip(members[::2], members[1::2], strict=False):
            winners = reference_winners(
                first=expected.get(first, {}), second=expected.get(second, {}), keys=keys
            )
            if winners is None or (not allow_none and "none" in winners.values()):
                continue
            pairs.append((group, first, second, winners))
    return pairs


def study_reference_pairs(*, study: Study, role: str) -> list[tuple[str, int, int, dict]]:
    return reference_pairs(
        rows=pairwise_grouping_rows(study=study, role=role),
        expected=pairwise_expected_scores(study=study, role=role),
        keys=[dimension.key for dimension in study.dimensions.order_by("order", "id")],
        grouping=study.pairwise_grouping,
        column=study.pairwise_group_column,
        allow_none=study.pairwise_no_preference,
    )


def reference_entry(
    *, group: str, first: int, second: int, winners: Mapping[str, str], stage: str, swap: bool
) -> dict:
    """A training or gold pair's playlist entry; "expected" is per key the side, as shown,
    that should win ("none" for a tie)."""
    entry = pair_entry(first=first, second=second, group=group, swap=swap)
    first_side = entry["side"]
    other_side = "right" if first_side == "left" else "left"
    sides = {"first": first_side, "second": other_side, "none": "none"}
    return {
        **entry,
        "stage": stage,
        "expected": {key: sides[winner] for key, winner in winners.items()},
    }


def gold_count_for(*, study: Study, trials: int) -> int:
    if study.gold_every:
        return checks_per_session(rating_trials=trials, every=study.gold_every)
    return study.gold_per_session


def reference_trials_add(
    *,
    trials: list[dict],
    training: Sequence[tuple[str, int, int, dict]],
    gold: Sequence[tuple[str, int, int, dict]],
    gold_count: int,
    gold_every: int,
    rng: random.Random,
) -> list[dict]:
    """Training pairs first (in order), then the trials with `gold_count` gold pairs
    spread in (one per block of `gold_every`, or at random places), as ACR gold is."""
    golds: list[dict] = []
    if gold and gold_count > 0:
        order = rng.sample(range(len(gold)), len(gold))
        for index in range(gold_count):
            group, first, second, winners = gold[order[index % len(order)]]
            golds.append(
                reference_entry(
                    group=group,
                    first=first,
                    second=second,
                    winners=winners,
                    stage=STAGE_GOLD,
                    swap=rng.random() < 0.5,
                )
            )
    if gold_every:
        trials = checks_insert(trials=trials, checks=golds, every=gold_every, rng=rng)
    else:
        for entry in golds:
            trials.insert(rng.randint(0, len(trials)), entry)
    lead = [
        reference_entry(
            group=group,
            first=first,
            second=second,
            winners=winners,
            stage=STAGE_TRAINING,
            swap=rng.random() < 0.5,
        )
        for group, first, second, winners in training
    ]
    return lead + trials


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
    trials = pair_trials_build(pairs=pairs, repeats=study.repeats_per_session, rng=rng)
    return reference_trials_add(
        trials=trials,
        training=study_reference_pairs(study=study, role=Stimulus.Role.TRAINING),
        gold=study_reference_pairs(study=study, role=Stimulus.Role.GOLD),
        gold_count=gold_count_for(study=study, trials=len(pairs)),
        gold_every=study.gold_every,
        rng=rng,
    )
