"""The two batch paths: resident tensors and the streamed packed array give the same batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from benchmark.training import train
from benchmark.training.batches import (
    PackedBatchDataset,
    PackedImages,
    ResidentBatches,
    pack_images,
    stream_batches,
)
from benchmark.training.config import ConfigError, TrainConfig
from benchmark.training.data import DeviceAugment


def _cached_files(folder: Path, count: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count):
        path = folder / f"{seed}-{index}.npy"
        np.save(path, rng.integers(0, 256, (3, 10, 12), dtype=np.uint8))
        files.append(path)
    return files


@pytest.fixture
def packed(tmp_path: Path) -> tuple[PackedImages, PackedImages, np.ndarray]:
    """11 images, of which rows 0..9 are used; references shared by pairs of rows."""
    images = _cached_files(tmp_path / "images", 11, seed=1)
    unique_refs = _cached_files(tmp_path / "refs", 6, seed=2)
    refs = [unique_refs[index // 2] for index in range(11)]
    rows = np.arange(10)
    return pack_images(images, rows, tmp_path), pack_images(refs, rows, tmp_path), rows


def _resident(packed_images, packed_refs, rows, *, train: bool) -> ResidentBatches:
    return ResidentBatches(
        torch.from_numpy(np.array(packed_images.open())),
        packed_images.slots[rows],
        np.linspace(-1, 1, len(rows))[:, None],
        batch_size=4,
        train=train,
        seed=7,
        references=torch.from_numpy(np.array(packed_refs.open())),
        reference_slots=packed_refs.slots[rows],
    )


def _streamed(packed_images, packed_refs, rows, *, train: bool, workers: int):
    dataset = PackedBatchDataset(
        packed_images, rows, np.linspace(-1, 1, len(rows))[:, None], packed_refs
    )
    return stream_batches(
        dataset, batch_size=4, train=train, seed=7, workers=workers, pin_memory=False
    )


def test_the_packed_array_holds_each_distinct_cached_image_once(tmp_path: Path) -> None:
    images = _cached_files(tmp_path / "images", 5, seed=3)
    files = [images[0], images[1], images[1], images[3], images[4]]
    rows = np.array([0, 1, 2, 4])
    packed = pack_images(files, rows, tmp_path)
    array = packed.open()
    assert array.shape == (3, 3, 10, 12) and packed.nbytes == array.nbytes
    assert packed.slots.tolist() == [0, 1, 1, -1, 2]
    for row in rows:
        assert np.array_equal(array[packed.slots[row]], np.load(files[row]))
    written = packed.path.stat().st_mtime_ns
    assert pack_images(files, rows, tmp_path).path == packed.path  # reused, not rewritten
    assert packed.path.stat().st_mtime_ns == written


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("train_mode", [True, False])
def test_resident_and_streamed_batches_are_identical(packed, workers, train_mode) -> None:
    packed_images, packed_refs, rows = packed
    resident = _resident(packed_images, packed_refs, rows, train=train_mode)
    streamed = _streamed(packed_images, packed_refs, rows, train=train_mode, workers=workers)
    assert len(resident) == len(streamed) == (2 if train_mode else 3)
    seen = []
    for epoch in (0, 1):
        resident.set_epoch(epoch)
        streamed.set_epoch(epoch)
        pairs = list(zip(resident, streamed, strict=True))
        assert len(pairs) == len(resident)
        for ours, theirs in pairs:
            assert ours.keys() == theirs.keys() == {"image", "reference", "target", "index"}
            for key in ours:
                assert torch.equal(ours[key], theirs[key]), key
        seen.append(torch.cat([ours["index"] for ours, _ in pairs]).tolist())
    if train_mode:  # shuffled per epoch, the last partial batch dropped
        assert seen[0] != seen[1] and len(seen[0]) == 8
    else:
        assert seen == [list(range(10))] * 2


def test_the_augmented_batches_match_too(packed) -> None:
    """What the model sees: the same crops and flips of the same images, either path."""
    packed_images, packed_refs, rows = packed

    def augmented(batches) -> list[torch.Tensor]:
        augment = DeviceAugment(
            (0.5,) * 3, (0.25,) * 3, torch.device("cpu"), crop=8, channels_last=False, seed=3
        )
        return [
            tensor
            for batch in batches
            for tensor in augment([batch["image"], batch["reference"]], train=True)
        ]

    resident = augmented(_resident(packed_images, packed_refs, rows, train=True))
    streamed = augmented(_streamed(packed_images, packed_refs, rows, train=True, workers=0))
    assert all(torch.equal(a, b) for a, b in zip(resident, streamed, strict=True))


def test_a_run_trains_the_same_on_either_path_and_records_it(
    tiny_config: dict[str, Any], tmp_path: Path
) -> None:
    results = {}
    for path in ("resident", "stream"):
        config = {**tiny_config, "model": "fr", "epochs": 1, "data_path": path}
        config["output_dir"] = str(tmp_path / path)
        results[path] = train(config)
    resident, streamed = results["resident"], results["stream"]
    assert resident.data["path"] == "resident" and streamed.data["path"] == "stream"
    assert resident.data["bytes"] == streamed.data["bytes"] > 0
    assert resident.repeats[0].metrics == streamed.repeats[0].metrics
    recorded = json.loads((tmp_path / "stream" / "metrics.json").read_text())["data"]
    assert recorded == {"path": "stream", "loader_workers": 0, "bytes": streamed.data["bytes"]}


def test_auto_falls_back_to_streaming_when_the_images_do_not_fit(
    tiny_config: dict[str, Any],
) -> None:
    config = {**tiny_config, "epochs": 1, "data_path": "auto", "resident_share": 1e-12}
    assert train(config).data["path"] == "stream"
    config["resident_share"] = 0.5
    config["output_dir"] += "-again"
    assert train(config).data["path"] == "resident"


@pytest.mark.parametrize(
    ("field", "value"), [("data_path", "gpu"), ("resident_share", 0.0), ("resident_share", 1.5)]
)
def test_bad_data_path_settings_are_named(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        TrainConfig.from_dict({"manifest": "m.csv", "output_dir": "out", field: value})
    assert raised.value.field == field
