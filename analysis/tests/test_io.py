"""Input contract: validation, normalisation of column names, and every bad-input case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import RatingsError
from analysis.io import (
    ColumnMap,
    attach_stimuli,
    collapse_repeats,
    generator_from_name,
    load_mos_table,
    load_ratings,
)
from analysis.tests.helpers import ratings_from_matrix, shared_file


def _frame(**overrides) -> pd.DataFrame:
    base = {
        "stimulus": ["a", "a", "b", "b"],
        "subject": ["s1", "s2", "s1", "s2"],
        "dimension": ["quality"] * 4,
        "score": [1.0, 2.0, 3.0, 4.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_canonical_frame_is_normalised():
    out = load_ratings(_frame())
    assert list(out.columns) == ["stimulus", "subject", "dimension", "repeat", "score"]
    assert out["score"].dtype == float
    assert (out["repeat"] == 0).all()


def test_real_ratings_layout_is_recognised_without_a_map():
    path = shared_file("real-ratings", "nflx_public_raw.csv")
    out = load_ratings(path)
    assert len(out) == 2054
    assert set(out["dimension"]) == {"score"}
    assert out["stimulus"].nunique() == 79 and out["subject"].nunique() == 26
    explicit = load_ratings(path, ColumnMap.real_ratings())
    pd.testing.assert_frame_equal(out, explicit)


def test_column_map_renames_and_default_dimension():
    raw = pd.DataFrame({"img": [1, 2], "who": ["x", "x"], "rating": ["3", "4.5"]})
    out = load_ratings(
        raw, ColumnMap(stimulus="img", subject="who", score="rating", default_dimension="overall")
    )
    assert out["score"].tolist() == [3.0, 4.5]
    assert out["dimension"].tolist() == ["overall", "overall"]


def test_column_map_parse_rejects_unknown_field():
    assert ColumnMap.parse("stimulus=stimulus_id, repeat=repetition").repeat == "repetition"
    with pytest.raises(RatingsError, match="bad column mapping"):
        ColumnMap.parse("stimulus_id")
    with pytest.raises(RatingsError, match="bad column mapping"):
        ColumnMap.parse("colour=red")


def test_missing_column_is_named():
    with pytest.raises(RatingsError, match=r"missing required column\(s\): score"):
        load_ratings(_frame().drop(columns="score"))


def test_empty_table():
    with pytest.raises(RatingsError, match="empty"):
        load_ratings(_frame().iloc[0:0])


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(RatingsError, match="empty"):
        load_ratings(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_ratings(tmp_path / "nope.csv")


def test_non_numeric_scores_name_first_bad_rows():
    frame = _frame(score=["1", "two", "3", "four"])
    with pytest.raises(RatingsError) as err:
        load_ratings(frame)
    message = str(err.value)
    assert "'score'" in message and "2 non-numeric" in message
    assert "row 1: 'two'" in message and "row 3: 'four'" in message


def test_nan_scores_are_an_error_naming_rows():
    with pytest.raises(RatingsError, match=r"1 missing \(NaN\) score\(s\), first at row\(s\) 2"):
        load_ratings(_frame(score=[1.0, 2.0, np.nan, 4.0]))


def test_infinite_scores():
    with pytest.raises(RatingsError, match="infinite"):
        load_ratings(_frame(score=[1.0, np.inf, 3.0, 4.0]))


def test_missing_ids():
    with pytest.raises(RatingsError, match="'subject' has 1 missing"):
        load_ratings(_frame(subject=["s1", None, "s1", "s2"]))


def test_bad_repeat_values():
    with pytest.raises(RatingsError, match="repeat"):
        load_ratings(_frame(repeat=[0, 0, -1, 0]))
    with pytest.raises(RatingsError, match="repeat"):
        load_ratings(_frame(repeat=[0, 0.5, 0, 0]))


def test_duplicate_ratings_are_rejected_with_the_key():
    frame = _frame(stimulus=["a", "a", "b", "a"], subject=["s1", "s2", "s1", "s1"])
    with pytest.raises(RatingsError) as err:
        load_ratings(frame)
    assert "2 rows duplicate" in str(err.value)
    assert "stimulus='a', subject='s1'" in str(err.value)


def test_repeated_showing_with_repeat_index_is_fine():
    frame = _frame(
        stimulus=["a", "a", "b", "a"], subject=["s1", "s2", "s1", "s1"], repeat=[0, 0, 0, 1]
    )
    assert len(load_ratings(frame)) == 4


def test_gold_columns():
    ok = _frame(is_gold=["true", "0", "no", "yes"], gold_score=[1.0, None, None, 4.0])
    out = load_ratings(ok)
    assert out["is_gold"].tolist() == [True, False, False, True]
    with pytest.raises(RatingsError, match="gold_score"):
        load_ratings(_frame(is_gold=[True, False, False, False], gold_score=[None] * 4))
    with pytest.raises(RatingsError, match="no 'gold_score' column"):
        load_ratings(_frame(is_gold=[True, False, False, False]))
    with pytest.raises(RatingsError, match="is_gold"):
        load_ratings(_frame(is_gold=["maybe", "0", "0", "0"], gold_score=[1.0] * 4))


def test_mixed_id_types_become_strings():
    out = load_ratings(
        _frame(
            stimulus=pd.Series([1, "1b", 2.5, "x"], dtype=object), subject=["s1", "s1", "s1", "s1"]
        )
    )
    assert out["stimulus"].tolist() == ["1", "1b", "2.5", "x"]


def test_categorical_output_keeps_values():
    out = load_ratings(_frame(), categorical=True)
    assert isinstance(out["subject"].dtype, pd.CategoricalDtype)
    assert out["subject"].astype(str).tolist() == ["s1", "s2", "s1", "s2"]


def test_collapse_repeats_policies():
    frame = load_ratings(
        _frame(
            stimulus=["a", "a", "b", "a"],
            subject=["s1", "s2", "s1", "s1"],
            repeat=[0, 0, 0, 1],
            score=[1.0, 2.0, 3.0, 5.0],
        )
    )
    first = collapse_repeats(frame, "first")
    assert len(first) == 3
    assert first.loc[(first.stimulus == "a") & (first.subject == "s1"), "score"].item() == 1.0
    mean = collapse_repeats(frame, "mean")
    assert mean.loc[(mean.stimulus == "a") & (mean.subject == "s1"), "score"].item() == 3.0
    assert len(collapse_repeats(frame, "all")) == 4


def test_attach_stimuli_table():
    ratings = load_ratings(ratings_from_matrix([[1, 2], [3, 4]]))
    stimuli = pd.DataFrame({"stimulus": [0, 1], "generator": ["MJ", "SD"]})
    out = attach_stimuli(ratings, stimuli)
    assert out.groupby("stimulus")["generator"].first().tolist() == ["MJ", "SD"]
    with pytest.raises(RatingsError, match="more than once"):
        attach_stimuli(ratings, pd.concat([stimuli, stimuli]))


@pytest.mark.parametrize(
    ("name", "generator"),
    [
        ("Generated_image/All/MJ_000_00.jpg", "MJ"),
        ("SD_199_11.jpg", "SD"),
        ("LCM_SDXL_0042.png", "LCM_SDXL"),
        ("SD1.5_0002.png", "SD1.5"),
        ("plain.png", "plain"),
    ],
)
def test_generator_from_name(name, generator):
    assert generator_from_name(name) == generator


def test_load_mos_table_header_less_aigiqa():
    path = shared_file("aigiqa20k-mos", "info_train.csv")
    table = load_mos_table(path, ["mos"], names=["name", "prompt", "mos"], generator_from="name")
    assert len(table) == 14000
    assert table["generator"].nunique() == 15
    with pytest.raises(RatingsError, match="header-less"):
        load_mos_table(path, ["mos"])
