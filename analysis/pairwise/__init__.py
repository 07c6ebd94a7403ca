"""Pairwise-comparison studies: the choices table, scaling, screening and pair designs.

A pure library like the rest of :mod:`analysis` (numpy, pandas, scipy; no Django).
See docs/analysis.md, "Pairwise comparisons".
"""

from analysis.pairwise.choices import (
    CHOICE_VALUES,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SIDE_VALUES,
    check_groups,
    choices_from_winners,
    groups_of,
    validate_choices,
)
from analysis.pairwise.counts import GroupBatch, PairLayout, pair_layout

__all__ = [
    "CHOICE_VALUES",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SIDE_VALUES",
    "GroupBatch",
    "PairLayout",
    "check_groups",
    "choices_from_winners",
    "groups_of",
    "pair_layout",
    "validate_choices",
]
