"""Train a small NR model on the real AGIQA-3K sample (slow; runs in CI).

ResNet18 from random weights at 64 px is far from the papers' ImageNet-initialised
numbers; the point is that the whole pipeline learns something real from real
images and human MOS, on two CPU cores in about a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.training import train
from published.readers import agiqa3k_manifest

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
SAMPLE = DATA / "agiqa3k-sample"


@pytest.mark.slow
@pytest.mark.skipif(
    not (SAMPLE / "data.csv").is_file(), reason=f"real data not present at {SAMPLE}"
)
def test_nr_resnet18_on_agiqa3k_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record_property
) -> None:
    manifest = tmp_path / "agiqa3k.csv"
    frame = agiqa3k_manifest(SAMPLE, manifest)
    assert len(frame) == 300 and frame["prompt_group"].nunique() == 30
    result = train(
        {
            "manifest": str(manifest),
            "output_dir": str(tmp_path / "run"),
            "model": "nr",
            "backbone": "resnet18",
            "weights": "none",
            "score_columns": ["mos"],
            "image_size": 64,
            "epochs": 8,
            "batch_size": 16,
            "lr": 3e-4,
            "hidden_dim": 64,
            "split": {"val_fraction": 0.2, "test_fraction": 0.2},
            "workers": 0,
            "device": "cpu",
            "cache_dir": str(tmp_path / "cache"),
            "save_checkpoint": False,
        }
    )
    test = result.repeats[0].metrics["test"]["mos"]
    record_property("agiqa3k_sample_test_srcc", test["srcc"])
    with capsys.disabled():
        print(
            f"\nAGIQA-3K sample, NR resnet18 random init 64px, 8 epochs: test SRCC "
            f"{test['srcc']:.3f} PLCC-logistic {test['plcc_logistic']:.3f} "
            f"(n={test['n']}, best val epoch {result.repeats[0].best_epoch})"
        )
    # 60 test images from 6 unseen prompts: chance-level SRCC stays below ~0.25.
    assert test["srcc"] > 0.25
