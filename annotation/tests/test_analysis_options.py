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
        assert set(OPTION_NAMES) <= flags, action
        assert flags - set(OPTION_NAMES) <= {"help", "slug", "options", "by"}, action


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
