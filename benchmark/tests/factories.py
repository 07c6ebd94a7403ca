"""Factories for benchmark tests: real label releases (a MOS CSV with PNG images under
MEDIA_ROOT, as a frozen or imported release has) plus sweeps and runs."""

import hashlib
from pathlib import Path

import factory
import pandas as pd
from django.conf import settings

from annotation.models import LabelRelease, Study
from annotation.tests.factories import AdminFactory, StudyFactory
from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.training.synthetic import make_synthetic_database


def write_release_files(
    *, study_id: int, version: int, groups: int, size: int, reference: bool, seed: int
) -> str:
    """Images + mos.csv in the release folder; return the CSV's MEDIA_ROOT-relative name.

    Brightness follows the MOS (benchmark.training.synthetic), so a model can learn it.
    """
    relative = Path("releases") / str(study_id) / f"v{version}"
    root = Path(settings.MEDIA_ROOT) / relative
    manifest = make_synthetic_database(root, groups=groups, size=size, seed=seed)
    frame = pd.read_csv(manifest, dtype=str)
    if not reference:
        frame = frame.drop(columns=["reference"])
    frame.insert(3, "prompt", "a synthetic prompt")
    frame.to_csv(root / "mos.csv", index=False)
    manifest.unlink()
    return str(relative / "mos.csv")


class LabelReleaseFactory(factory.django.DjangoModelFactory):
    """An external-style release: columns stimulus_id, image, [reference,] generator,
    prompt, prompt_group, mos, mos_quality, mos_authenticity."""

    class Meta:
        model = LabelRelease
        exclude = ("groups", "size", "reference", "seed")

    groups = 6
    size = 32
    reference = False
    seed = 0
    study = factory.SubFactory(StudyFactory, status=Study.Status.CLOSED)
    version = factory.Sequence(lambda n: n + 1)
    source = LabelRelease.Source.EXTERNAL
    method_config = factory.LazyFunction(lambda: {"database": "synthetic"})
    counts = factory.LazyAttribute(lambda o: {"stimuli": o.groups * 3, "dimensions": 2})
    mos_file = factory.LazyAttribute(
        lambda o: write_release_files(
            study_id=o.study.pk,
            version=o.version,
            groups=o.groups,
            size=o.size,
            reference=o.reference,
            seed=o.seed,
        )
    )
    mos_sha256 = factory.LazyAttribute(
        lambda o: hashlib.sha256((Path(settings.MEDIA_ROOT) / o.mos_file).read_bytes()).hexdigest()
    )


class BenchmarkSweepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BenchmarkSweep

    release = factory.SubFactory(LabelReleaseFactory)
    created_by = factory.SubFactory(AdminFactory)
    parameters = factory.LazyFunction(
        lambda: {
            "models": ["nr"],
            "backbones": ["resnet18"],
            "score_columns": ["mos_quality"],
            "split": {"protocol": "random"},
            "repeats": 1,
            "seed": 0,
            "hyper": {"epochs": 1},
        }
    )


class BenchmarkRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BenchmarkRun

    sweep = factory.SubFactory(BenchmarkSweepFactory)
    release = factory.SelfAttribute("sweep.release")
    model_kind = "nr"
    backbone = "resnet18"
    split_protocol = "random"
    repeat = factory.Sequence(int)
    seed = factory.SelfAttribute("repeat")
    score_columns = factory.LazyFunction(lambda: ["mos_quality"])
    config = factory.LazyAttribute(
        lambda o: {
            "model": o.model_kind,
            "backbone": o.backbone,
            "score_columns": list(o.score_columns),
            "split": {"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25},
            "repeats": 1,
            "seed": o.seed,
            "epochs": 1,
            "batch_size": 4,
            "lr": 1e-3,
            "image_size": 32,
            "hidden_dim": 16,
            "weights": "none",
        }
    )
    task_id = factory.Sequence(lambda n: f"task-{n}")


def tiny_form(release, **overrides) -> dict:
    """Launch-form POST data for a run that takes a second or two on one CPU core."""
    data = {
        "release": release.pk,
        "name": "tiny",
        "models": ["nr"],
        "backbones": ["resnet18"],
        "score_columns": "mos_quality",
        "split_protocol": "random",
        "grouped": "on",
        "repeats": 1,
        "seed": 0,
        "val_fraction": 0.2,
        "test_fraction": 0.25,
        "folds": 5,
        "epochs": 1,
        "batch_size": 4,
        "lr": 0.001,
        "weight_decay": 0.0001,
        "image_size": 32,
        "weights": "none",
        "loss": "mse",
        "scheduler": "cosine",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}
