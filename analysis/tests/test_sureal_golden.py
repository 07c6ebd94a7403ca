"""Golden tests: with the ``sureal`` preset every output equals Netflix SUREAL 0.9.0.

Compared on the Netflix public and VQEG HD3 rating sets, on a partial design made by deleting
a third of the Netflix ratings, on the Netflix set with a second showing for some ratings
(pooled repeats), and on a panel where SUREAL would reject every subject. Tolerances: 1e-9
for MOS, standard errors, confidence intervals and BT.500 statistics and decisions (exact);
1e-6 for the subject model's estimates and standard errors (both solvers stop on a tolerance).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.pipeline import PipelineResult, run_pipeline
from analysis.presets import sureal_options
from analysis.tests.helpers import ratings_from_matrix

sureal = pytest.importorskip("sureal", reason="sureal (test-only cross-check) not installed")
from sureal.dataset_reader import RawDatasetReader  # noqa: E402

EXACT = 1e-9
MODEL = 1e-6


def _real(shared_data: Path, name: str) -> pd.DataFrame:
    path = shared_data / "real-ratings" / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    raw = pd.read_csv(path)
    return pd.DataFrame(
        {
            "stimulus": raw["stimulus_id"],
            "subject": raw["subject_id"],
            "dimension": "quality",
            "repeat": raw["repetition"],
            "score": raw["score"].astype(float),
        }
    )


def _partial(ratings: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    """A third of the ratings deleted at random; every stimulus keeps at least 2 ratings."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(ratings)) >= 1 / 3
    partial = ratings.loc[keep]
    assert partial.groupby("stimulus").size().min() >= 2
    assert partial["stimulus"].nunique() == ratings["stimulus"].nunique()
    return partial.reset_index(drop=True)


def _with_repeats(ratings: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """A second showing for a quarter of the ratings, one category away at random."""
    rng = np.random.default_rng(seed)
    again = ratings.loc[rng.random(len(ratings)) < 0.25].copy()
    again["repeat"] = 1
    again["score"] = np.clip(again["score"] + rng.integers(-1, 2, len(again)), 1, 5)
    return pd.concat([ratings, again], ignore_index=True)


def _sureal_dataset(ratings: pd.DataFrame) -> types.SimpleNamespace:
    """The ratings as the dataset module SUREAL's ``RawDatasetReader`` reads (one distorted
    video per stimulus, in sorted stimulus order; repeated showings as score lists)."""
    videos = []
    for k, (_, part) in enumerate(ratings.sort_values("repeat").groupby("stimulus", sort=True)):
        scores = part.groupby("subject", sort=True)["score"].agg(list)
        videos.append(
            {
                "content_id": 0,
                "asset_id": k,
                "path": f"d{k}",
                "os": {str(s): (v[0] if len(v) == 1 else v) for s, v in scores.items()},
            }
        )
    return types.SimpleNamespace(
        ref_videos=[{"content_id": 0, "content_name": "c", "path": "ref"}], dis_videos=videos
    )


def _run_sureal(model_class: type, ratings: pd.DataFrame) -> dict:
    reader = RawDatasetReader(_sureal_dataset(ratings))
    with contextlib.redirect_stdout(io.StringIO()):  # SUREAL prints every iteration
        return model_class(reader).run_modeling()


def _ours(ratings: pd.DataFrame) -> PipelineResult:
    # Reliability and distribution fits have no SUREAL counterpart; skip them for speed.
    options = dataclasses.replace(sureal_options(), reliability=None, distribution=None)
    return run_pipeline(ratings, options)


def _close(actual, expected, atol: float) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=0, atol=atol
    )


def _check_mos(table: pd.DataFrame, stimuli: list, ref: dict) -> None:
    mos = table.set_index("stimulus").reindex(stimuli)
    _close(mos["mos"], ref["quality_scores"], EXACT)
    _close(mos["se"], ref["quality_scores_std"], EXACT)
    _close(mos["ci_z"], ref["quality_scores_ci95"][0], EXACT)
    _close(mos["ci_z"], ref["quality_scores_ci95"][1], EXACT)
    _close(mos["std"], ref["quality_ambiguity"], EXACT)


