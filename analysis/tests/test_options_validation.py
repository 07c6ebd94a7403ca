"""Options refuse out-of-range values where they enter, with an error naming the option."""

from __future__ import annotations

import dataclasses

import pytest

from analysis.distribution import DistributionOptions
from analysis.errors import OptionsError
from analysis.mos import MOSOptions, compute_mos
from analysis.normalisation import NormalisationOptions
from analysis.pipeline import PipelineOptions, ScreeningOptions
from analysis.presets import PRESETS, preset_options, sureal_options
from analysis.reliability import ReliabilityOptions
from analysis.screening import (
    BT500Options,
    CorrelationOptions,
    GoldOptions,
    RepeatConsistencyOptions,
)
from analysis.subject_model import SubjectModelOptions
from analysis.tests.helpers import ratings_from_matrix

BAD = [
    (MOSOptions, {"confidence": 1.5}, "mos.confidence"),
    (MOSOptions, {"confidence": 0.0}, "mos.confidence"),
    (MOSOptions, {"confidence": float("nan")}, "mos.confidence"),
    (MOSOptions, {"ddof": 5}, "mos.ddof"),
    (MOSOptions, {"z_constant": "rounded"}, "mos.z_constant"),
    (MOSOptions, {"confidence": 0.9, "z_constant": "sureal"}, "mos.z_constant"),
    (BT500Options, {"ddof": 5}, "bt500.ddof"),
    (BT500Options, {"ddof": True}, "bt500.ddof"),
    (BT500Options, {"zero_variance": "ignore"}, "bt500.zero_variance"),
    (BT500Options, {"min_ratings": 0}, "bt500.min_ratings"),
    (BT500Options, {"ratio_threshold": 1.2}, "bt500.ratio_threshold"),
    (BT500Options, {"asymmetry_threshold": -0.1}, "bt500.asymmetry_threshold"),
    (BT500Options, {"denominator": "all"}, "bt500.denominator"),
    (SubjectModelOptions, {"confidence": 1.0}, "subject_model.confidence"),
    (SubjectModelOptions, {"max_iterations": 0}, "subject_model.max_iterations"),
    (SubjectModelOptions, {"tolerance": 0.0}, "subject_model.tolerance"),
    (SubjectModelOptions, {"min_ratings_per_subject": 0}, "subject_model.min_ratings_per"),
    (SubjectModelOptions, {"inconsistency_floor": 0.0}, "subject_model.inconsistency_floor"),
    (SubjectModelOptions, {"variance_epsilon": -1.0}, "subject_model.variance_epsilon"),
    (SubjectModelOptions, {"true_score_se": "wald"}, "subject_model.true_score_se"),
    (CorrelationOptions, {"threshold": 2.0}, "correlation.threshold"),
    (CorrelationOptions, {"coefficient": "kendall"}, "correlation.coefficient"),
    (CorrelationOptions, {"min_stimuli": 1}, "correlation.min_stimuli"),
    (RepeatConsistencyOptions, {"threshold": -1.0}, "repeat_consistency.threshold"),
    (RepeatConsistencyOptions, {"scale_range": (5.0, 1.0)}, "repeat_consistency.scale_range"),
    (RepeatConsistencyOptions, {"min_pairs": 0}, "repeat_consistency.min_pairs"),
    (GoldOptions, {"min_trials": 0}, "gold.min_trials"),
    (NormalisationOptions, {"ddof": 2}, "normalisation.ddof"),
    (NormalisationOptions, {"z_span": 0.0}, "normalisation.z_span"),
    (NormalisationOptions, {"target_range": (100.0, 0.0)}, "normalisation.target_range"),
    (ReliabilityOptions, {"confidence": 95}, "reliability.confidence"),
    (ReliabilityOptions, {"n_splits": 0}, "reliability.n_splits"),
    (DistributionOptions, {"shapiro_max_n": 2}, "distribution.shapiro_max_n"),
    (ScreeningOptions, {"methods": ("bt500", "kurtosis")}, "screening.methods"),
    (ScreeningOptions, {"if_all_rejected": "ignore"}, "screening.if_all_rejected"),
    (PipelineOptions, {"repeat_policy": "last"}, "repeat_policy"),
    (PipelineOptions, {"subject_model_input": "raw"}, "subject_model_input"),
]


@pytest.mark.parametrize(("options_class", "values", "option"), BAD)
def test_out_of_range_option_is_refused_by_name(options_class, values, option):
    with pytest.raises(OptionsError, match=f"^option {option}") as raised:
        options_class(**values)
    assert raised.value.option.startswith(option)
    assert "\n" not in str(raised.value)


def test_edges_of_the_ranges_are_accepted():
    MOSOptions(confidence=0.999, ddof=0)
    BT500Options(ratio_threshold=0.0, asymmetry_threshold=1.0, min_ratings=1)
    SubjectModelOptions(inconsistency_floor=0.0, variance_epsilon=1e-8)
    CorrelationOptions(threshold=-1.0, min_stimuli=2)


def test_mos_confidence_changes_the_interval_not_into_nan():
    table = compute_mos(ratings_from_matrix([[1, 2, 3, 4]]), MOSOptions(confidence=0.5)).table
    assert 0 < table.loc[0, "ci_z"] < table.loc[0, "ci_t"]


def test_presets_by_name():
    assert preset_options("standard") == PipelineOptions()
    assert preset_options("sureal") == sureal_options()
    assert set(PRESETS) == {"standard", "sureal"}
    with pytest.raises(OptionsError, match="option preset: must be one of standard, sureal"):
        preset_options("netflix")


def test_sureal_preset_records_every_choice_in_its_options():
    options = dataclasses.asdict(sureal_options())
    assert options["repeat_policy"] == "all"
    assert options["subject_model_input"] == "unscreened"
    assert options["screening"]["if_all_rejected"] == "keep_unscreened"
    sureal_bt500 = {
        "ddof": 0,
        "zero_variance": "literal",
        "min_ratings": 1,
        "denominator": "presentations",
        "pool_repeats": True,
    }
    assert {key: options["screening"]["bt500"][key] for key in sureal_bt500} == sureal_bt500
    assert options["mos"]["z_constant"] == options["subject_model"]["z_constant"] == "sureal"
