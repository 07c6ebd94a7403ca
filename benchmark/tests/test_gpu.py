"""On a CUDA machine runs (NR and PSCR, and the text-image kinds) train on the card and
record its name; skipped elsewhere."""

import pytest
import torch

from benchmark.models import BenchmarkRun
from benchmark.services import SweepSpec, run_execute, sweep_launch
from benchmark.tests.factories import LabelReleaseFactory

pytestmark = [pytest.mark.gpu, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _needs_cuda(settings):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    settings.BENCHMARK_DEVICE = "cuda"


def test_a_run_on_cuda_records_the_card_and_succeeds(django_capture_on_commit_callbacks):
    spec = SweepSpec(
        release=LabelReleaseFactory(groups=8),
        models=("nr", "pscr"),
        backbones=("resnet18",),
        split={"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25},
        hyper={"epochs": 2, "batch_size": 4, "lr": 1e-3, "image_size": 32, "weights": "none"},
    )
    with django_capture_on_commit_callbacks(execute=False):
        sweep = sweep_launch(spec=spec, created_by=None)
    for run in sweep.runs.all():
        assert run_execute(run_id=run.pk, hostname="gpu@test") == "succeeded"
        run.refresh_from_db()
        assert run.device == f"cuda:0 ({torch.cuda.get_device_name(0)})"
        assert run.metrics["test"]["mos_quality"]["srcc"] is not None
    assert BenchmarkRun.objects.filter(status="succeeded").count() == 2


def test_a_text_image_run_on_cuda_succeeds(tiny_clip, django_capture_on_commit_callbacks):
    """One run of each text-image kind on the card, through the site's path: the tiny
    CLIP of the library's tests from BENCHMARK_WEIGHTS_DIR, each image with its prompt."""
    spec = SweepSpec(
        release=LabelReleaseFactory(groups=8),
        models=("text", "clipscore"),
        backbones=(tiny_clip,),
        split={"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25},
        hyper={"epochs": 2, "batch_size": 4, "lr": 1e-3, "weights": "pretrained"},
    )
    with django_capture_on_commit_callbacks(execute=False):
        sweep = sweep_launch(spec=spec, created_by=None)
    for run in sweep.runs.all():
        assert run_execute(run_id=run.pk, hostname="gpu@test") == "succeeded", run.model_kind
        run.refresh_from_db()
        assert run.device == f"cuda:0 ({torch.cuda.get_device_name(0)})"
        assert "srcc" in run.metrics["test"]["mos_quality"]