def _check_all_outputs(ratings: pd.DataFrame) -> PipelineResult:
    ours = _ours(ratings)
    stimuli = sorted(ratings["stimulus"].unique())
    # MOS before screening: MosModel.
    _check_mos(ours.mos_unscreened.table, stimuli, _run_sureal(sureal.MosModel, ratings))
    # BT.500 screening and the MOS after it: BT500Model.
    ref = _run_sureal(sureal.BT500Model, ratings)
    observers = [int(o) for o in ref["observers"]]
    bt500 = ours.screening[0].subjects.set_index("subject").loc[observers]
    _close(bt500["ratio"], ref["observer_rejected_1st_stats"], EXACT)
    _close(bt500["asymmetry"], ref["observer_rejected_2nd_stats"], EXACT)
    applied = ours.screening_table.set_index("subject").loc[observers, "rejected_any"]
    assert applied.tolist() == list(ref["observer_rejected"])
    _check_mos(ours.mos.table, stimuli, ref)
    # Subject model, fitted on the unscreened ratings: P910AnnexEModel.
    ref = _run_sureal(sureal.P910AnnexEModel, ratings)
    model = ours.subject_model
    stim = model.stimuli.set_index("stimulus").loc[stimuli]
    _close(stim["true_score"], ref["quality_scores"], MODEL)
    _close(stim["se"], ref["quality_scores_std"], MODEL)
    _close(stim["ci_high"] - stim["true_score"], ref["quality_scores_ci95"][1], MODEL)
    _close(stim["true_score"] - stim["ci_low"], ref["quality_scores_ci95"][0], MODEL)
    subj = model.subjects.set_index("subject").loc[observers]
    _close(subj["bias"], ref["observer_bias"], MODEL)
    _close(subj["bias_se"], ref["observer_bias_std"], MODEL)
    _close(subj["bias_ci_high"] - subj["bias"], ref["observer_bias_ci95"][1], MODEL)
    _close(subj["inconsistency"], ref["observer_inconsistency"], MODEL)
    _close(subj["inconsistency_se"], ref["observer_inconsistency_std"], MODEL)
    low, high = ref["observer_inconsistency_ci95"]
    _close(subj["inconsistency"] - subj["inconsistency_ci_low"], low, MODEL)
    _close(subj["inconsistency_ci_high"] - subj["inconsistency"], high, MODEL)
    return ours


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", ["nflx_public_raw", "vqeghd3_raw"])
def test_full_designs_equal_sureal(shared_data, name):
    ours = _check_all_outputs(_real(shared_data, name))
    assert ours.subject_model.stimuli["se"].nunique() > 1  # P.910: per-stimulus spread


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_partial_design_equals_sureal(shared_data):
    ratings = _partial(_real(shared_data, "nflx_public_raw"))
    ours = _check_all_outputs(ratings)
    # The "presentations" denominator is every stimulus, not what each subject rated.
    assert (ours.screening[0].subjects["denominator"] == ratings["stimulus"].nunique()).all()
    assert (ours.screening[0].subjects["n_ratings"] < ratings["stimulus"].nunique()).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pooled_repeats_equal_sureal(shared_data):
    ratings = _with_repeats(_real(shared_data, "nflx_public_raw"))
    ours = _check_all_outputs(ratings)
    assert (ours.screening[0].stimuli["repeat"] == "*").all()
    assert (ours.screening[0].subjects["denominator"] == 2 * ratings["stimulus"].nunique()).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_subject_rejected_is_kept_unscreened_as_sureal():
    # Everyone agrees on most stimuli: SUREAL's literal rule counts each such rating as both
    # a P and a Q, so every subject is an "outlier" and SUREAL keeps them all.
    rng = np.random.default_rng(0)
    matrix = np.repeat(rng.integers(1, 6, size=(20, 1)), 8, axis=1).astype(float)
    matrix[:4] = rng.integers(1, 6, size=(4, 8))
    ratings = ratings_from_matrix(matrix)
    ours = _check_all_outputs(ratings)
    assert ours.screening[0].subjects["rejected"].all()
    assert not ours.screening_table["rejected_any"].any()
    assert [w.code for w in ours.warnings] == ["all_subjects_rejected_kept_unscreened"]
    assert ours.n_used_ratings == len(ratings)
