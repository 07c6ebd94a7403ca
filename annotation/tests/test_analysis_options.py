"""The analysis options are defined once (AnalysisOptions); every input is built from it."""

import dataclasses

import pytest
from django.core.exceptions import ValidationError

from annotation.api.views_analysis import AnalysisOptionsSerializer
from annotation.management.commands.study import Command
from annotation.research.forms import AnalysisOptionsForm
from annotation.services.analysis_options import (
    DEFAULT_OPTIONS,
    AnalysisOptions,
    analysis_options_clean,
    option_specs,
    pairwise_option_specs,
)

OPTION_NAMES = [f.name for f in dataclasses.fields(AnalysisOptions)]


def _subcommand_flags(action: str) -> set[str]:
    parser = Command().create_parser("manage.py", "study")
    subparsers = next(a for a in parser._actions if a.dest == "action")
    return {a.dest for a in subparsers.choices[action]._actions}


def test_form_serializer_and_command_flags_are_the_dataclass_fields():
    assert list(AnalysisOptionsForm().fields) == OPTION_NAMES
    assert list(AnalysisOptionsSerializer().fields) == OPTION_NAMES
    for action in ("analyse", "freeze"):
        flags = _subcommand_flags(action)
        # A pairwise study takes its own options: their flags are on the same subcommands.
        assert set(OPTION_NAMES) | set(pairwise_option_specs()) <= flags, action
        assert flags - set(OPTION_NAMES) - set(pairwise_option_specs()) <= {
            "help",
            "slug",
            "options",
            "by",
        }, action


def test_every_option_has_help_a_label_and_a_valid_default():
    for name, spec in option_specs().items():
        assert spec.help and spec.label, name
    assert analysis_options_clean(data=None) == DEFAULT_OPTIONS
    assert analysis_options_clean(data=DEFAULT_OPTIONS) == DEFAULT_OPTIONS


def test_form_defaults_and_choices_come_from_the_definition():
    form = AnalysisOptionsForm(data={**DEFAULT_OPTIONS, "screening": ["gold", "bt500"]})
    assert form.is_valid(), form.errors
    assert analysis_options_clean(data=form.options())["screening"] == ["bt500", "gold"]
    choices = [value for value, _ in form.fields["screening"].choices]
    assert choices == list(option_specs()["screening"].values)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"confidence": 2}, "Option confidence must be a number in 0.5..0.999; got 2."),
        ({"bt500_ddof": 0.5}, "Option bt500_ddof must be an integer in 0..1; got 0.5."),
        ({"gold_threshold": True}, "Option gold_threshold must be a number; got True."),
        ({"repeat_policy": "last"}, "Option repeat_policy must be one of first, mean, all"),
        ({"screening": ["kurtosis"]}, "Unknown screening method(s): kurtosis"),
        ({"screening": 3}, "Option screening must be a list of method names."),
        ({"confidense": 0.9}, "Unknown analysis option(s): confidense."),
    ],
)
def test_bad_options_get_one_line_errors_naming_the_option(data, message):
    with pytest.raises(ValidationError) as caught:
        analysis_options_clean(data=data)
    (text,) = caught.value.messages
    assert message in text and "\n" not in text


def test_cleaned_options_are_plain_json_with_the_stored_types():
    clean = analysis_options_clean(data={"screening": "correlation, bt500", "bt500_ddof": "0"})
    assert clean["screening"] == ["bt500", "correlation"]
    assert clean["bt500_ddof"] == 0 and isinstance(clean["bt500_ddof"], int)
    assert isinstance(clean["confidence"], float)


def _field_errors(data: dict) -> dict:
    with pytest.raises(ValidationError) as caught:
        analysis_options_clean(data=data)
    return caught.value.message_dict


