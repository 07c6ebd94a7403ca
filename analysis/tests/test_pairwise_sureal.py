"""The SUREAL-compatible mode equals SUREAL 0.9.0's paired-comparison models (<= 1e-6 in the
scores and their standard errors) on the Lukas SPIE 2014 study and on a simulated study."""

from __future__ import annotations

import contextlib
import io
import types

import numpy as np
import pandas as pd
import pytest

from analysis.pairwise import choices_from_winners, validate_choices
from analysis.pairwise.scale import ScalingOptions, scale_choices
from analysis.pairwise.sureal_compat import sureal_bradley_terry, sureal_thurstone
from analysis.pairwise.synthetic import full_design_study
from analysis.pairwise.thurstone import JOD_SIGMA, ThurstoneOptions
from analysis.tests.helpers import shared_file

pytest.importorskip("sureal", reason="sureal (test-only cross-check) not installed")
from sureal.dataset_reader import PairedCompDatasetReader  # noqa: E402
from sureal.pc_subjective_model import (  # noqa: E402
    BradleyTerryMlePairedCompSubjectiveModel,
    ThurstoneMlePairedCompSubjectiveModel,
)

TOLERANCE = 1e-6


def _sureal_dataset(choices: pd.DataFrame, stimuli: list[str]) -> types.SimpleNamespace:
    """The choices as a SUREAL paired-comparison dataset (asset_id = position in ``stimuli``)."""
    table = validate_choices(choices)
    asset = {name: position for position, name in enumerate(stimuli)}
    value = table["choice"].map({"left": 1.0, "right": 0.0, "none": 0.5})
    scores: list[dict] = [{} for _ in stimuli]
    for subject, left, right, won in zip(
        table["subject"], table["left"], table["right"], value, strict=True
    ):
        scores[asset[left]][(subject, asset[right])] = won
    return types.SimpleNamespace(
        dataset_name="pairwise",
        yuv_fmt="notyuv",
        quality_width=1,
        quality_height=1,
        ref_score=0,
        ref_videos=[{"content_id": 0, "content_name": "all", "path": "ref"}],
        dis_videos=[
            {"asset_id": k, "content_id": 0, "os": scores[k], "path": name}
            for k, name in enumerate(stimuli)
        ],
    )


def _sureal_results(choices: pd.DataFrame, stimuli: list[str]) -> tuple[dict, dict]:
    reader = PairedCompDatasetReader(_sureal_dataset(choices, stimuli))
    with contextlib.redirect_stdout(io.StringIO()):
        thurstone = ThurstoneMlePairedCompSubjectiveModel(reader).run_modeling()
        bradley_terry = BradleyTerryMlePairedCompSubjectiveModel(reader).run_modeling(display=False)
    return thurstone, bradley_terry


def _assert_matches(choices: pd.DataFrame, stimuli: list[str]) -> None:
    thurstone, bradley_terry = _sureal_results(choices, stimuli)
    ours = sureal_thurstone(choices, stimuli)
    assert ours["stimulus"].tolist() == stimuli
    np.testing.assert_allclose(ours["score"], thurstone["quality_scores"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours["se"], thurstone["quality_scores_std"], atol=TOLERANCE, rtol=0)
    ours = sureal_bradley_terry(choices, stimuli)
    np.testing.assert_allclose(
        ours["score"], bradley_terry["quality_scores"], atol=TOLERANCE, rtol=0
    )
    np.testing.assert_allclose(
        ours["se"], bradley_terry["quality_scores_std"], atol=TOLERANCE, rtol=0
    )


def _lukas() -> pd.DataFrame:
    raw = pd.read_csv(shared_file("real-pairwise", "lukas_spie14_pc.csv"))
    return choices_from_winners(
        raw, winner="winner_id", loser="loser_id", subject="subject_id", group="content"
    )


def test_matches_sureal_on_the_lukas_spie14_study():
    choices = _lukas()
    stimuli = [str(k) for k in range(40)]  # SUREAL's asset_id order
    _assert_matches(choices, stimuli)


def _simulated_with_ties() -> tuple[pd.DataFrame, list[str]]:
    study = full_design_study(n_groups=1, group_size=7, n_subjects=12, spread=0.8, seed=11)
    choices = study.choices.copy()
    choices.loc[choices.index[::9], "choice"] = "none"
    return choices, study.truth["stimulus"].tolist()


def test_matches_sureal_on_a_simulated_study_with_ties():
    _assert_matches(*_simulated_with_ties())


def test_own_maximum_likelihood_thurstone_agrees_with_sureal_in_jod():
    """Without the prior the library's Thurstone is the exact ML scale; divided by 1.4826 it
    is SUREAL's model, which stops (SLSQP, ftol 1e-8) about 1e-6 from it here."""
    choices, stimuli = _simulated_with_ties()
    reference = sureal_thurstone(choices, stimuli)["score"].to_numpy()
    options = ScalingOptions(thurstone=ThurstoneOptions(prior="none"))
    ours = scale_choices(choices, None, options).set_index("stimulus").loc[stimuli, "score"]
    np.testing.assert_allclose(ours / JOD_SIGMA, reference - reference.mean(), atol=1e-5)
