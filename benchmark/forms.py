"""The launch form: its TrainConfig fields are built from the config's own definition
(defaults, choices, bounds, help); everything else is checked in the service's validation."""

from collections.abc import Callable
from typing import Any, get_args

from django import forms
from django.conf import settings

from annotation.models import LabelRelease
from benchmark.selectors import release_label, release_list
from benchmark.services.configs import HYPER_FIELDS, SPLIT_FIELDS
from benchmark.services.launch import LaunchRejected, SweepSpec, reference_count
from benchmark.training.catalog import BACKBONES, RANDOM_WEIGHTS_NOTE
from benchmark.training.config import Setting, settings_of
from benchmark.training.presets import NO_PROTOCOL

# The hyper-parameters the form offers; the head's width keeps the library's default.
TRAINING_FIELDS = tuple(name for name in HYPER_FIELDS if name != "hidden_dim")
# Form field -> the TrainConfig field it sets. A sweep runs every model kind and backbone
# chosen (hence the plural); the split protocol keeps its prefix, the rest their own name.
CONFIG_FIELDS: dict[str, str] = {
    "models": "model",
    "backbones": "backbone",
    "split_protocol": "split.protocol",
    **{name: f"split.{name}" for name in SPLIT_FIELDS if name != "protocol"},
    "repeats": "repeats",
    "seed": "seed",
    **{name: name for name in TRAINING_FIELDS},
}
# Config fields the form sets through another field: their errors are shown on that one.
# A split config field -> its form field, where the names differ.
CONFIG_SPLIT_FORM = {"protocol": "split_protocol"}
SET_THROUGH = {
    "manifest": "release",
    "resize_size": "image_size",
    "pscr.patch_size": "image_size",
    "weights_path": "weights",
}
# A service error's key (a spec field or a TrainConfig dotted name) -> the form field.
ERROR_FIELDS = {config: form for form, config in CONFIG_FIELDS.items()} | SET_THROUGH
MULTIPLE = ("models", "backbones")
LABELS = {"lr": "Learning rate"}
# How the page names some choices, in the order shown; the choices themselves are the
# config's (a kind or backbone added there is offered with its own name). The "fixed"
# protocol is not offered: it needs a published split file and is run from the command
# line (README).
CHOICE_LABELS = {
    "models": {
        "nr": "NR: no-reference (image only)",
        "fr": "FR: full-reference (image + prompt image)",
        "pscr": "PSCR: patch sampling + contrastive regression",
        "clipscore": "CLIPScore: zero-shot image-prompt similarity (baseline, no training)",
        "text": "Text: prompt-conditioned CLIP regressor (image + its prompt)",
    },
    "protocol": {
        "none": "None: the values below",
        "pku-i2iqa": "PKU-I2IQA authors' protocol (fields left untouched take its values)",
    },
    "split_protocol": {
        "random": "Random train/val/test, repeated",
        "kfold": "k-fold, repeated",
        "cross_generator": "Cross-generator (train on some generators, test on others)",
        "interleaved": "Interleaved: every folds-th row is a test row (PKU-I2IQA's rule)",
    },
}
NOT_OFFERED = {"split_protocol": ("fixed",)}


def _sentence(text: str) -> str:
    """The config's CLI-style help ("keep images ...") as a sentence for the page."""
    return f"{text[0].upper()}{text[1:]}." if text else ""


HELP = {
    # The config's help first (said once), then what "not given" means on this page.
    "protocol": _sentence(settings_of()["protocol"].help)
    + " Here, every field below you leave untouched at the library's default counts as not "
    "given; a value you set (the default too, once you type or pick it) is used and recorded "
    "on each run as an override, beside what this server cannot reproduce.",
    "models": "Each kind runs on the chosen backbones that fit it: CLIPScore and Text "
    "(they read each image's prompt) on the CLIP backbones, the others on the image backbones.",
}
# A sweep repeats each run three times unless told otherwise, so its median over repeats
# means something; one call of the library trains one repeat by default.
SWEEP_INITIAL = {"repeats": 3}


def _backbone_label(name: str) -> str:
    info = BACKBONES[name]
    if info.random_weights:
        return f"{name} (tiny CLIP, CLIPScore and Text only: {RANDOM_WEIGHTS_NOTE})"
    if info.is_text_image:
        return f"{name} (CLIP: CLIPScore and Text only)"
    if info.pip_package:
        return f"{name} (ImageNet weights installed with pip)"
    return name