def test_the_librarys_option_checks_become_errors_on_the_site_field():
    # The site's bounds let these through; the analysis library refuses them.
    assert "too_fast_max_fraction" in _field_errors({"too_fast_max_fraction": 1})
    assert "too_fast_seconds" in _field_errors({"too_fast_seconds": 0})
    # SUREAL's z constant 1.95996 is for 95 % intervals only.
    errors = _field_errors({"preset": "sureal", "confidence": 0.9})
    assert list(errors) == ["confidence"] and "1.95996" in errors["confidence"][0]


def test_confidence_outside_its_range_is_a_field_error_in_form_and_api():
    form = AnalysisOptionsForm(data={**DEFAULT_OPTIONS, "confidence": 1.5})
    assert not form.is_valid() and list(form.errors) == ["confidence"]
    serializer = AnalysisOptionsSerializer(data={"confidence": 1.5})
    assert not serializer.is_valid() and list(serializer.errors) == ["confidence"]
    form = AnalysisOptionsForm(data={**DEFAULT_OPTIONS, "too_fast_max_fraction": 1})
    assert not form.is_valid() and list(form.errors) == ["too_fast_max_fraction"]
    serializer = AnalysisOptionsSerializer(data={"preset": "sureal", "confidence": 0.9})
    assert not serializer.is_valid() and list(serializer.errors) == ["confidence"]


def test_switches_are_booleans_in_form_api_and_flags():
    form = AnalysisOptionsForm(data={**DEFAULT_OPTIONS, "keep_unscreened": "on"})
    assert form.is_valid(), form.errors
    assert analysis_options_clean(data=form.options())["keep_unscreened"] is True
    assert AnalysisOptionsSerializer(data={"bt500_pool_repeats": True}).is_valid()
    parser = Command().create_parser("manage.py", "study")
    args = parser.parse_args(["analyse", "s", "--bt500-pool-repeats", "--no-keep-unscreened"])
    assert (args.bt500_pool_repeats, args.keep_unscreened) == (True, False)
    with pytest.raises(ValidationError, match="must be true or false"):
        analysis_options_clean(data={"keep_unscreened": "maybe"})


@pytest.mark.django_db
def test_site_options_map_onto_the_librarys_options_over_the_preset():
    from analysis.presets import sureal_options
    from annotation.services.analysis_options import pipeline_options_build
    from annotation.tests.factories import StudyFactory

    study = StudyFactory()
    scale = (float(study.scale_min), float(study.scale_max))
    sureal = pipeline_options_build(study=study, options={"preset": "sureal"})
    expected = sureal_options()
    assert sureal.screening.bt500 == expected.screening.bt500
    assert sureal.subject_model == expected.subject_model and sureal.mos == expected.mos
    assert (sureal.repeat_policy, sureal.subject_model_input) == ("all", "unscreened")
    assert sureal.screening.gold.scale_range == scale
    chosen = pipeline_options_build(
        study=study,
        options={
            "screening": ["bt500", "response_time"],
            "bt500_denominator": "presentations",
            "bt500_pool_repeats": True,
            "true_score_se": "fisher",
            "keep_unscreened": True,
            "too_fast_seconds": 0.5,
            "too_fast_max_fraction": 0.2,
        },
    )
    screening = chosen.screening
    assert screening.methods == ("bt500", "response_time")
    assert (screening.bt500.denominator, screening.bt500.pool_repeats) == ("presentations", True)
    assert screening.if_all_rejected == "keep_unscreened"
    assert (screening.response_time.min_seconds, screening.response_time.max_fraction) == (
        0.5,
        0.2,
    )
    assert chosen.subject_model is not None and chosen.subject_model.true_score_se == "fisher"


@pytest.mark.django_db
def test_the_page_starts_from_the_studys_too_fast_threshold():
    from annotation.services.analysis_options import analysis_options_initial
    from annotation.tests.factories import StudyFactory

    assert analysis_options_initial(study=StudyFactory(too_fast_ms=2500))["too_fast_seconds"] == 2.5
    assert analysis_options_initial(study=StudyFactory(too_fast_ms=0))["too_fast_seconds"] == 1.0
