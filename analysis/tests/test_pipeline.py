"""run_pipeline end to end: screening -> MOS -> model -> reliability -> fits, and its summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.errors import RatingsError
from analysis.io import load_ratings
from analysis.mos import compute_mos
from analysis.normalisation import NormalisationOptions
from analysis.pipeline import STEPS, PipelineOptions, ScreeningOptions, run_pipeline
from analysis.reliability import ReliabilityOptions
from analysis.screening import RepeatConsistencyOptions
from analysis.subject_model import fit_subject_model
from analysis.synthetic import SimulationOptions, simulate_study
from analysis.tests.helpers import ratings_from_matrix, real_ratings_raw

FAST = ReliabilityOptions(n_splits=10)


def _careless_study():
    return simulate_study(
        SimulationOptions(
            n_stimuli=150,
            n_subjects=24,
            n_careless=2,
            seed=0,
            n_generators=3,
            dimensions=("quality", "authenticity"),
            inconsistency_range=(0.2, 0.5),
        )
    )


def test_careless_subjects_removed_and_mos_improves():
    study = _careless_study()
    calls = []
    result = run_pipeline(
        study.ratings,
        PipelineOptions(
            screening=ScreeningOptions(methods=("bt500", "correlation")), reliability=FAST
        ),
        progress=lambda phase, done, total: calls.append((phase, done, total)),
    )
    careless = set(study.subjects.loc[study.subjects.careless, "subject"])
    rejected = {r["subject"] for r in result.to_summary()["rejected"]}
    assert careless <= rejected
    truth = study.true_scores.set_index(["stimulus", "dimension"])["true_score"]

    def error(table: pd.DataFrame) -> float:
        t = table.set_index(["stimulus", "dimension"])["mos"]
        return float(np.sqrt(np.mean((t - truth.loc[t.index]) ** 2)))

    assert error(result.mos.table) < 0.75 * error(result.mos_unscreened.table)
    assert [c[0] for c in calls] == [*STEPS, "done"]
    assert calls[-1][1] == calls[-1][2] == len(STEPS)
    done_counts = [c[1] for c in calls]
    assert done_counts == sorted(done_counts) and {c[2] for c in calls} == {len(STEPS)}
    assert set(result.mos.table["generator"]) == {"G0", "G1", "G2"}
    assert set(result.distribution["group"]) == {"all", "G0", "G1", "G2"}


def test_summary_is_strict_json_and_traceable():
    result = run_pipeline(_careless_study().ratings, PipelineOptions(reliability=FAST))
    summary = result.to_summary()
    text = json.dumps(summary, allow_nan=False)
    assert "bt500" in text and "p913_subject_model" in text
    for key in ("mos", "subject_model", "reliability", "distribution"):
        assert summary[key]["version"] and summary[key]["method"]
    assert summary["options"]["screening"]["bt500"]["ddof"] == 1
    assert set(result.tables()) >= {"mos", "mos_unscreened", "screening", "subjects", "true_scores"}
    assert result.timings["total"] > 0


def test_netflix_pipeline_defaults_match_plain_mos():
    raw = real_ratings_raw("nflx_public_raw")
    result = run_pipeline(raw, PipelineOptions(reliability=FAST))
    plain = compute_mos(load_ratings(raw)).table
    pd.testing.assert_frame_equal(result.mos_unscreened.table, plain)
    assert result.screening[0].rejected_subjects == []  # BT.500 defaults keep everyone
    assert result.n_used_ratings == 2054
    direct = fit_subject_model(load_ratings(raw))
    np.testing.assert_allclose(
        result.subject_model.stimuli["true_score"], direct.stimuli["true_score"]
    )


def test_repeats_gold_and_normalisation():
    study = simulate_study(
        SimulationOptions(
            n_stimuli=40, n_subjects=8, n_repeats=8, seed=1, inconsistency_range=(0.1, 0.3)
        )
    )
    data = study.ratings.copy()
    sloppy = (data.subject == "s007") & (data.repeat == 1)
    data.loc[sloppy, "score"] += np.where(np.arange(sloppy.sum()) % 2, 2.5, -2.5)
    gold = pd.DataFrame(
        {
            "stimulus": 999,
            "subject": [f"s{j:03d}" for j in range(8)],
            "dimension": "quality",
            "repeat": 0,
            "score": 4.0,
        }
    )
    gold.loc[gold.subject == "s003", "score"] = 1.0
    data = pd.concat([data.assign(is_gold=False), gold.assign(is_gold=True)], ignore_index=True)
    data["gold_score"] = np.where(data["is_gold"], 4.0, np.nan)
    options = PipelineOptions(
        screening=ScreeningOptions(
            methods=("repeat_consistency", "gold"),
            repeat_consistency=RepeatConsistencyOptions(threshold=1.0, relative=False),
        ),
        normalisation=NormalisationOptions(),
        reliability=FAST,
    )
    result = run_pipeline(data, options)
    rejected = {(r["subject"]) for r in result.to_summary()["rejected"]}
    assert rejected == {"s007", "s003"}
    mos = result.mos.table
    assert 999 not in set(mos["stimulus"])  # gold stimuli never enter MOS
    assert mos["n"].max() == 6  # first showing only, two subjects removed
    assert mos["mos"].between(-20, 120).all()  # 0..100 scale after normalisation
    assert result.normalisation is not None


def test_everything_gold_is_an_error():
    data = ratings_from_matrix([[1, 2], [3, 4]]).assign(is_gold=True, gold_score=3.0)
    with pytest.raises(RatingsError, match="gold"):
        run_pipeline(data)


def test_bad_input_surfaces_as_ratings_error():
    with pytest.raises(RatingsError, match="missing required"):
        run_pipeline(pd.DataFrame({"stimulus": [1], "subject": [1]}))


def test_small_panel_degeneracy_is_noted():
    rng = np.random.default_rng(0)
    m = rng.uniform(1, 5, 10)[:, None] + rng.normal(0, 0.5, (10, 5))
    result = run_pipeline(ratings_from_matrix(m), PipelineOptions(reliability=FAST))
    assert result.subject_model.fit.loc[0, "n_at_floor"] >= 1
    assert any("floor" in note for note in result.notes)


def test_optional_steps_can_be_switched_off():
    result = run_pipeline(
        ratings_from_matrix([[1, 2, 3], [2, 3, 4], [4, 4, 5]]),
        PipelineOptions(
            screening=ScreeningOptions(methods=()),
            subject_model=None,
            reliability=None,
            distribution=None,
        ),
    )
    assert (
        result.subject_model is None and result.reliability is None and result.distribution is None
    )
    assert json.dumps(result.to_summary(), allow_nan=False)


def test_subject_with_one_rating_end_to_end():
    """Documented outcome: kept by BT.500 unless outlying (then (P+Q)/N = 1 but |P-Q|/(P+Q) = 1,
    so still kept), undefined for correlation screening, excluded from the subject model and
    dropped by z-scoring; its rating still counts in the un-normalised MOS."""
    rng = np.random.default_rng(0)
    m = np.linspace(1, 5, 12)[:, None] + rng.normal(0, 0.3, (12, 25))
    data = ratings_from_matrix(m)
    data = pd.concat(
        [
            data,
            pd.DataFrame(
                [{"stimulus": 0, "subject": 99, "dimension": "q", "repeat": 0, "score": 5.0}]
            ),
        ],
        ignore_index=True,
    )
    result = run_pipeline(
        data,
        PipelineOptions(
            screening=ScreeningOptions(methods=("bt500", "correlation")), reliability=FAST
        ),
    )
    bt = result.screening[0].subjects.set_index("subject").loc[99]
    corr = result.screening[1].subjects.set_index("subject").loc[99]
    assert bt["denominator"] == 1 and not bt["rejected"]
    assert np.isnan(corr["pearson"]) and not corr["rejected"]
    assert result.subject_model.fit.loc[0, "excluded_subjects"] == [99]
    assert result.mos_unscreened.table.set_index("stimulus").loc[0, "n"] == 26
    assert 99 in set(result.ratings_used["subject"])
    normalised = run_pipeline(
        data, PipelineOptions(normalisation=NormalisationOptions(), reliability=FAST)
    )
    assert 99 in set(normalised.normalisation.dropped["subject"])
