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

from analysis.pairwise.choices import Groups


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
    """Lay out a *validated* choices table (see :func:`~analysis.pairwise.validate_choices`).

    Without ``groups``, a group's stimuli are those its rows show."""
    codes = _Codes(choices, groups)
    winner, loser, amount, row = _events(choices["choice"].to_numpy(), codes.left, codes.right)
    subject_codes, subject_names = pd.factorize(choices["subject"], sort=True)
    sizes = np.diff(codes.group_start)
    batches = []
    for size in np.unique(sizes[sizes > 0]):
        in_batch = np.flatnonzero(sizes == size)
        position = np.full(len(codes.group_names), -1, dtype=np.int64)
        position[in_batch] = np.arange(len(in_batch))
        keep = position[codes.row_group[row]] >= 0
        batches.append(
            GroupBatch(
                groups=tuple(codes.group_names[g] for g in in_batch),
                stimuli=tuple(codes.members(int(g)) for g in in_batch),
                size=int(size),
                event_group=position[codes.row_group[row[keep]]],
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


class _Codes:
    """Integer codes of a choices table: groups, stimuli, and each row's local positions.

    Membership is a sorted array of keys ``group * n_stimuli + stimulus`` (names sorted, so
    keys of a group run in name order): a row's local position is found by binary search,
    with no per-row Python or string work beyond one factorisation per column."""

    def __init__(self, choices: pd.DataFrame, groups: Groups | None) -> None:
        shown = pd.concat([choices["left"], choices["right"]], ignore_index=True)
        named = None if groups is None else {str(g): {str(s) for s in m} for g, m in groups.items()}
        if named is None:
            self.group_names = sorted(pd.unique(choices["group"]).tolist())
            self.stimulus_names = sorted(pd.unique(shown).tolist())
        else:
            self.group_names = sorted(named)
            self.stimulus_names = sorted(set().union(*named.values()))
        stimulus_index = pd.Index(self.stimulus_names)
        count = len(self.stimulus_names)
        self.row_group = pd.Index(self.group_names).get_indexer(choices["group"]).astype(np.int64)
        shown_codes = stimulus_index.get_indexer(shown).astype(np.int64)
        if named is None:
            keys = np.concatenate([self.row_group, self.row_group]) * count + shown_codes
        else:
            keys = np.concatenate(
                [
                    g * count + stimulus_index.get_indexer(sorted(named[name]))
                    for g, name in enumerate(self.group_names)
                ]
            ).astype(np.int64)
        self.keys = np.unique(keys)
        self.group_start = np.searchsorted(self.keys, np.arange(len(self.group_names) + 1) * count)
        rows = len(choices)
        position = np.searchsorted(
            self.keys,
            self.row_group[:, None] * count
            + np.stack([shown_codes[:rows], shown_codes[rows:]], axis=1),
        )
        local = position - self.group_start[self.row_group][:, None]
        self.left, self.right = local[:, 0], local[:, 1]

    def members(self, group: int) -> tuple[str, ...]:
        keys = self.keys[self.group_start[group] : self.group_start[group + 1]]
        return tuple(self.stimulus_names[k] for k in (keys % len(self.stimulus_names)))


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
