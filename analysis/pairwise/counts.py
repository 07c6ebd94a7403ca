"""Win-count matrices of a choices table, laid out for solving many groups at once.

Groups are independent scaling problems. Groups with the same number of stimuli form one
*batch* whose win counts are a single ``(groups, n, n)`` array, so a solver treats all of
them with array operations instead of a Python loop. ``wins[g, i, j]`` is how often stimulus
``i`` of group ``g`` was chosen over ``j``; a "no preference" answer counts half to each.

Rows can be weighted (a bootstrap resample of subjects, a subject left out) without
rebuilding the layout: :meth:`GroupBatch.wins` takes one weight per row.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.pairwise.choices import Groups, groups_of


@dataclasses.dataclass(frozen=True)
class GroupBatch:
    """Groups of ``size`` stimuli each; ``stimuli[g]`` in the local (sorted) order."""

    groups: tuple[str, ...]
    stimuli: tuple[tuple[str, ...], ...]
    size: int
    event_group: np.ndarray
    event_winner: np.ndarray
    event_loser: np.ndarray
    event_amount: np.ndarray
    event_row: np.ndarray

    def wins(self, row_weights: np.ndarray | None = None) -> np.ndarray:
        """``(groups, size, size)`` win counts, each row's answer weighted by ``row_weights``."""
        size = self.size
        amount = self.event_amount
        if row_weights is not None:
            amount = amount * row_weights[self.event_row]
        flat = (self.event_group * size + self.event_winner) * size + self.event_loser
        counts = np.bincount(flat, weights=amount, minlength=len(self.groups) * size * size)
        return counts.reshape(len(self.groups), size, size)


@dataclasses.dataclass(frozen=True)
class PairLayout:
    """Every group of a choices table, batched by size; ``row_subject`` codes each row's subject."""

    batches: tuple[GroupBatch, ...]
    row_subject: np.ndarray
    subjects: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        return len(self.row_subject)


def pair_layout(choices: pd.DataFrame, groups: Groups | None = None) -> PairLayout:
    """Lay out a *validated* choices table (see :func:`~analysis.pairwise.validate_choices`)."""
    members = groups_of(choices, groups)
    group_names = sorted(members)
    stimulus_names = sorted({s for stimuli in members.values() for s in stimuli})
    row_group = pd.Categorical(choices["group"], categories=group_names).codes.astype(np.int64)
    local = _local_index(choices, members, group_names, stimulus_names, row_group)
    winner, loser, amount, row = _events(choices["choice"].to_numpy(), *local)
    subject_codes, subject_names = pd.factorize(choices["subject"], sort=True)
    batches = []
    sizes = np.array([len(members[g]) for g in group_names])
    for size in np.unique(sizes):
        in_batch = np.flatnonzero(sizes == size)
        position = np.full(len(group_names), -1, dtype=np.int64)
        position[in_batch] = np.arange(len(in_batch))
        keep = position[row_group[row]] >= 0
        batches.append(
            GroupBatch(
                groups=tuple(group_names[g] for g in in_batch),
                stimuli=tuple(tuple(members[group_names[g]]) for g in in_batch),
                size=int(size),
                event_group=position[row_group[row[keep]]],
                event_winner=winner[keep],
                event_loser=loser[keep],
                event_amount=amount[keep],
                event_row=row[keep],
            )
        )
    return PairLayout(
        batches=tuple(batches),
        row_subject=subject_codes.astype(np.int64),
        subjects=tuple(str(s) for s in subject_names),
    )


def _local_index(
    choices: pd.DataFrame,
    members: dict[str, list[str]],
    group_names: list[str],
    stimulus_names: list[str],
    row_group: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Position of each row's left and right stimulus inside its group's sorted list."""
    n_stimuli = len(stimulus_names)
    stimulus_code = {name: code for code, name in enumerate(stimulus_names)}
    member_keys = np.array(
        [
            g * n_stimuli + stimulus_code[s]
            for g, name in enumerate(group_names)
            for s in members[name]
        ],
        dtype=np.int64,
    )
    member_local = np.concatenate([np.arange(len(members[name])) for name in group_names])
    order = np.argsort(member_keys)
    sorted_keys, sorted_local = member_keys[order], member_local[order]
    result = []
    for column in ("left", "right"):
        codes = pd.Categorical(choices[column], categories=stimulus_names).codes
        keys = row_group * n_stimuli + codes.astype(np.int64)
        result.append(sorted_local[np.searchsorted(sorted_keys, keys)])
    return result[0], result[1]


def _events(
    choice: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(winner, loser, amount, row) per event; a "none" answer is half a win each way."""
    rows = np.arange(len(choice))
    chose_left, chose_right = choice == "left", choice == "right"
    tie = ~(chose_left | chose_right)
    winner = np.concatenate([left[chose_left], right[chose_right], left[tie], right[tie]])
    loser = np.concatenate([right[chose_left], left[chose_right], right[tie], left[tie]])
    amount = np.concatenate(
        [np.ones(int(chose_left.sum() + chose_right.sum())), np.full(2 * int(tie.sum()), 0.5)]
    )
    row = np.concatenate([rows[chose_left], rows[chose_right], rows[tie], rows[tie]])
    return winner, loser, amount, row