def _choices(name: str, spec: Setting) -> list[tuple[str, str]]:
    """The config's choices less those not offered: labelled ones first, in label order."""
    allowed = [value for value in spec.choices or () if value not in NOT_OFFERED.get(name, ())]
    labels = CHOICE_LABELS.get(name, {})
    if name == "backbones":
        labels = {value: _backbone_label(value) for value in allowed}
    labelled = [(value, label) for value, label in labels.items() if value in allowed]
    return labelled + [(value, value) for value in allowed if value not in labels]


def _checked_by_config(spec: Setting) -> Callable[[Any], None]:
    """A validator that refuses what the config refuses, with the config's own message."""

    def check(value: Any) -> None:
        problem = spec.problem(value)
        if problem:
            raise forms.ValidationError(problem)

    return check


def _number_field(spec: Setting, number: type, common: dict[str, Any]) -> forms.Field:
    bounds = spec.bounds
    ends = {"min": bounds.low, "max": bounds.high} if bounds else {}
    attrs = {end: value for end, value in ends.items() if value is not None}
    field_class = forms.IntegerField if number is int else forms.FloatField
    return field_class(
        required=spec.default is not None,
        validators=[_checked_by_config(spec)],
        widget=forms.NumberInput(attrs=attrs),
        **common,
    )


def config_field(name: str) -> forms.Field:
    """The form field ``name`` (a key of :data:`CONFIG_FIELDS`), built from its TrainConfig
    field: default, choices, bounds (with the config's messages) and help."""
    spec = settings_of()[CONFIG_FIELDS[name]]
    initial = SWEEP_INITIAL.get(name, spec.default)
    help_text = HELP.get(name) or _sentence(spec.help)
    common: dict[str, Any] = {"help_text": help_text, "label": LABELS.get(name)}
    if name in MULTIPLE:
        widget = forms.CheckboxSelectMultiple
        choices = _choices(name, spec)
        return forms.MultipleChoiceField(
            choices=choices, widget=widget, initial=[initial], **common
        )
    if spec.choices is not None:
        return forms.ChoiceField(choices=_choices(name, spec), initial=initial, **common)
    if spec.hint is bool:
        return forms.BooleanField(required=False, initial=initial, **common)
    if spec.hint == list[str]:
        return forms.CharField(required=False, initial=",".join(initial), **common)
    number = next(arg for arg in (spec.hint, *get_args(spec.hint)) if arg in (int, float))
    return _number_field(spec, number, {"initial": initial, **common})


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _as_config(value: Any, spec: Setting) -> Any:
    """A cleaned form value as the config holds it (a comma-separated list as a list)."""
    return _names(value) if spec.hint == list[str] and isinstance(value, str) else value


class ReleaseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: LabelRelease) -> str:
        return release_label(obj)


# The form's TrainConfig fields, one per CONFIG_FIELDS entry; built by the form metaclass so
# they are declared fields like the hand-written ones below.
ConfigFields = type(forms.Form)(
    "ConfigFields", (forms.Form,), {name: config_field(name) for name in CONFIG_FIELDS}
)


