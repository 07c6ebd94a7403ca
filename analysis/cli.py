"""Command line: ``python -m analysis {report,mos,screen,subject-model,pairwise,distribution,factors}``.

Progress goes to stderr, tables to stdout or to files under ``--out``.

The analysis options start from ``--preset`` (``standard``: the library's defaults, the
standards' choices; ``sureal``: every choice Netflix SUREAL 0.9.0 makes, see
:mod:`analysis.presets`); every analysis flag given on the command line overrides the
preset's value, flags not given leave it. Each warning of the run (data the choices left
out) is one stderr line ``warning: <code>: <message>``; ``--strict`` turns any warning into
exit status 2 before anything is written. Bad options and a screening that would reject
every subject give one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import Field, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pandas as pd

from analysis.distribution import DistributionOptions
from analysis.errors import OptionsError, RatingsError
from analysis.io import ColumnMap, attach_stimuli, load_mos_table, load_ratings
from analysis.mos import MOSOptions
from analysis.normalisation import NormalisationOptions
from analysis.pipeline import (
    PipelineOptions,
    PipelineResult,
    ScreeningMethod,
    ScreeningOptions,
    run_pipeline,
)
from analysis.presets import PRESETS, preset_options, standard_options
from analysis.reliability import ReliabilityOptions
from analysis.subject_model import SubjectModelOptions
from common.progress import progress_fraction

METHODS: tuple[str, ...] = get_args(ScreeningMethod)
TOO_FAST_MAX_SECONDS = 60.0


class StrictWarningsError(Exception):
    """``--strict`` and the run left data out (its warnings are already on stderr)."""


def _progress(quiet: bool) -> Callable[..., None]:
    start = time.perf_counter()

    def report(phase: str, done: float | None = None, total: float = 1.0) -> None:
        if quiet:
            return
        percent = f"{100 * progress_fraction(done, total):5.1f}% " if done is not None else ""
        elapsed = time.perf_counter() - start
        print(f"[{elapsed:7.2f}s] {percent}{phase}", file=sys.stderr, flush=True)

    return report


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _range(text: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in text.split(","))
    return lo, hi


def _option_class(cls: Any, name: str) -> Any:
    """The options dataclass of field ``name`` of ``cls`` (``NormalisationOptions | None``
    -> ``NormalisationOptions``)."""
    hint = get_type_hints(cls)[name]
    return next(arg for arg in (hint, *get_args(hint)) if is_dataclass(arg))


def _option_field(path: str) -> tuple[Field, Any, Any]:
    """The dataclass field, type hint and standard-preset value of the library option at
    ``path`` in :class:`PipelineOptions` (``screening.bt500.ddof``). A step the preset leaves
    off (``normalisation``) shows its own class's default."""
    cls: Any = PipelineOptions
    value: Any = standard_options()
    *parents, leaf = path.split(".")
    for part in parents:
        cls = _option_class(cls, part)
        value = getattr(value, part) if value is not None else None
        value = cls() if value is None else value
    field = next(item for item in fields(cls) if item.name == leaf)
    return field, get_type_hints(cls)[leaf], getattr(value, leaf)


