"""The too-fast (response time) screening rule, by hand and through the pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.pipeline import PipelineOptions, ScreeningOptions, run_pipeline
from analysis.screening import (
    ALL_DIMENSIONS,
    ResponseTimeOptions,
    apply_rejections,
    screen_response_time,
)


def _ratings(times: dict[str, list[float]], dimensions=("quality", "fidelity")) -> pd.DataFrame:
    """One row per (subject, stimulus, dimension); a trial's time is shared by its dimensions."""
    rows = []
    for subject, per_trial in times.items():
        for stimulus, seconds in enumerate(per_trial):
            for offset, dimension in enumerate(dimensions):
                rows.append(
                    {
                        "subject": subject,
                        "stimulus": stimulus,
                        "dimension": dimension,
                        "score": float(1 + (stimulus + offset) % 5),
                        "response_time": seconds,
                    }
                )
    return pd.DataFrame(rows)


def test_a_subject_with_many_too_fast_answers_is_rejected_from_every_dimension():
    data = _ratings(
        {
            "careful": [2.5, 3.0, 1.8, 4.1, 2.2, 2.9, 3.3, 1.5, 2.0, 2.6],
            "hasty": [0.3, 0.4, 2.0, 0.2, 0.5, 2.2, 0.3, 0.4, 2.1, 0.6],
            "untimed": [np.nan] * 10,
        }
    )
    result = screen_response_time(data, ResponseTimeOptions(min_seconds=1.0, max_fraction=0.1))
    table = result.subjects.set_index("subject")
    assert set(table["dimension"]) == {ALL_DIMENSIONS}
    assert table.loc["hasty", "n_too_fast"] == 14  # 7 trials x 2 dimensions
    assert table.loc["hasty", "n_timed"] == 20
    assert table.loc["hasty", "fraction_too_fast"] == pytest.approx(0.7)
    assert result.rejected_subjects == ["hasty"]
    assert "not judged" in table.loc["untimed", "reason"]
    assert np.isnan(table.loc["untimed", "fraction_too_fast"])
    kept = apply_rejections(data, [result])
    assert "hasty" not in set(kept["subject"])
    assert len(kept) == 40


def test_the_share_at_the_threshold_is_kept_and_one_more_is_rejected():
    at_limit = [0.5] + [2.0] * 9  # 10 % too fast
    over = [0.5, 0.5] + [2.0] * 8  # 20 %
    data = _ratings({"at": at_limit, "over": over}, dimensions=("score",))
    result = screen_response_time(data, ResponseTimeOptions(min_seconds=1.0, max_fraction=0.1))
    assert result.rejected_subjects == ["over"]
    # Exactly min_seconds is not too fast: the rule is "quicker than".
    edge = _ratings({"edge": [1.0] * 5}, dimensions=("score",))
    assert screen_response_time(edge).rejected_subjects == []


def test_min_trials_leaves_subjects_with_few_timed_answers_unjudged():
    data = _ratings({"few": [0.1, 0.1]}, dimensions=("score",))
    result = screen_response_time(data, ResponseTimeOptions(min_trials=5))
    assert result.rejected_subjects == []
    assert "not judged" in result.subjects.loc[0, "reason"]


def test_a_table_without_response_times_judges_nobody_and_says_so():
    data = _ratings({"a": [1.0, 2.0]}).drop(columns="response_time")
    result = screen_response_time(data)
    assert result.rejected_subjects == []
    assert result.notes == ("no response times: nobody judged",)


@pytest.mark.parametrize(
    "options",
    [{"min_seconds": 0}, {"max_fraction": 1.0}, {"max_fraction": -0.1}, {"min_trials": 0}],
)
def test_options_outside_their_range_are_refused(options):
    with pytest.raises(ValueError):
        ResponseTimeOptions(**options)


def test_the_pipeline_runs_the_rule_only_when_it_is_chosen():
    rng = np.random.default_rng(7)
    times = {f"s{i}": list(rng.uniform(1.5, 6.0, 12)) for i in range(6)}
    times["hasty"] = [0.2] * 12
    data = _ratings(times)
    light = dict(subject_model=None, reliability=None, distribution=None)
    default = run_pipeline(data, PipelineOptions(**light))
    assert "response_time" not in default.options.screening.methods
    assert all(r.method != "response_time" for r in default.screening)
    assert "hasty" in set(default.ratings_used["subject"].astype(str))
    chosen = run_pipeline(
        data,
        PipelineOptions(
            screening=ScreeningOptions(
                methods=("response_time",), response_time=ResponseTimeOptions(max_fraction=0.2)
            ),
            **light,
        ),
    )
    (result,) = chosen.screening
    assert result.method == "response_time"
    assert result.rejected_subjects == ["hasty"]
    assert "hasty" not in set(chosen.ratings_used["subject"].astype(str))
    assert chosen.n_used_ratings == len(data) - 24
    assert "screening_response_time" in chosen.tables()
