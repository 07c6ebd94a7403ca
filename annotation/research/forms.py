from django import forms
from django.core.exceptions import ValidationError

from annotation.dimensions import DimensionSpec
from annotation.imports.external import LAYOUTS
from annotation.models import ApiToken, Stimulus, Study
from annotation.services.allocation import ALLOCATION_FIELDS
from annotation.services.analysis_options import (
    DEFAULT_OPTIONS,
    PAIRWISE_DEFAULT_OPTIONS,
    OptionSpec,
    analysis_options_parse,
    option_specs,
    pairwise_option_specs,
    pairwise_options_parse,
)
from annotation.services.invites import MAX_INVITES_PER_REQUEST
from annotation.services.pairwise import PAIRWISE_FIELDS, pairwise_settings_validate
from annotation.services.recruitment import RECRUITMENT_FIELDS
from annotation.services.stimulus_bulk import BULK_ACTIONS
from annotation.services.studies import (
    DIMENSION_PRESETS,
    STUDY_EDITABLE_FIELDS,
    validate_scale,
)

# Help for each study field, in the researcher's words. Fields another change adds to
# STUDY_EDITABLE_FIELDS render too (in "More settings"), with the model's own help text.
STUDY_HELP = {
    "name": "Shown to subjects at the top of every page.",
    "description": "For you and your colleagues; subjects do not see it.",
    "consent_text": "What subjects read and agree to before they start. Blank: a short "
    "standard text (a research study; they may stop at any time).",
    "instructions": "Shown after consent, before the first trial: what to judge and how.",
    "scale_type": "Continuous: a slider subjects can set anywhere in the range. "
    "ACR: one button per category (e.g. 1–5, Bad … Excellent). "
    "Pairwise: two images side by side; subjects choose the better one on each dimension "
    "(the minimum, maximum, step and labels are not used).",
    "scale_min": "The lowest score (the slider's left end, or the first button).",
    "scale_max": "The highest score; must be above the minimum.",
    "scale_step": "Distance between allowed scores. 0 means a continuous slider: any value "
    "in the range (the slider moves in steps of 1/1000 of the range). ACR needs a positive "
    "step, usually 1.",
    "target_ratings_per_stimulus": "How many subjects should rate each stimulus (one trial "
    "each); the progress page counts towards it and freezing warns below it.",
    "session_size": "Rating trials per subject session (training and repeats come on top).",
    "break_interval": "Trials between breaks; 0 = no breaks.",
    "repeats_per_session": "Stimuli shown a second time, unannounced, to check each "
    "subject's consistency.",
    "gold_per_session": "Gold stimuli (with known expected scores) mixed into each session.",
}
STUDY_LABELS = {
    "target_ratings_per_stimulus": "Target subjects per stimulus",
    "session_size": "Trials per session",
    "break_interval": "Break every (trials)",
    "repeats_per_session": "Repeats per session",
    "gold_per_session": "Gold trials per session",
    "scale_type": "Scale",
    "scale_min": "Minimum",
    "scale_max": "Maximum",
    "scale_step": "Step",
}
# Sections of the form; a field in no section goes to "More settings".
STUDY_SECTIONS = (
    ("Study", ("name", "description")),
    ("What subjects read", ("consent_text", "instructions")),
    ("Rating scale", ("scale_type", "scale_min", "scale_max", "scale_step", "scale_labels_text")),
    (
        "Pairwise comparison",
        (
            "pairwise_grouping",
            "pairwise_group_column",
            "pairwise_design",
            "pairwise_no_preference",
        ),
    ),
    (
        "Sessions",
        (
            "target_ratings_per_stimulus",
            "session_size",
            "break_interval",
            "repeats_per_session",
            "gold_per_session",
        ),
    ),
)