@dataclass(frozen=True)
class Flag:
    """One analysis flag of the command line and the library options it sets.

    ``options`` are paths in :class:`PipelineOptions`; the first one's field gives the
    flag's default (the standard preset's value, shown in the help), choices (a
    ``Literal``), value type and help (its ``metadata["help"]``). ``help`` is added to that
    (or is the whole help of a flag that sets no option); ``default`` and ``choices`` are
    given only for such a flag. :func:`_options` applies the values given.
    """

    name: str  # the flag without its leading dashes
    group: str = ""  # argparse group title; "" for the command's own options
    options: tuple[str, ...] = ()
    help: str | None = None
    type: Callable[[str], Any] | None = None  # when the option's own type cannot parse it
    switch: bool = False  # a flag without a value (store_true) ...
    sets: Any = True  # ... that sets its options to this
    # Turns the parsed value into the option's; its errors are the command's one-line errors.
    convert: Callable[[Any], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def value(self, parsed: Any) -> Any:
        """The option value for a flag given on the command line."""
        if self.switch:
            return self.sets
        return self.convert(parsed) if self.convert else parsed

    def argparse_kwargs(self) -> dict[str, Any]:
        # Parsed default None: "not given", so the preset's value stands.
        field, hint, default = (
            _option_field(self.options[0]) if self.options else (None, None, None)
        )
        texts = [field.metadata.get("help") if field else None, self.help]
        text = " ".join(t for t in texts if t) or None
        if self.switch:
            return {"action": "store_true", "default": None, "help": text}
        kwargs: dict[str, Any] = {"default": None}
        shown = self.default if not self.options else default
        kwargs["help"] = _help_with_default(text, shown)
        parse = self.type or (hint if hint in (int, float) else None)
        if parse is not None:
            kwargs["type"] = parse
        choices = self.choices or (get_args(hint) if get_origin(hint) is Literal else None)
        if choices:
            kwargs["choices"] = choices
        return kwargs


def _help_with_default(text: str | None, default: Any) -> str | None:
    if default is None or (text and "default" in text):
        return text
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    return f"{text + ' ' if text else ''}(standard preset: {shown})"


def _methods(text: str) -> tuple[str, ...]:
    methods = tuple(m for m in _csv_list(text) if m != "none")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise OptionsError(
            "--screening", f"unknown method(s) {', '.join(unknown)}; choose from {METHODS}"
        )
    return methods


PRESET = "preset (flags given override it)"
BT500 = "BT.500 (ITU-R BT.500-14 Annex 1 §2.3.1)"
CORRELATION = "correlation screening (ITU-T P.913 / VQEG)"
CHECKS = "repeat / gold checks (thresholds as a fraction of the scale range)"
RESPONSE_TIME = "response-time screening (too-fast answers)"
MODEL = "subject model (ITU-T P.910 Annex E)"
NORMALISATION = "normalisation"
LATER = "later steps"
ANALYSIS_FLAGS: tuple[Flag, ...] = (
    Flag(
        "preset",
        PRESET,
        help="standard (default: the standards' choices) or sureal (every choice SUREAL 0.9.0 "
        "makes); the other flags override the preset's values",
        default="standard",
        choices=tuple(PRESETS),
    ),
    Flag(
        "keep-unscreened",
        PRESET,
        ("screening.if_all_rejected",),
        "when screening would reject every subject of a dimension, keep that dimension "
        "unscreened (with a warning) instead of stopping with an error",
        switch=True,
        sets="keep_unscreened",
    ),
    Flag(
        "screening",
        options=("screening.methods",),
        help=f"comma list of {','.join(METHODS)} or 'none'",
        convert=_methods,
    ),
    Flag("repeat-policy", options=("repeat_policy",)),
    Flag("bt500-ddof", BT500, ("screening.bt500.ddof",)),
    Flag("bt500-zero-variance", BT500, ("screening.bt500.zero_variance",)),
    Flag("bt500-pool", BT500, ("screening.bt500.pool_dimensions",), switch=True),
    Flag("bt500-denominator", BT500, ("screening.bt500.denominator",)),
    Flag("bt500-pool-repeats", BT500, ("screening.bt500.pool_repeats",), switch=True),
    Flag(
        "bt500-exclude-skipped",
        BT500,
        ("screening.bt500.count_skipped_in_denominator",),
        "leave skipped stimuli out of the denominator J·K·L",
        switch=True,
        sets=False,
    ),
    Flag("corr-threshold", CORRELATION, ("screening.correlation.threshold",)),
    Flag("corr-coefficient", CORRELATION, ("screening.correlation.coefficient",)),
    Flag(
        "corr-reject-undefined",
        CORRELATION,
        ("screening.correlation.reject_undefined",),
        switch=True,
    ),
    Flag("repeat-threshold", CHECKS, ("screening.repeat_consistency.threshold",)),
    Flag("gold-threshold", CHECKS, ("screening.gold.threshold",)),
    Flag(
        "scale",
        CHECKS,
        ("screening.repeat_consistency.scale_range", "screening.gold.scale_range"),
        "scale range LO,HI, e.g. 1,5",
        type=_range,
    ),
    Flag(
        "too-fast-seconds",
        RESPONSE_TIME,
        ("screening.response_time.min_seconds",),
        f"(>0..{TOO_FAST_MAX_SECONDS:g})",
    ),
    Flag("too-fast-max-fraction", RESPONSE_TIME, ("screening.response_time.max_fraction",)),
    Flag("true-score-se", MODEL, ("subject_model.true_score_se",)),
    Flag("normalise", NORMALISATION, help="z-score per subject and dimension", switch=True),
    Flag("normalise-per-session", NORMALISATION, ("normalisation.per_session",), switch=True),
    Flag("normalise-rule", NORMALISATION, ("normalisation.rescale",)),
    Flag("normalise-range", NORMALISATION, ("normalisation.target_range",), type=_range),
    Flag("no-subject-model", LATER, switch=True),
    Flag("no-reliability", LATER, switch=True),
    Flag("splits", LATER, ("reliability.n_splits",)),
    Flag("seed", LATER, ("reliability.seed", "distribution.seed")),
    Flag(
        "confidence",
        LATER,
        ("mos.confidence", "subject_model.confidence", "reliability.confidence"),
    ),
)


def _add_ratings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ratings", type=Path, help="long-format ratings CSV")
    parser.add_argument(
        "--columns",
        default=None,
        help="column mapping FIELD=COLUMN,... e.g. stimulus=stimulus_id,subject=subject_id,"
        "repeat=repetition (default: canonical names; stimulus_id/subject_id/"
        "repetition are recognised)",
    )
    parser.add_argument(
        "--stimuli",
        type=Path,
        default=None,
        help="optional per-stimulus CSV with 'stimulus' and 'generator' columns",
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for flag in ANALYSIS_FLAGS:
        if flag.group and flag.group not in groups:
            groups[flag.group] = parser.add_argument_group(flag.group)
        target = groups[flag.group] if flag.group else parser
        target.add_argument(f"--{flag.name}", **flag.argparse_kwargs())
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 2 (writing nothing) when the run has any warning, i.e. when "
        "screening or a later step left data out",
    )


def _given_at(args: argparse.Namespace, parent: str) -> dict[str, Any]:
    """``{field: value}`` for each flag given on the command line that sets a field of the
    options at ``parent`` (a path in :class:`PipelineOptions`; "" for its own fields)."""
    given: dict[str, Any] = {}
    for flag in ANALYSIS_FLAGS:
        parsed = getattr(args, flag.dest)
        if parsed is None:
            continue
        for path in flag.options:
            head, _, leaf = path.rpartition(".")
            if head == parent:
                given[leaf] = flag.value(parsed)
    return given


def _check_too_fast_seconds(value: float | None) -> None:
    if value is not None and not 0 < value <= TOO_FAST_MAX_SECONDS:
        raise OptionsError(
            "--too-fast-seconds", f"must lie in (0, {TOO_FAST_MAX_SECONDS:g}], got {value!r}"
        )


def _screening_options(args: argparse.Namespace, base: ScreeningOptions) -> ScreeningOptions:
    bt500 = replace(base.bt500, **_given_at(args, "screening.bt500"))
    correlation = replace(base.correlation, **_given_at(args, "screening.correlation"))
    repeat = replace(base.repeat_consistency, **_given_at(args, "screening.repeat_consistency"))
    gold = replace(base.gold, **_given_at(args, "screening.gold"))
    _check_too_fast_seconds(args.too_fast_seconds)
    response_time = replace(base.response_time, **_given_at(args, "screening.response_time"))
    return replace(
        base,
        **_given_at(args, "screening"),
        bt500=bt500,
        correlation=correlation,
        repeat_consistency=repeat,
        gold=gold,
        response_time=response_time,
    )


def _normalisation_options(
    args: argparse.Namespace, base: NormalisationOptions | None
) -> NormalisationOptions | None:
    if not args.normalise:
        return base
    return replace(base or NormalisationOptions(), **_given_at(args, "normalisation"))


def _options(args: argparse.Namespace) -> PipelineOptions:
    """The preset's options with every flag given on the command line applied over them."""
    base = preset_options(args.preset or "standard")
    subject_model = None
    if not args.no_subject_model:
        subject_model = replace(
            base.subject_model or SubjectModelOptions(), **_given_at(args, "subject_model")
        )
    reliability_options = None
    if not args.no_reliability:
        reliability_options = replace(
            base.reliability or ReliabilityOptions(), **_given_at(args, "reliability")
        )
    return replace(
        base,
        **_given_at(args, ""),
        screening=_screening_options(args, base.screening),
        normalisation=_normalisation_options(args, base.normalisation),
        mos=replace(base.mos or MOSOptions(), **_given_at(args, "mos")),
        subject_model=subject_model,
        reliability=reliability_options,
        distribution=replace(
            base.distribution or DistributionOptions(), **_given_at(args, "distribution")
        ),
    )


def _report_warnings(result: PipelineResult, strict: bool) -> None:
    """One stderr line per warning; with ``strict`` any warning stops the command."""
    for warning in result.warnings:
        print(f"warning: {warning.code}: {warning.message}", file=sys.stderr, flush=True)
    if strict and result.warnings:
        raise StrictWarningsError(
            f"--strict: {len(result.warnings)} warning(s) above; nothing written"
        )


def _run(args: argparse.Namespace, progress: Callable[..., None]) -> PipelineResult:
    columns = ColumnMap.parse(args.columns) if args.columns else None
    progress(f"loading {args.ratings}")
    ratings = load_ratings(args.ratings, columns)
    if args.stimuli is not None:
        ratings = attach_stimuli(ratings, pd.read_csv(args.stimuli))
    result = run_pipeline(ratings, _options(args), progress)
    _report_warnings(result, args.strict)
    return result


def _emit(table: pd.DataFrame, out: Path | None) -> None:
    if out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.report import write_report

    progress = _progress(args.quiet)
    result = _run(args, progress)
    summary = write_report(result, args.out, args.title, progress)
    progress(f"wrote {len(summary['files'])} files to {args.out}", 1.0, 1.0)
    return 0


def cmd_mos(args: argparse.Namespace) -> int:
    result = _run(args, _progress(args.quiet))
    _emit(result.mos.table if not args.unscreened else result.mos_unscreened.table, args.out)
    return 0


def cmd_screen(args: argparse.Namespace) -> int:
    result = _run(args, _progress(args.quiet))
    # One long table: the method first, then the columns every method shares, then each
    # method's own statistics (empty where another method has no such number).
    frames = [r.subjects.assign(method=r.method) for r in result.screening]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method"])
    first = ["method", "subject", "dimension", "rejected", "reason"]
    table = table[[c for c in first if c in table] + [c for c in table if c not in first]]
    _emit(table, args.out)
    return 0


def cmd_subject_model(args: argparse.Namespace) -> int:
    result = _run(args, _progress(args.quiet))
    if result.subject_model is None:
        raise SystemExit("subject model disabled")
    _emit(
        result.subject_model.stimuli if args.stimuli_table else result.subject_model.subjects,
        args.out,
    )
    return 0


def _mos_table(args: argparse.Namespace) -> pd.DataFrame:
    names = _csv_list(args.names) if args.names else None
    return load_mos_table(
        args.mos, _csv_list(args.values), names=names, generator_from=args.generator_from
    )


def cmd_distribution(args: argparse.Namespace) -> int:
    from analysis.distribution import distribution_table

    table = _mos_table(args)
    by = "generator" if "generator" in table.columns else None
    fits = distribution_table(
        table, _csv_list(args.values), by, DistributionOptions(seed=args.seed)
    )
    if args.out is None:
        _emit(fits, None)
        return 0
    from analysis import figures
    from analysis.report import figure_div, html_page

    args.out.mkdir(parents=True, exist_ok=True)
    fits.to_csv(args.out / "distribution.csv", index=False)
    divs = []
    values = _csv_list(args.values)
    if len(values) > 1:
        from analysis.factors import dimension_correlations

        corr = dimension_correlations(table, values)
        corr.long().to_csv(args.out / "dimension_correlations.csv", index=False)
        divs.append(figure_div(figures.correlation_heatmap(corr.pearson, "Pearson correlation")))
    for col in _csv_list(args.values):
        groups = [("all", table)] + (list(table.groupby(by)) if by else [])
        for level, part in groups:
            label = str(level)  # "all" or a generator (groupby keys are typed as maybe bytes)
            for fig in (
                figures.distribution_figure(part[col], f"{col} ({label})"),
                figures.qq_figure(part[col], f"Q-Q {col} ({label})"),
            ):
                divs.append(figure_div(fig))
    (args.out / "distribution.html").write_text(
        html_page("distribution", "<h1>Distribution</h1>" + "".join(divs)), encoding="utf-8"
    )
    print(f"wrote distribution.csv, distribution.html to {args.out}", file=sys.stderr)
    return 0


def cmd_factors(args: argparse.Namespace) -> int:
    from analysis.factors import TUKEY_STANDARD, fit_linear_model, generator_summary, tukey_hsd
    from analysis.factors import VERSION as FACTORS_VERSION
    from analysis.provenance import Provenance

    table = _mos_table(args)
    value = _csv_list(args.values)[0]
    if args.words_from:
        table[f"{args.words_from}_words"] = table[args.words_from].astype(str).str.split().str.len()
    formulas = args.formula or [f"{value} ~ C(generator)"]
    out: dict[str, pd.DataFrame] = {"generator_summary": generator_summary(table, value)}
    summaries = []
    for index, formula in enumerate(formulas):
        model = fit_linear_model(table, formula)
        out[f"anova_{index}"] = model.anova
        out[f"coefficients_{index}"] = model.coefficients
        summaries.append(model.to_summary())
    out["tukey_hsd"] = tukey_hsd(table, value)
    summaries.append(
        Provenance("tukey_hsd", TUKEY_STANDARD, FACTORS_VERSION, {"alpha": 0.05}).to_dict()
    )
    if args.out is None:
        for name, frame in out.items():
            print(f"# {name}")
            frame.to_csv(sys.stdout, index=False)
        print("# models\n" + json.dumps(summaries, indent=2))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in out.items():
        frame.to_csv(args.out / f"{name}.csv", index=False)
    (args.out / "models.json").write_text(json.dumps(summaries, indent=2), encoding="utf-8")
    print(f"wrote {len(out)} tables and models.json to {args.out}", file=sys.stderr)
    return 0


def _add_pipeline_commands(subparsers: Any) -> None:
    """The commands that run the pipeline on a ratings CSV (with every analysis flag)."""
    command_parser = subparsers.add_parser(
        "report", help="full pipeline -> HTML report + CSV tables + summary.json"
    )
    _add_ratings_options(command_parser)
    command_parser.add_argument("--out", type=Path, required=True, help="output directory")
    command_parser.add_argument("--title", default="Subjective study analysis")
    command_parser.set_defaults(func=cmd_report)

    command_parser = subparsers.add_parser(
        "mos", help="MOS + CIs per stimulus and dimension (after screening) as CSV"
    )
    _add_ratings_options(command_parser)
    command_parser.add_argument("--out", type=Path, default=None, help="CSV file (default stdout)")
    command_parser.add_argument("--unscreened", action="store_true", help="MOS before screening")
    command_parser.set_defaults(func=cmd_mos, no_reliability=True, no_subject_model=True)

    command_parser = subparsers.add_parser(
        "screen", help="per-subject screening decisions with their numbers as CSV"
    )
    _add_ratings_options(command_parser)
    command_parser.add_argument("--out", type=Path, default=None, help="CSV file (default stdout)")
    command_parser.set_defaults(func=cmd_screen, no_reliability=True, no_subject_model=True)

    command_parser = subparsers.add_parser(
        "subject-model", help="P.910 Annex E / P.913 subject model estimates as CSV"
    )
    _add_ratings_options(command_parser)
    command_parser.add_argument("--out", type=Path, default=None, help="CSV file (default stdout)")
    command_parser.add_argument(
        "--stimuli-table", action="store_true", help="true scores instead of subjects"
    )
    command_parser.set_defaults(func=cmd_subject_model, no_reliability=True)


def _pairwise_choices(args: argparse.Namespace) -> pd.DataFrame:
    """The choices table: as the site exports it, or a winner/loser table (``--winner``)."""
    from analysis.pairwise import choices_from_winners

    table = pd.read_csv(args.choices)
    if args.winner is None:
        return table
    for flag, column in (
        ("--winner", args.winner),
        ("--loser", args.loser),
        ("--subject", args.subject),
    ):
        if column not in table.columns:
            raise RatingsError(
                f"{flag} names column {column!r}, which {args.choices} does not have "
                f"(columns: {', '.join(map(str, table.columns))})"
            )
    if args.group is not None and args.group not in table.columns:
        raise RatingsError(
            f"--group names column {args.group!r}, which {args.choices} does not have"
        )
    return choices_from_winners(
        table, winner=args.winner, loser=args.loser, subject=args.subject, group=args.group
    )


def _pairwise_options(args: argparse.Namespace) -> Any:
    from analysis.pairwise import (
        BootstrapOptions,
        BradleyTerryOptions,
        PairwisePipelineOptions,
        ScalingOptions,
        ThurstoneOptions,
    )

    scaling = ScalingOptions(
        method=args.method,
        thurstone=ThurstoneOptions(prior=args.prior),
        bradley_terry=BradleyTerryOptions(alpha=args.alpha),
    )
    bootstrap = (
        None
        if args.resamples == 0
        else BootstrapOptions(
            n_resamples=args.resamples, confidence=args.confidence, seed=args.seed
        )
    )
    return PairwisePipelineOptions(
        scaling=scaling,
        bootstrap=bootstrap,
        apply_screening=not args.no_screening,
        exclude_too_fast=not args.keep_too_fast,
    )


def cmd_pairwise(args: argparse.Namespace) -> int:
    from analysis.pairwise import pairwise_pipeline_run
    from analysis.report import write_pairwise_report

    progress = _progress(args.quiet)
    progress(f"loading {args.choices}")
    options = _pairwise_options(args)
    result = pairwise_pipeline_run(_pairwise_choices(args), options, progress)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    if args.strict and result.warnings:
        raise StrictWarningsError(
            f"--strict: {len(result.warnings)} warning(s) above; nothing written"
        )
    summary = write_pairwise_report(result, args.out, args.title, progress)
    progress(f"wrote {len(summary['files'])} files to {args.out}", 1.0, 1.0)
    return 0


def _add_pairwise_command(subparsers: Any) -> None:
    command_parser = subparsers.add_parser(
        "pairwise",
        help="pairwise choices -> scale with CIs, preference matrices, subject screening: "
        "HTML report + CSV tables + summary.json",
    )
    command_parser.add_argument(
        "choices",
        type=Path,
        help="choices CSV as the site exports it (subject, group, left, right, choice, ...)",
    )
    command_parser.add_argument("--out", type=Path, required=True, help="output directory")
    command_parser.add_argument("--title", default="Pairwise comparison study analysis")
    command_parser.add_argument(
        "--method", choices=("thurstone", "bradley_terry"), default="thurstone"
    )
    command_parser.add_argument(
        "--prior",
        choices=("gaussian", "none"),
        default="gaussian",
        help="Thurstone: pwcmp's distance prior, or none (plain ML, as SUREAL) (default gaussian)",
    )
    command_parser.add_argument(
        "--alpha", type=float, default=0.0, help="Bradley-Terry regularisation (default 0)"
    )
    command_parser.add_argument(
        "--resamples", type=int, default=500, help="subject-bootstrap resamples; 0: no CIs"
    )
    command_parser.add_argument("--confidence", type=float, default=0.95)
    command_parser.add_argument("--seed", type=int, default=0)
    command_parser.add_argument(
        "--no-screening", action="store_true", help="report the screening, drop nobody"
    )
    command_parser.add_argument(
        "--keep-too-fast", action="store_true", help="keep rows with too_fast = 1"
    )
    group = command_parser.add_argument_group(
        "winner/loser tables (one row per decided comparison, e.g. SUREAL's pc datasets)"
    )
    group.add_argument("--winner", default=None, help="column of the preferred stimulus")
    group.add_argument("--loser", default=None, help="column of the other stimulus")
    group.add_argument("--subject", default="subject", help="subject column (default subject)")
    group.add_argument("--group", default=None, help="comparison-group column (default: one group)")
    command_parser.add_argument("--strict", action="store_true", help="any warning: exit 2")
    command_parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    command_parser.set_defaults(func=cmd_pairwise)


MOS_TABLE_COMMANDS = (
    (
        "distribution",
        cmd_distribution,
        "Gaussian fits + normality tests of a per-stimulus MOS table",
    ),
    ("factors", cmd_factors, "per-generator summary, OLS/ANOVA, Tukey HSD of a MOS table"),
)


def _add_mos_table_command(
    subparsers: Any, name: str, func: Callable[[argparse.Namespace], int], helptext: str
) -> None:
    """A command that reads a per-stimulus MOS table instead of ratings."""
    command_parser = subparsers.add_parser(name, help=helptext)
    command_parser.add_argument("mos", type=Path, help="per-stimulus MOS CSV")
    command_parser.add_argument("--values", required=True, help="comma list of MOS columns")
    command_parser.add_argument(
        "--names",
        default=None,
        help="column names for a header-less file, e.g. name,prompt,mos",
    )
    command_parser.add_argument(
        "--generator-from",
        default=None,
        help="column whose basename prefix (before _<digits>) is the generator",
    )
    command_parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default stdout)"
    )
    command_parser.add_argument("--seed", type=int, default=0)
    if name == "factors":
        command_parser.add_argument(
            "--formula",
            action="append",
            default=None,
            help="patsy formula (repeatable); default '<value> ~ C(generator)'",
        )
        command_parser.add_argument(
            "--words-from",
            default=None,
            help="add <COLUMN>_words = number of words (e.g. prompt length)",
        )
    command_parser.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Subject screening, MOS, subject model, reliability and distributions for "
        "subjective ratings of AI-generated images.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_pipeline_commands(subparsers)
    _add_pairwise_command(subparsers)
    for name, func, helptext in MOS_TABLE_COMMANDS:
        _add_mos_table_command(subparsers, name, func, helptext)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (RatingsError, OptionsError, StrictWarningsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `... | head` closed stdout early; that is the reader's choice, not an error.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
