"""Command line: ``python -m benchmark.training`` (train), ``validate``, ``make-manifest``.

Training flags are generated from :class:`TrainConfig`'s fields (``--batch-size``,
``--split-val-fraction``, ``--pscr-grid`` ...) so the CLI can never drift from the
config; flags override values from ``--config cfg.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Sequence
from typing import Any

from benchmark.training.config import ConfigError, TrainConfig
from benchmark.training.errors import TrainingInputError

ALIASES = {"output_dir": ["--out"], "split.protocol": ["--split"]}
HELP = {
    "manifest": "manifest CSV (image, generator, prompt_group, MOS columns)",
    "output_dir": "directory for config.json, summary.csv, metrics.json, checkpoints",
    "model": "nr, fr or pscr",
    "backbone": "vgg16, vgg19, resnet18, resnet50 or inception_v4",
    "weights": "none (random init) or imagenet (local file, see README)",
    "score_columns": "comma-separated MOS columns; several train one multi-output head",
    "split.protocol": "random, cross_generator, kfold or fixed",
}


def _fields(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out += _fields(hint, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", hint))
    return out


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmark.training",
        description="Train and evaluate an AIGC image-quality model on a manifest CSV.",
        epilog="Other commands: 'validate --config cfg.json', 'make-manifest <layout> ...'.",
    )
    p.add_argument("--config", help="JSON file with TrainConfig fields; flags override it")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    for name, hint in _fields(TrainConfig):
        flags = ["--" + name.replace(".", "-").replace("_", "-"), *ALIASES.get(name, [])]
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": HELP.get(name)}
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = name.split(".")[-1].upper()
        p.add_argument(*flags, **kwargs)
    return p


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        merged[k] = _merge(merged.get(k, {}), v) if isinstance(v, dict) else v
    return merged


def _read_config(path: str) -> dict[str, Any]:
    with open(path) as fh:
        data = json.load(fh)
    data.pop("_run", None)  # a run's config.json can be replayed as is
    return data


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    data = _read_config(args.config) if args.config else {}
    flags = {n: getattr(args, n) for n, _ in _fields(TrainConfig) if getattr(args, n) is not None}
    data = _merge(data, _nest(flags))
    if not args.quiet and "progress" not in flags:
        data["progress"] = True
    return TrainConfig.from_dict(data)


def _run_train(argv: Sequence[str]) -> int:
    args = _train_parser().parse_args(argv)
    config = config_from_args(args)
    if args.print_config:
        print(json.dumps(config.resolved().to_dict(), indent=2))
        return 0
    from tqdm import tqdm

    from benchmark.training.outputs import format_table
    from benchmark.training.runner import EpochReport, train

    def report(r: EpochReport) -> None:
        if args.quiet:
            return
        mark = " *" if r.is_best else ""
        tqdm.write(
            f"[{r.split}] epoch {r.epoch}/{r.epochs} loss {r.train_loss:.4f} "
            f"val SRCC {r.val_srcc:.4f} PLCC {r.val_plcc:.4f} lr {r.lr:.2e} "
            f"{r.seconds:.1f}s{mark}"
        )

    result = train(config, on_epoch_end=report)
    print(format_table(result.aggregate))
    print(f"outputs: {result.output_dir} ({result.seconds:.0f}s on {result.device})")
    return 0


def _run_validate(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.training validate")
    p.add_argument("--config", required=True)
    p.add_argument("--deep", action="store_true", help="also check manifest rows and splits")
    args = p.parse_args(argv)
    config = TrainConfig.from_dict(_read_config(args.config))
    if args.deep:
        from benchmark.training.runner import prepare

        _, manifest, splits = prepare(config)
        print(f"{len(manifest)} rows, splits: {', '.join(s.name for s in splits)}")
    print("ok")
    return 0


def _run_make_manifest(argv: Sequence[str]) -> int:
    from benchmark.training.importers import LAYOUTS, layout_describe, published_manifest

    p = argparse.ArgumentParser(
        prog="python -m benchmark.training make-manifest",
        description="Write a training manifest for a published database, read from the files "
        "its authors publish.",
        epilog="Layouts:\n" + layout_describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("layout", choices=sorted(LAYOUTS))
    p.add_argument("--data-dir", required=True, help="the database folder, as published")
    p.add_argument("--out", required=True, help="manifest CSV to write")
    args = p.parse_args(argv)
    frame = published_manifest(args.layout, args.data_dir, args.out)
    unlabelled = frame.attrs.get("unlabelled", 0)
    left_out = f"; {unlabelled} unlabelled row(s) left out" if unlabelled else ""
    print(
        f"wrote {args.out}: {len(frame)} rows, {frame['generator'].nunique()} generators, "
        f"{frame['prompt_group'].nunique()} prompt groups{left_out}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"validate": _run_validate, "make-manifest": _run_make_manifest}
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        if argv and argv[0] == "train":
            argv = argv[1:]
        return _run_train(argv)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except TrainingInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
