"""The choices table: validation errors (one line, naming the fault) and win counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import RatingsError
from analysis.pairwise import choices_from_winners, pair_layout, validate_choices

GROUPS = {"p1": ["a", "b", "c"], "p2": ["d", "e"]}


def _choices(**overrides: list) -> pd.DataFrame:
    table = {
        "subject": ["s1", "s1", "s2", "s2"],
        "group": ["p1", "p1", "p1", "p2"],
        "left": ["a", "b", "c", "d"],
        "right": ["b", "c", "a", "e"],
        "choice": ["left", "right", "none", "left"],
        "side": ["left", "right", "left", "right"],
        "time": [1.2, 0.8, 2.0, 1.1],
    }
    table.update(overrides)
    return pd.DataFrame(table)


def _message(choices: pd.DataFrame, groups: dict | None = GROUPS) -> str:
    with pytest.raises(RatingsError) as caught:
        validate_choices(choices, groups)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_valid_table_passes_with_string_ids():
    out = validate_choices(_choices(subject=[1, 1, 2, 2]), GROUPS)
    assert list(out.columns) == ["subject", "group", "left", "right", "choice", "side", "time"]
    assert out["subject"].tolist() == ["1", "1", "2", "2"]


def test_a_group_of_one_stimulus_is_refused():
    message = _message(_choices(), {"p1": ["a", "b", "c"], "p2": ["d"]})
    assert "group 'p2'" in message and "a pair needs two" in message


def test_a_pair_outside_its_group_is_refused():
    message = _message(_choices(group=["p1", "p1", "p1", "p1"]))
    assert "('d', 'e') is not in comparison group 'p1'" in message and "row(s) 3" in message


def test_an_unknown_stimulus_is_refused():
    message = _message(_choices(right=["b", "c", "a", "zz"]))
    assert "'zz'" in message and "in no comparison group" in message


def test_an_unknown_group_is_refused():
    message = _message(_choices(group=["p1", "p1", "p1", "p9"]), {**GROUPS, "p9x": ["d", "e"]})
    assert "unknown group 'p9'" in message


def test_unknown_choice_and_side_values_are_refused():
    assert "unknown value 'up'" in _message(_choices(choice=["left", "up", "none", "left"]))
    assert "column 'side'" in _message(_choices(side=["left", "middle", "left", "right"]))
    assert "column 'choice'" in _message(_choices(choice=["left", None, "none", "left"]))


def test_bad_times_missing_columns_and_self_pairs_are_refused():
    assert "response time" in _message(_choices(time=[1.0, -2.0, 1.0, 1.0]))
    assert "missing column(s) choice" in _message(_choices().drop(columns="choice"))
    assert "with itself" in _message(_choices(right=["a", "c", "a", "e"]), None)
    assert "empty" in _message(_choices().iloc[:0])


def test_win_counts_split_ties_and_follow_the_choice():
    layout = pair_layout(validate_choices(_choices(), GROUPS), GROUPS)
    by_size = {batch.size: batch for batch in layout.batches}
    wins = by_size[3].wins()[0]  # stimuli a, b, c
    expected = np.zeros((3, 3))
    expected[0, 1] = 1.0  # a over b
    expected[2, 1] = 1.0  # c over b (the right one was chosen)
    expected[2, 0] = expected[0, 2] = 0.5  # no preference between c and a
    np.testing.assert_array_equal(wins, expected)
    np.testing.assert_array_equal(by_size[2].wins()[0], [[0.0, 1.0], [0.0, 0.0]])
    weighted = by_size[3].wins(np.array([0.0, 0.0, 2.0, 0.0]))[0]
    assert weighted[2, 0] == weighted[0, 2] == 1.0 and weighted.sum() == 2.0


def test_groups_without_answers_keep_their_stimuli():
    groups = {**GROUPS, "p3": ["x", "y"]}
    layout = pair_layout(validate_choices(_choices(), groups), groups)
    batch = next(b for b in layout.batches if b.size == 2)
    assert batch.groups == ("p2", "p3")
    assert batch.wins()[1].sum() == 0.0


def test_winner_loser_tables_become_choices():
    frame = pd.DataFrame({"obs": ["o1"], "win": [3], "lose": [4], "scene": ["s"]})
    out = choices_from_winners(frame, winner="win", loser="lose", subject="obs", group="scene")
    assert out.iloc[0].to_dict() == {
        "subject": "o1",
        "group": "s",
        "left": "3",
        "right": "4",
        "choice": "left",
    }
