"""Command line: ``python -m benchmark.training`` (train), ``validate``, ``make-manifest``,
``predict``, ``export`` and ``fetch-weights``.

Training flags are generated from :class:`TrainConfig`'s fields (``--batch-size``,
``--split-val-fraction``, ``--pscr-grid`` ...) so the CLI can never drift from the
config; flags override values from ``--config cfg.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from benchmark.training.config import ConfigError, Setting, TrainConfig, settings_of
from benchmark.training.errors import TrainingInputError
from published.errors import LayoutError

ALIASES = {"output_dir": ["--out"], "split.protocol": ["--split"]}


def _flag_help(spec: Setting) -> str | None:
    """The field's help, else its choices ("nr, fr or pscr"), else none."""
    if spec.help:
        return spec.help
    if spec.choices:
        *rest, last = tuple(spec.choices)
        return f"{', '.join(rest)} or {last}" if rest else last
    return None


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.training",
        description="Train and evaluate an AIGC image-quality model on a manifest CSV.",
        epilog=(
            "Other commands: 'validate --config cfg.json', 'make-manifest <layout> ...', "
            "'predict --checkpoint best.pt ...', 'export ...', 'fetch-weights ...' "
            "(each with --help)."
        ),
    )
    parser.add_argument("--config", help="JSON file with TrainConfig fields; flags override it")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    for name, spec in settings_of(TrainConfig).items():
        if spec.derived:
            continue
        flags = ["--" + name.replace(".", "-").replace("_", "-"), *ALIASES.get(name, [])]
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": _flag_help(spec)}
        if spec.hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = name.split(".")[-1].upper()
        parser.add_argument(*flags, **kwargs)
    return parser


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
    for key, value in over.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def _read_config(path: str) -> dict[str, Any]:
    with open(path) as fh:
        data = json.load(fh)
    data.pop("_run", None)  # a run's config.json can be replayed as is
    return data


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    data = _read_config(args.config) if args.config else {}
    names = [name for name, spec in settings_of(TrainConfig).items() if not spec.derived]
    flags = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
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
    from benchmark.training.presets import protocol_lines
    from benchmark.training.runner import EpochReport, resolve_device, run_deviations, train

    deviations = run_deviations(config, resolve_device(config.device))
    for line in protocol_lines(config.protocol, config.protocol_overrides, deviations):
        print(line)

    def report(report: EpochReport) -> None:
        if args.quiet:
            return
        mark = " *" if report.is_best else ""
        tqdm.write(
            f"[{report.split}] epoch {report.epoch}/{report.epochs} loss {report.train_loss:.4f} "
            f"val SRCC {report.val_srcc:.4f} PLCC {report.val_plcc:.4f} lr {report.lr:.2e} "
            f"{report.seconds:.1f}s{mark}"
        )

    result = train(config, on_epoch_end=report)
    print(format_table(result.aggregate))
    print(f"outputs: {result.output_dir} ({result.seconds:.0f}s on {result.device})")
    return 0


def _run_validate(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.training validate")
    parser.add_argument("--config", required=True)
    parser.add_argument("--deep", action="store_true", help="also check manifest rows and splits")
    args = parser.parse_args(argv)
    config = TrainConfig.from_dict(_read_config(args.config))
    if args.deep:
        from benchmark.training.runner import prepare

        _, manifest, splits = prepare(config)
        print(f"{len(manifest)} rows, splits: {', '.join(s.name for s in splits)}")
    print("ok")
    return 0


def _run_make_manifest(argv: Sequence[str]) -> int:
    from published.readers import LAYOUTS, layout_describe, published_manifest

    parser = argparse.ArgumentParser(
        prog="python -m benchmark.training make-manifest",
        description="Write a training manifest for a published database, read from the files "
        "its authors publish, or for a dataset package of the study site.",
        epilog="Layouts:\n" + layout_describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("layout", choices=sorted(LAYOUTS))
    parser.add_argument("--data-dir", required=True, help="the database folder, as published")
    parser.add_argument("--out", required=True, help="manifest CSV to write")
    args = parser.parse_args(argv)
    frame = published_manifest(args.layout, args.data_dir, args.out)
    unlabelled = frame.attrs.get("unlabelled", 0)
    left_out = f"; {unlabelled} unlabelled row(s) left out" if unlabelled else ""
    print(
        f"wrote {args.out}: {len(frame)} rows, {frame['generator'].nunique()} generators, "
        f"{frame['prompt_group'].nunique()} prompt groups{left_out}"
    )
    return 0


def _run_predict(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.training predict",
        description="Score images with a trained checkpoint; one CSV row per image.",
    )
    parser.add_argument("--checkpoint", required=True, help="a run's best.pt")
    parser.add_argument("--images", required=True, help="a folder of images or a manifest CSV")
    parser.add_argument(
        "--reference-column",
        default="reference",
        help="FR models: the manifest column naming each image's reference (default reference)",
    )
    parser.add_argument(
        "--prompt-column",
        default="prompt",
        help="text-image models: the manifest column with each image's text prompt "
        "(default prompt)",
    )
    parser.add_argument("--out", required=True, help="CSV to write")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--workers", type=int, default=4, help="decoding threads")
    parser.add_argument("--cache-dir", help="decode cache (default: the run's cache_dir)")
    parser.add_argument(
        "--skip-bad", action="store_true", help="score the rest when some images cannot be read"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from pathlib import Path

    from benchmark.training.checkpoint import load_checkpoint
    from benchmark.training.config import default_cache_dir
    from benchmark.training.predict import Scorer, find_items, tqdm_progress
    from benchmark.training.runner import resolve_device

    checkpoint = load_checkpoint(args.checkpoint)
    reference_column = args.reference_column if checkpoint.needs_reference else None
    prompt_column = args.prompt_column if checkpoint.needs_prompt else None
    items = find_items(args.images, reference_column=reference_column, prompt_column=prompt_column)
    scorer = Scorer(
        checkpoint,
        device=resolve_device(args.device),
        cache_dir=args.cache_dir or checkpoint.config.cache_dir or default_cache_dir(),
        batch_size=args.batch_size,
        threads=args.workers,
    )
    progress, close = tqdm_progress(not args.quiet)
    try:
        result = scorer.score(items, skip_bad=args.skip_bad, progress=progress)
    finally:
        close()
    result.write_csv(Path(args.out))
    skipped = f"; {len(result.failures)} skipped (see the error column)" if result.failures else ""
    print(f"wrote {args.out}: {len(items)} image(s), columns {result.columns}{skipped}")
    return 0


def _run_export(argv: Sequence[str]) -> int:
    from benchmark.training.export import run_export_cli

    return run_export_cli(argv)


def _run_fetch_weights(argv: Sequence[str]) -> int:
    from benchmark.training.fetch import run_fetch_cli

    return run_fetch_cli(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "validate": _run_validate,
        "make-manifest": _run_make_manifest,
        "predict": _run_predict,
        "export": _run_export,
        "fetch-weights": _run_fetch_weights,
    }
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        if argv and argv[0] == "train":
            argv = argv[1:]
        return _run_train(argv)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except (TrainingInputError, LayoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
