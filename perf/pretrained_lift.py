"""ImageNet-pretrained against random initialisation, same split, per quality dimension.

    python perf/pretrained_lift.py [DATA_DIR] [--backbone efficientnet_lite0 --image-size 112
        --epochs 4 --lr 1e-4 --threads 1 --repeats 3]

DATA_DIR is an AGIQA-3K folder as its authors publish it (``data.csv`` and the images);
default ``../shared/data/agiqa3k-sample`` beside the repository (300 images), and the full
AGIQA-3K works the same where a user has it. Both runs train NR on the same grouped
split (same seed, same config but ``weights``), and the script prints test SRCC and PLCC
(after the 4-parameter logistic) per MOS column side by side, medians over repeats, and
the same on validation (where each run's best epoch was chosen).
EfficientNet-Lite0's ImageNet weights come with its pip package: nothing is downloaded.
Not a test: the figures go into docs/training.md by hand.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.training import train  # noqa: E402
from benchmark.training.cli import main as training_cli  # noqa: E402

COLUMNS = ["mos_quality", "mos_align"]
METRICS = ("srcc", "plcc")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data_dir", nargs="?", type=Path, default=REPO.parent / "shared/data/agiqa3k-sample"
    )
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    # One split of the 300-image sample tests on 60 images: too few to rank two runs.
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work-dir", type=Path, help="default: a temporary folder")
    return parser.parse_args()


def _config(args: argparse.Namespace, manifest: Path, work: Path, weights: str) -> dict[str, Any]:
    return {
        "manifest": str(manifest),
        "output_dir": str(work / f"run-{weights}"),
        "model": "nr",
        "backbone": args.backbone,
        "weights": weights,
        "score_columns": COLUMNS,
        "split": {"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.2},
        "repeats": args.repeats,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "image_size": args.image_size,
        "threads": args.threads,
        "device": args.device,
        "workers": 0,
        "cache_dir": str(work / "cache"),
        "save_checkpoint": False,
    }


def _table(results: dict[str, Any]) -> str:
    """Metrics per part and column: random, pretrained and the difference, side by side.

    Validation chose each run's epoch, so its figures lean optimistic; test is held out.
    """
    header = (
        f"{'part':<5} {'dimension':<12} {'metric':<6} {'random':>8} {'imagenet':>9} {'lift':>7}"
    )
    lines = [header]
    for part in ("test", "val"):
        for column in COLUMNS:
            for metric in METRICS:
                random_init, pretrained = (
                    results[weights].aggregate[part][column][metric]["median"]
                    for weights in ("none", "imagenet")
                )
                lines.append(
                    f"{part:<5} {column:<12} {metric:<6} {random_init:>8.3f} {pretrained:>9.3f} "
                    f"{pretrained - random_init:>+7.3f}"
                )
    return "\n".join(lines)


def main() -> None:
    args = _arguments()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work_dir or Path(scratch)
        manifest = work / "agiqa3k.csv"
        code = training_cli(
            ["make-manifest", "agiqa3k", "--data-dir", str(args.data_dir), "--out", str(manifest)]
        )
        if code:
            sys.exit(code)
        results, seconds = {}, {}
        for weights in ("none", "imagenet"):
            started = time.perf_counter()
            results[weights] = train(_config(args, manifest, work, weights))
            seconds[weights] = time.perf_counter() - started
        print(
            f"\nNR {args.backbone}, {args.image_size} px, {args.epochs} epochs, lr {args.lr:g}, "
            f"batch {args.batch_size}, {args.repeats} repeat(s) of a grouped 0.6/0.2/0.2 split, "
            f"device {results['none'].device}, {args.threads} thread(s); "
            f"{seconds['none']:.0f} s random, {seconds['imagenet']:.0f} s pretrained\n"
            "median over repeats:"
        )
        print(_table(results))


if __name__ == "__main__":
    main()