class StudyForm(forms.ModelForm):
    scale_labels_text = forms.CharField(
        label="Scale labels",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, spread evenly from min to max (e.g. Bad … Excellent). "
        "For ACR, one per button puts each label on its button.",
    )

    class Meta:
        model = Study
        fields = [f for f in STUDY_EDITABLE_FIELDS if f != "scale_labels"]
        help_texts = STUDY_HELP
        labels = STUDY_LABELS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "consent_text": forms.Textarea(attrs={"rows": 5}),
            "instructions": forms.Textarea(attrs={"rows": 5}),
            "allocation_targets": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["scale_labels_text"] = "\n".join(self.instance.scale_labels)
        # Left out, they keep the study's values (or the defaults): a balanced study's form
        # need not mention adaptive settings.
        for name in (*ALLOCATION_FIELDS, *PAIRWISE_FIELDS):
            self.fields[name].required = False
        for name in ("scale_min", "scale_max", "scale_step"):
            if name in self.fields:
                self.fields[name].widget.attrs.setdefault("step", "any")

    def sections(self) -> list[tuple[str, list]]:
        """Bound fields by section, for the template; unplaced fields come last."""
        placed = {name for _, names in STUDY_SECTIONS for name in names}
        sections = [
            (title, [self[name] for name in names if name in self.fields])
            for title, names in STUDY_SECTIONS
        ]
        rest = [self[name] for name in self.fields if name not in placed]
        if rest:
            sections.append(("More settings", rest))
        return sections

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
            pairwise_settings_validate(
                grouping=data.get("pairwise_grouping") or Study.PairGrouping.PROMPT,
                column=data.get("pairwise_group_column") or "",
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return data

    def validate_constraints(self):
        # Scale constraints are checked in clean() with a readable message.
        return None

    def study_fields(self) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if k in STUDY_EDITABLE_FIELDS}
        for name in (*ALLOCATION_FIELDS, "pairwise_grouping", "pairwise_design"):
            if data.get(name) in (None, ""):
                data.pop(name, None)
        if "allocation_targets" in self.data and "allocation_targets" not in data:
            data["allocation_targets"] = {}  # the researcher emptied the box
        text = self.cleaned_data.get("scale_labels_text", "")
        data["scale_labels"] = [line.strip() for line in text.splitlines() if line.strip()]
        return data


class DimensionForm(forms.Form):
    key = forms.SlugField(
        max_length=50,
        help_text="Short name in files and columns (mos_<key>): letters, digits, - and _.",
    )
    label = forms.CharField(max_length=100, help_text="What subjects see above the question.")
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    anchor_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional: what the ends of the scale mean for this question.",
    )


class BaseDimensionFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        keys = [spec.key for spec in dimension_specs(self)]
        if not keys:
            raise ValidationError("A study needs at least one dimension to rate.")
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValidationError(
                f"Each dimension needs its own key; repeated: {', '.join(repeated)}."
            )


# ORDER is the position field; the page's Up/Down buttons set it, typing works too.
DimensionFormSet = forms.formset_factory(
    DimensionForm, formset=BaseDimensionFormSet, extra=0, can_delete=True, can_order=True
)


def dimension_initial(specs: tuple[DimensionSpec, ...]) -> list[dict]:
    return [
        {"key": d.key, "label": d.label, "question": d.question, "anchor_text": d.anchor_text}
        for d in specs
    ]


def dimension_preset(name: str | None) -> tuple[DimensionSpec, ...] | None:
    preset = DIMENSION_PRESETS.get(name or "")
    return preset[1] if preset else None


