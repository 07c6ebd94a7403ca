"""A published protocol (pku-i2iqa) from the launch form and POST /api/benchmark/sweeps/:
what the admin leaves alone takes the protocol's value, what they set is recorded."""

from unittest import mock

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.tests.factories import AdminFactory
from benchmark.models import BenchmarkRun
from benchmark.tests.factories import LabelReleaseFactory, tiny_form
from benchmark.training.config import TrainConfig

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sent():
    with mock.patch("benchmark.tasks.run_benchmark.apply_async") as apply_async:
        yield apply_async


def _trained_config(run: BenchmarkRun) -> TrainConfig:
    """The config a worker trains the run with (its stored config, the preset applied)."""
    return TrainConfig.from_dict(run.config, validate=False)


def test_the_form_offers_the_protocol(admin_client):
    page = admin_client.get(reverse("benchmark:sweep_new")).content.decode()
    assert 'name="protocol"' in page and 'value="pku-i2iqa"' in page


def test_a_form_launch_takes_the_presets_values_and_records_the_admins(admin_client):
    release = LabelReleaseFactory()
    # tiny_form leaves seed, folds, grouped, split protocol, weight decay, scheduler and
    # loss at the library's defaults; it sets epochs, batch, lr, image size and weights.
    form = tiny_form(release, protocol="pku-i2iqa")
    response = admin_client.post(reverse("benchmark:sweep_new"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    run = BenchmarkRun.objects.get()
    assert (run.seed, run.split_protocol) == (1, "interleaved")
    config = _trained_config(run)
    assert (config.optimizer, config.weight_decay, config.scheduler) == ("adam", 1e-5, "none")
    assert (config.split.folds, config.split.grouped, config.eval_batch_size) == (4, False, 20)
    assert config.protocol_overrides == [
        "epochs=1 (preset 100)",
        "batch_size=4 (preset 8)",
        "lr=0.001 (preset 0.0001)",
        "weights='none' (preset 'imagenet')",
        "image_size=32 (preset 224)",
    ]
    page = admin_client.get(reverse("benchmark:run_detail", args=[run.pk])).content.decode()
    assert "Protocol: pku-i2iqa" in page
    assert "weights=&#x27;none&#x27; (preset &#x27;imagenet&#x27;)" in page
    assert "The device is known once a worker starts the run." in page


def test_a_form_value_the_admin_set_counts_as_given_even_at_the_librarys_default(admin_client):
    """The page names the fields the admin edited in ``chosen``: those keep their value
    under the protocol even where it is the library's default; untouched ones do not."""
    release = LabelReleaseFactory()
    # tiny_form's seed 0, weight decay 1e-4, cosine, grouped and 5 folds are library defaults.
    form = tiny_form(release, protocol="pku-i2iqa", chosen="seed,scheduler,weight_decay")
    response = admin_client.post(reverse("benchmark:sweep_new"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    run = BenchmarkRun.objects.get()
    assert (run.seed, run.split_protocol) == (0, "interleaved")
    config = _trained_config(run)
    assert (config.scheduler, config.weight_decay) == ("cosine", 1e-4)
    # Left untouched at the library's default: the protocol's values.
    assert (config.split.folds, config.split.grouped, config.optimizer) == (4, False, "adam")
    assert "scheduler='cosine' (preset 'none')" in config.protocol_overrides
    assert "weight_decay=0.0001 (preset 1e-05)" in config.protocol_overrides
    assert "seed=0 (preset 1)" in config.protocol_overrides


def test_chosen_names_no_field_without_a_protocol_and_unknown_names_are_ignored(admin_client):
    release = LabelReleaseFactory()
    form = tiny_form(release, chosen="scheduler,nonsense")
    response = admin_client.post(reverse("benchmark:sweep_new"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    config = _trained_config(BenchmarkRun.objects.get())
    assert (config.scheduler, config.split.folds, config.protocol_overrides) == ("cosine", 5, [])


def test_the_api_takes_the_protocol_and_fills_what_is_not_given():
    release = LabelReleaseFactory()
    api = APIClient()
    api.force_authenticate(AdminFactory())
    hyper = {"protocol": "pku-i2iqa", "weights": "none", "epochs": 1, "image_size": 80}
    payload = {
        "release": release.pk,
        "models": ["nr"],
        "backbones": ["inception_v4"],
        "score_columns": ["mos_quality"],
        "hyper": hyper,
    }
    response = api.post("/api/benchmark/sweeps/", payload, format="json")
    assert response.status_code == 201, response.json()
    run = BenchmarkRun.objects.get()
    assert (run.seed, run.split_protocol) == (1, "interleaved")
    config = _trained_config(run).resolved()
    # The admin's input size gets the library's resize for it, not the paper's 320.
    assert (config.lr, config.batch_size, config.resize_size) == (1e-4, 8, round(80 * 256 / 224))
    assert config.protocol_overrides == [
        "epochs=1 (preset 100)",
        "weights='none' (preset 'imagenet')",
        "image_size=80 (preset 299)",
    ]


def test_the_api_names_an_unknown_protocol_and_queues_nothing(sent):
    api = APIClient()
    api.force_authenticate(AdminFactory())
    payload = {
        "release": LabelReleaseFactory().pk,
        "models": ["nr"],
        "backbones": ["resnet18"],
        "hyper": {"protocol": "pku-2k", "weights": "none"},
    }
    response = api.post("/api/benchmark/sweeps/", payload, format="json")
    assert response.status_code == 400
    assert "must be one of none, pku-i2iqa; got 'pku-2k'" in str(response.json())
    assert not BenchmarkRun.objects.exists() and not sent.called
