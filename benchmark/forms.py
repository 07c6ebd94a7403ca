"""The launch form: field-level bounds here, everything else in the service's validation."""

from django import forms
from django.conf import settings

from annotation.models import LabelRelease
from benchmark.selectors import release_label, release_list
from benchmark.services.configs import HYPER_FIELDS
from benchmark.services.launch import LaunchRejected, SweepSpec, reference_count
from benchmark.training.catalog import (
    BACKBONES,
    LOSSES,
    SCHEDULERS,
    SPLIT_PROTOCOLS,
    WEIGHTS_CHOICES,
)

# The hyper-parameters the form offers; the head's width keeps the library's default.
TRAINING_FIELDS = tuple(name for name in HYPER_FIELDS if name != "hidden_dim")
MODEL_CHOICES = [
    ("nr", "NR: no-reference (image only)"),
    ("fr", "FR: full-reference (image + prompt image)"),
    ("pscr", "PSCR: patch sampling + contrastive regression"),
]
# "fixed" needs a published split file; it is run from the command line (README).
PROTOCOL_CHOICES = [
    (p, label)
    for p, label in (
        ("random", "Random train/val/test, repeated"),
        ("kfold", "k-fold, repeated"),
        ("cross_generator", "Cross-generator (train on some generators, test on others)"),
    )
    if p in SPLIT_PROTOCOLS
]

# Service error keys (TrainConfig's dotted field names) -> the field that shows them.
ERROR_FIELDS = {
    "release": "release",
    "manifest": "release",
    "models": "models",
    "model": "models",
    "backbones": "backbones",
    "backbone": "backbones",
    "score_columns": "score_columns",
    "split.protocol": "split_protocol",
    "split.val_fraction": "val_fraction",
    "split.test_fraction": "test_fraction",
    "split.folds": "folds",
    "split.train_generators": "train_generators",
    "split.test_generators": "test_generators",
    "split.grouped": "grouped",
    "repeats": "repeats",
    "seed": "seed",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "image_size": "image_size",
    "resize_size": "image_size",
    "pscr.patch_size": "image_size",
    "weights": "weights",
    "weights_path": "weights",
    "loss": "loss",
    "scheduler": "scheduler",
    "max_train_images": "max_train_images",
}


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class ReleaseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: LabelRelease) -> str:
        return release_label(obj)


class LaunchForm(forms.Form):
    release = ReleaseChoiceField(
        queryset=LabelRelease.objects.none(),
        label="Dataset (label release)",
        help_text="A frozen study release or an imported database's release.",
    )
    name = forms.CharField(max_length=200, required=False, help_text="Optional label.")
    models = forms.MultipleChoiceField(
        choices=MODEL_CHOICES, widget=forms.CheckboxSelectMultiple, initial=["nr"]
    )
    backbones = forms.MultipleChoiceField(
        choices=[(name, name) for name in BACKBONES],
        widget=forms.CheckboxSelectMultiple,
        initial=["resnet18"],
    )
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
    split_protocol = forms.ChoiceField(choices=PROTOCOL_CHOICES, initial="random")
    grouped = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Keep images of one prompt in one part (no content leak into test).",
    )
    repeats = forms.IntegerField(min_value=1, max_value=50, initial=3)
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)
    val_fraction = forms.FloatField(initial=0.1)
    test_fraction = forms.FloatField(initial=0.2)
    folds = forms.IntegerField(initial=5, help_text="k-fold only.")
    train_generators = forms.CharField(
        required=False, help_text="Cross-generator: comma-separated."
    )
    test_generators = forms.CharField(required=False, help_text="Cross-generator: comma-separated.")
    epochs = forms.IntegerField(min_value=1, max_value=10_000, initial=20)
    batch_size = forms.IntegerField(min_value=1, max_value=4096, initial=16)
    lr = forms.FloatField(label="Learning rate", initial=1e-4)
    weight_decay = forms.FloatField(initial=1e-4)
    image_size = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=4096,
        help_text="Network input in pixels; blank: the backbone's own (224, Inception 299).",
    )
    weights = forms.ChoiceField(choices=[(w, w) for w in WEIGHTS_CHOICES], initial="imagenet")
    loss = forms.ChoiceField(choices=[(x, x) for x in LOSSES], initial="mse")
    scheduler = forms.ChoiceField(choices=[(x, x) for x in SCHEDULERS], initial="cosine")
    max_train_images = forms.IntegerField(
        required=False, min_value=1, help_text="Subsample training images (quick trials)."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["release"].queryset = release_list()
        weights_dir = settings.BENCHMARK_WEIGHTS_DIR
        if not (weights_dir.is_dir() and any(weights_dir.iterdir())):
            # Nothing to load on this server: offer the choice that can run.
            self.fields["weights"].initial = "none"
        mixed = self.mixed_releases()
        if mixed:
            field = self.fields["fr_reference_rows_only"]
            field.help_text += " Releases with some: " + "; ".join(mixed) + "."

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

    def groups(self) -> list[tuple[str, list]]:
        """Bound fields by fieldset, for the template."""
        return [(legend, [self[name] for name in names]) for legend, names in self.GROUPS]

    def spec(self) -> SweepSpec:
        data = self.cleaned_data
        hyper = {k: data[k] for k in TRAINING_FIELDS if data.get(k) is not None}
        split = {
            "protocol": data["split_protocol"],
            "grouped": data["grouped"],
            "val_fraction": data["val_fraction"],
            "test_fraction": data["test_fraction"],
            "folds": data["folds"],
            "train_generators": _names(data.get("train_generators", "")),
            "test_generators": _names(data.get("test_generators", "")),
        }
        return SweepSpec(
            release=data["release"],
            models=tuple(data["models"]),
            backbones=tuple(data["backbones"]),
            score_columns=tuple(_names(data.get("score_columns", ""))),
            split=split,
            repeats=data["repeats"],
            seed=data["seed"],
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
            field = ERROR_FIELDS.get(key)
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
        help_text="Optional CSV with an image column (and reference, for FR models) naming "
        "the images in the zip; without it every image in the zip is scored.",
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