def dimension_specs(formset) -> tuple[DimensionSpec, ...]:
    """The kept dimensions in their chosen order (blank position: after the numbered ones)."""
    kept = [
        (index, f.cleaned_data)
        for index, f in enumerate(formset.forms)
        if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("key")
    ]
    big = len(formset.forms) + 1
    kept.sort(key=lambda item: (item[1].get("ORDER") or big + item[0], item[0]))
    return tuple(
        DimensionSpec(data["key"], data["label"], data["question"], data.get("anchor_text", ""))
        for _, data in kept
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
    if spec.kind == "switch":
        return forms.BooleanField(required=False, **common)
    if spec.kind == "integer" and spec.choices:
        return forms.TypedChoiceField(choices=spec.choices, coerce=int, **common)
    if spec.kind == "integer":
        return forms.IntegerField(min_value=spec.low, max_value=spec.high, **common)
    return forms.FloatField(min_value=spec.low, max_value=spec.high, **common)


class AnalysisOptionsForm(forms.Form):
    """The analysis options a researcher chooses on the page (one field per option of
    :class:`~annotation.services.analysis_options.AnalysisOptions`); the service checks
    them again."""

    @staticmethod
    def specs() -> dict[str, OptionSpec]:
        return option_specs()

    @staticmethod
    def defaults() -> dict:
        return DEFAULT_OPTIONS

    @staticmethod
    def parse(data: dict) -> object:
        return analysis_options_parse(data=data)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, spec in self.specs().items():
            self.fields[name] = option_form_field(spec)
            # An option missing from the request (an older link or script) is its default.
            self.fields[name].required = False

    def clean(self) -> dict:
        """Missing options at their default, then the service's (and the analysis library's)
        checks, as errors on the fields."""
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        for name, spec in self.specs().items():
            if spec.kind not in ("many", "switch") and cleaned.get(name) in (None, ""):
                cleaned[name] = self.defaults()[name]
        try:
            self.parse(cleaned)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for name, errors in exc.error_dict.items():
                    self.add_error(name if name in self.fields else None, errors)
            else:
                self.add_error(None, exc)
        return cleaned

    def options(self) -> dict:
        return dict(self.cleaned_data)


class PairwiseAnalysisOptionsForm(AnalysisOptionsForm):
    """The options of a pairwise study's analysis (:class:`~annotation.services.
    analysis_options.PairwiseAnalysisOptions`): scaling, bootstrap and screening."""

    @staticmethod
    def specs() -> dict[str, OptionSpec]:
        return pairwise_option_specs()

    @staticmethod
    def defaults() -> dict:
        return PAIRWISE_DEFAULT_OPTIONS

    @staticmethod
    def parse(data: dict) -> object:
        return pairwise_options_parse(data=data)


class ReleasePackageForm(forms.Form):
    """Licence, citation and the demographic fields to include in a release's package."""

    version = forms.TypedChoiceField(coerce=int, label="Release")
    licence = forms.CharField(
        max_length=200, required=False, help_text="For example CC BY 4.0; goes into the README."
    )
    citation = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="How users should cite the database (README and croissant.json).",
    )
    demographics = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Include demographic fields",
        help_text="None leaves the server unless ticked; subjects are always pseudonymous.",
    )

    def __init__(self, *args, versions: list[int], demographics: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(v, f"v{v}") for v in versions]
        self.fields["demographics"].choices = [(f, f) for f in demographics]
        if not demographics:
            self.fields["demographics"].help_text = "The subjects have no demographic fields."


class StimulusBulkForm(forms.Form):
    """A bulk action on the stimuli table: the ticked rows, or every row the filters match."""

    action = forms.ChoiceField(choices=[("", "Choose an action")] + list(BULK_ACTIONS.items()))
    scope = forms.ChoiceField(
        choices=[("selected", "The ticked stimuli"), ("filtered", "Every stimulus that matches")],
        initial="selected",
    )
    ids = forms.CharField(required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.ticked = data.getlist("ids") if data is not None and hasattr(data, "getlist") else []

    def clean(self) -> dict:
        cleaned = super().clean()
        ids = [int(v) for v in self.ticked if str(v).isdigit()]
        if cleaned.get("scope") == "selected" and not ids:
            raise forms.ValidationError("Tick at least one stimulus, or choose every match.")
        cleaned["ids"] = ids
        return cleaned


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What uses it, e.g. 'analysis notebook on lab-pc-3'.",
    )
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        required=False,
        help_text="Read only unless the script must change data (freeze, import, analyse).",
    )

    def clean_scope(self) -> str:
        # Least privilege when the field is left out (older forms, scripts posting a name).
        return self.cleaned_data.get("scope") or ApiToken.Scope.READ


class RecruitmentForm(forms.ModelForm):
    """A study's crowd recruitment settings (annotation.services.recruitment)."""

    class Meta:
        model = Study
        fields = list(RECRUITMENT_FIELDS)
        labels = {
            "recruitment_platform": "Platform",
            "completion_code_crowd": "Completion code",
            "screened_out_code": "Screened-out code",
            "quota_full_code": "Quota-full code",
            "timed_out_code": "Timed-out code",
            "qualification_failed_code": "Qualification-failed code",
        }
        help_texts = {
            "completion_code_crowd": "The code the platform expects from a finished participant "
            "(Prolific: the study's completion code). Blank: one is made for you.",
            "screened_out_code": "Given to a participant who declines consent (Prolific: a "
            "'NOCONSENT' code set to 'return').",
            "quota_full_code": "Given to an arrival after the quota is reached.",
            "timed_out_code": "Given to a subject whose session ended after idling or past "
            "the maximum duration (Prolific: a 'Manually review' code).",
        }