class LaunchForm(ConfigFields):
    release = ReleaseChoiceField(
        queryset=LabelRelease.objects.none(),
        label="Dataset (label release)",
        help_text="A frozen study release or an imported database's release.",
    )
    name = forms.CharField(max_length=200, required=False, help_text="Optional label.")
    fr_reference_rows_only = forms.BooleanField(
        required=False,
        label="FR on rows with a prompt image only",
        help_text="For a release that mixes image-to-image rows (with a prompt image) and "
        "text-to-image rows (without): FR trains and is tested on the rows that have one; "
        "NR and PSCR still use every row.",
    )
    score_columns = forms.CharField(
        required=False,
        help_text="MOS columns to learn, comma-separated (e.g. mos_quality). "
        "Blank: every dimension of the release, one model output each.",
    )
    # The fields the admin set on the page, comma-separated (the page's script fills it on
    # each edit): under a protocol such a field counts as given even at the library's
    # default, which the posted values alone cannot tell from a field left untouched.
    chosen = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["release"].queryset = release_list()
        # Not posting a protocol (a script, an older page) means none.
        self.fields["protocol"].required = False
        weights_dir = settings.BENCHMARK_WEIGHTS_DIR
        if not (weights_dir.is_dir() and any(weights_dir.iterdir())):
            # Nothing to load on this server: offer the choice that can run.
            self.fields["weights"].initial = "none"
        mixed = self.mixed_releases()
        if mixed:
            field = self.fields["fr_reference_rows_only"]
            field.help_text += " Releases with some: " + "; ".join(mixed) + "."

    def clean_protocol(self) -> str:
        return self.cleaned_data.get("protocol") or NO_PROTOCOL

    def mixed_releases(self) -> list[str]:
        """'<release>: N of M rows have a prompt image' for each release that mixes both."""
        described = []
        for release in self.fields["release"].queryset:
            count = reference_count(release=release)
            if count is not None and count.mixed:
                described.append(
                    f"{release_label(release)}: {count.with_reference} of {count.rows} rows"
                )
        return described

    GROUPS = (
        (
            "Dataset and models",
            (
                "release",
                "name",
                "models",
                "fr_reference_rows_only",
                "backbones",
                "score_columns",
            ),
        ),
        (
            "Splits",
            (
                "split_protocol",
                "grouped",
                "repeats",
                "seed",
                "val_fraction",
                "test_fraction",
                "folds",
                "train_generators",
                "test_generators",
            ),
        ),
        (
            "Training",
            TRAINING_FIELDS,
        ),
    )
    field_order = [name for _, names in GROUPS for name in names]

    def groups(self) -> list[tuple[str, list]]:
        """Bound fields by fieldset, for the template."""
        return [(legend, [self[name] for name in names]) for legend, names in self.GROUPS]

    def given(self) -> set[str]:
        """The form fields a published protocol does not fill: without one, all of them;
        with one, those the admin set (named in ``chosen``) and those whose value is not the
        library's default. A field left untouched at the default takes the protocol's
        value; a given one is used and recorded as an override where it differs."""
        data = self.cleaned_data
        if data.get("protocol", NO_PROTOCOL) == NO_PROTOCOL:
            return set(self.fields)
        specs = settings_of()
        chosen = set(_names(data.get("chosen", "")))
        return {"protocol"} | {
            name
            for name, config_name in CONFIG_FIELDS.items()
            if name in data
            and (
                name in chosen
                or _as_config(data[name], specs[config_name]) != specs[config_name].default
            )
        }

    def spec(self) -> SweepSpec:
        data = self.cleaned_data
        given = self.given()
        hyper = {k: data[k] for k in TRAINING_FIELDS if data.get(k) is not None and k in given}
        split = {
            "protocol": data["split_protocol"],
            "grouped": data["grouped"],
            "val_fraction": data["val_fraction"],
            "test_fraction": data["test_fraction"],
            "folds": data["folds"],
            "train_generators": _names(data.get("train_generators", "")),
            "test_generators": _names(data.get("test_generators", "")),
        }
        split = {k: v for k, v in split.items() if CONFIG_SPLIT_FORM.get(k, k) in given}
        return SweepSpec(
            release=data["release"],
            models=tuple(data["models"]),
            backbones=tuple(data["backbones"]),
            score_columns=tuple(_names(data.get("score_columns", ""))),
            split=split,
            repeats=data["repeats"],
            seed=data["seed"] if "seed" in given else None,
            hyper=hyper,
            name=data.get("name", ""),
            fr_reference_rows_only=data.get("fr_reference_rows_only", False),
        )

    def problems(self) -> list[str]:
        """Every error of the form, each as 'Field: message', for the list at its top."""
        listed = []
        for name, messages in self.errors.items():
            prefix = f"{self[name].label}: " if name in self.fields else ""
            listed += [prefix + message for message in messages]
        return listed

    def add_launch_errors(self, exc: LaunchRejected) -> None:
        for key, messages in exc.errors.items():
            field = key if key in self.fields else ERROR_FIELDS.get(key)
            for message in messages:
                self.add_error(field, message if field else f"{key}: {message}" if key else message)


class ScoringForm(forms.Form):
    """Score a study's stimuli, or an uploaded zip of images (with an optional manifest)."""

    study = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="(none: upload images instead)",
        help_text="Score every stimulus of this study.",
    )
    images = forms.FileField(required=False, help_text="Or a zip of images (JPEG, PNG or WebP).")
    manifest = forms.FileField(
        required=False,
        help_text="Optional CSV with an image column (and reference, for FR models; prompt, "
        "for text-image models) naming the images in the zip; without it every image in the "
        "zip is scored.",
    )
    prompt = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Text-image models (CLIPScore, Text) score each image with its prompt: this "
        "one is for every image without its own (a stimulus's, a manifest row's).",
    )

    def __init__(self, *args, **kwargs) -> None:
        from benchmark.selectors import scoring_studies

        super().__init__(*args, **kwargs)
        self.fields["study"].queryset = scoring_studies()

    def clean(self):
        data = super().clean()
        if bool(data.get("study")) == bool(data.get("images")):
            raise forms.ValidationError(
                "Choose a study or upload a zip of images (one of the two)."
            )
        if data.get("manifest") and not data.get("images"):
            raise forms.ValidationError("A manifest names images in a zip; upload the zip too.")
        return data
