"""Pairwise screening catches planted misbehaving subjects and passes honest ones."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import OptionsError
from analysis.pairwise.screening import (
    PairwiseScreeningOptions,
    outlier_analysis,
    repeat_consistency,
    transitivity,
)
from analysis.pairwise.synthetic import full_design_study


def _subjects(result) -> pd.DataFrame:
    return result.subjects.set_index("subject")


def test_repeat_consistency_catches_a_subject_who_always_presses_left():
    study = full_design_study(
        n_groups=2, group_size=6, n_subjects=10, repeats=2, behaviour={"s09": "left"}, seed=21
    )
    result = repeat_consistency(study.choices)
    table = _subjects(result)
    assert result.rejected_subjects == ["s09"]
    assert table.loc["s09", "inconsistency"] == 1.0
    assert (table["repeats"] >= 3).all()
    assert "swapped repeats" in table.loc["s09", "reason"]


def test_repeat_consistency_counts_a_no_preference_half_and_leaves_unrepeated_subjects():
    rows = [
        ("s1", "a", "b", "left"),
        ("s1", "b", "a", "none"),  # half a change
        ("s1", "a", "c", "left"),
        ("s1", "c", "a", "right"),  # same preference: a
        ("s1", "a", "d", "left"),
        ("s1", "a", "d", "right"),  # same sides: not a swapped repeat
        ("s2", "a", "b", "left"),
    ]
    choices = pd.DataFrame(rows, columns=["subject", "left", "right", "choice"]).assign(group="g")
    table = _subjects(repeat_consistency(choices, PairwiseScreeningOptions(min_repeats=1)))
    assert table.loc["s1", "repeats"] == 2 and table.loc["s1", "inconsistency"] == 0.25
    assert table.loc["s2", "repeats"] == 0 and not table.loc["s2", "rejected"]


def test_transitivity_catches_a_coin_flipping_subject():
    study = full_design_study(
        n_groups=2, group_size=8, n_subjects=10, behaviour={"s03": "random"}, seed=22
    )
    result = transitivity(study.choices)
    table = _subjects(result)
    assert result.rejected_subjects == ["s03"]
    assert table.loc["s03", "triads"] == 2 * 56
    assert table.loc["s03", "circular_share"] > 0.15 > table.drop("s03")["circular_share"].max()


def test_a_cycle_of_three_is_one_circular_triad():
    rows = [
        ("s1", "a", "b"),
        ("s1", "b", "c"),
        ("s1", "c", "a"),
        ("s1", "a", "d"),
        ("s1", "b", "d"),
        ("s1", "c", "d"),
    ]
    choices = pd.DataFrame(rows, columns=["subject", "left", "right"]).assign(
        group="g", choice="left"
    )
    table = _subjects(transitivity(choices, PairwiseScreeningOptions(min_triads=1)))
    assert table.loc["s1", "triads"] == 4 and table.loc["s1", "circular"] == 1


def test_outlier_analysis_catches_an_inverted_subject():
    study = full_design_study(
        n_groups=3, group_size=6, n_subjects=16, behaviour={"s07": "inverted"}, seed=23
    )
    result = outlier_analysis(study.choices, study.groups)
    table = _subjects(result)
    assert result.rejected_subjects == ["s07"]
    assert table["log10_likelihood"].idxmin() == "s07"
    assert table.loc["s07", "distance"] > 1.0


def test_screening_options_are_checked():
    with pytest.raises(OptionsError, match="max_repeat_inconsistency"):
        PairwiseScreeningOptions(max_repeat_inconsistency=1.5)
