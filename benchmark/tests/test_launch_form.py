"""The launch form's TrainConfig fields are the config's own: default, bounds, choices, help."""

import pytest
from django import forms

from benchmark.forms import (
    CONFIG_FIELDS,
    ERROR_FIELDS,
    MULTIPLE,
    SWEEP_INITIAL,
    LaunchForm,
)
from benchmark.training.catalog import MODEL_KINDS
from benchmark.training.config import Bounds, ConfigError, TrainConfig, settings_of

SPECS = settings_of(TrainConfig)


def _outside(bounds: Bounds) -> list[float]:
    """A value just past each end of ``bounds`` (the end itself where it is open)."""
    values = []
    if bounds.low is not None:
        values.append(bounds.low if bounds.low_open else bounds.low - 1)
    if bounds.high is not None:
        values.append(bounds.high if bounds.high_open else bounds.high + 1)
    return values


@pytest.mark.parametrize("name", list(CONFIG_FIELDS))
def test_each_config_field_of_the_form_has_the_configs_default(name):
    spec = SPECS[CONFIG_FIELDS[name]]
    field = LaunchForm.base_fields[name]
    default = SWEEP_INITIAL.get(name, spec.default)
    if name in MULTIPLE:
        assert field.initial == [default]
    elif isinstance(spec.default, list):
        assert field.initial == ",".join(default)
    else:
        assert field.initial == default
    assert field.required == (spec.default is not None and spec.hint not in (bool, list[str]))


def test_the_one_default_that_differs_is_the_sweeps_repeats():
    assert SWEEP_INITIAL == {"repeats": 3}
    assert SPECS["repeats"].default == 1


@pytest.mark.parametrize("name", list(CONFIG_FIELDS))
def test_each_config_field_of_the_form_has_the_configs_bounds_and_messages(name):
    spec = SPECS[CONFIG_FIELDS[name]]
    field = LaunchForm.base_fields[name]
    if spec.bounds is None:
        assert "min" not in field.widget.attrs and "max" not in field.widget.attrs
        return
    assert field.widget.attrs.get("min") == spec.bounds.low
    assert field.widget.attrs.get("max") == spec.bounds.high
    for value in _outside(spec.bounds):
        with pytest.raises(forms.ValidationError) as refused:
            field.clean(str(value))
        assert refused.value.messages == [spec.problem(field.to_python(str(value)))]


@pytest.mark.parametrize("name", list(CONFIG_FIELDS))
def test_each_config_field_of_the_form_offers_only_the_configs_choices(name):
    spec = SPECS[CONFIG_FIELDS[name]]
    field = LaunchForm.base_fields[name]
    if spec.choices is None:
        assert not hasattr(field, "choices")
        return
    offered = [value for value, _ in field.choices]
    assert offered and set(offered) <= set(spec.choices)
    if spec.help:
        assert field.help_text.lower().startswith(spec.help[:20].lower())


def test_every_model_kind_is_offered_and_fixed_splits_are_not():
    fields = LaunchForm.base_fields
    assert sorted(value for value, _ in fields["models"].choices) == sorted(MODEL_KINDS)
    protocols = [value for value, _ in fields["split_protocol"].choices]
    assert protocols == ["random", "kfold", "cross_generator", "interleaved"]


def test_batch_size_one_is_refused_by_the_form_as_by_the_config():
    field = LaunchForm.base_fields["batch_size"]
    assert field.widget.attrs["min"] == 2
    with pytest.raises(ConfigError) as by_config:
        TrainConfig(manifest="m.csv", output_dir="out", batch_size=1).validate(check_files=False)
    with pytest.raises(forms.ValidationError) as by_form:
        field.clean("1")
    assert by_form.value.messages == [by_config.value.message] == ["must be >= 2; got 1"]


def test_every_config_error_is_shown_on_the_form_field_that_sets_it():
    for config_name, form_name in ERROR_FIELDS.items():
        assert config_name in SPECS or config_name in LaunchForm.base_fields
        assert form_name in LaunchForm.base_fields
