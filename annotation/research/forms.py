from django import forms
from django.core.exceptions import ValidationError

from annotation.imports.external import LAYOUTS
from annotation.models import Stimulus, Study
from annotation.services.analysis_options import OptionSpec, option_specs
from annotation.services.invites import MAX_INVITES_PER_REQUEST
from annotation.services.studies import STUDY_EDITABLE_FIELDS, DimensionSpec, validate_scale


class StudyForm(forms.ModelForm):
    scale_labels_text = forms.CharField(
        label="Scale labels",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, spread evenly from min to max (e.g. Bad … Excellent).",
    )

    class Meta:
        model = Study
        fields = [f for f in STUDY_EDITABLE_FIELDS if f != "scale_labels"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "consent_text": forms.Textarea(attrs={"rows": 4}),
            "instructions": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["scale_labels_text"] = "\n".join(self.instance.scale_labels)

    def clean(self):
        data = super().clean()
        try:
            # The service's own check, so the page says why instead of naming a constraint.
            validate_scale(
                scale_type=data.get("scale_type", ""),
                scale_min=data.get("scale_min") or 0,
                scale_max=data.get("scale_max") or 0,
                scale_step=data.get("scale_step") or 0,
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return data

    def validate_constraints(self):
        # Scale constraints are checked in clean() with a readable message.
        return None

    def study_fields(self) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if k in STUDY_EDITABLE_FIELDS}
        text = self.cleaned_data.get("scale_labels_text", "")
        data["scale_labels"] = [line.strip() for line in text.splitlines() if line.strip()]
        return data


class DimensionForm(forms.Form):
    key = forms.SlugField(max_length=50)
    label = forms.CharField(max_length=100)
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    anchor_text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


DimensionFormSet = forms.formset_factory(DimensionForm, extra=1, can_delete=True)


def dimension_specs(formset) -> tuple[DimensionSpec, ...]:
    return tuple(
        DimensionSpec(
            f.cleaned_data["key"],
            f.cleaned_data["label"],
            f.cleaned_data["question"],
            f.cleaned_data.get("anchor_text", ""),
        )
        for f in formset.forms
        if f.cleaned_data and not f.cleaned_data.get("DELETE")
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Study.Status.choices)


class StimulusRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Stimulus.Role.choices)
    explanation = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, dimensions=(), **kwargs):
        super().__init__(*args, **kwargs)
        for dimension in dimensions:
            self.fields[f"expected_{dimension.key}"] = forms.FloatField(
                label=f"Expected {dimension.label}", required=False
            )

    def expected_scores(self) -> dict:
        return {
            name.removeprefix("expected_"): value
            for name, value in self.cleaned_data.items()
            if name.startswith("expected_") and value is not None
        }


class ManifestImportForm(forms.Form):
    manifest = forms.FileField(help_text="CSV (UTF-8) with an image column; see the docs.")
    images = forms.FileField(help_text="A zip of the images, paths as in the manifest.")
    allow_duplicates = forms.BooleanField(
        required=False,
        help_text="Import byte-identical images as separate stimuli sharing one stored file "
        "(by default they are refused).",
    )


class ExternalImportForm(forms.Form):
    layout = forms.ChoiceField(
        choices=[(k, v.title) for k, v in LAYOUTS.items()],
        help_text="What each layout's zip holds is listed above.",
    )
    name = forms.CharField(max_length=200, help_text="Name of the new study.")
    archive = forms.FileField(help_text="A zip of the label file and the images, as published.")


class InviteForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=MAX_INVITES_PER_REQUEST, initial=10)


def option_form_field(spec: OptionSpec) -> forms.Field:
    """The form field of one analysis option, from its one definition."""
    common = {"label": spec.label, "help_text": spec.help}
    if spec.kind == "many":
        return forms.MultipleChoiceField(
            choices=spec.choices, required=False, widget=forms.CheckboxSelectMultiple, **common
        )
    if spec.kind == "choice":
        return forms.ChoiceField(choices=spec.choices, **common)
    if spec.kind == "integer" and spec.choices:
        return forms.TypedChoiceField(choices=spec.choices, coerce=int, **common)
    if spec.kind == "integer":
        return forms.IntegerField(min_value=spec.low, max_value=spec.high, **common)
    return forms.FloatField(min_value=spec.low, max_value=spec.high, **common)


class AnalysisOptionsForm(forms.Form):
    """The analysis options a researcher chooses on the page (one field per option of
    :class:`~annotation.services.analysis_options.AnalysisOptions`); the service checks
    them again."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, spec in option_specs().items():
            self.fields[name] = option_form_field(spec)

    def options(self) -> dict:
        return dict(self.cleaned_data)
