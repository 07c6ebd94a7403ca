"""Command line: ``python -m analysis {report,mos,screen,subject-model,distribution,factors}``.

Progress goes to stderr, tables to stdout or to files under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from analysis.distribution import DistributionOptions
from analysis.errors import RatingsError
from analysis.io import ColumnMap, attach_stimuli, load_mos_table, load_ratings
from analysis.normalisation import NormalisationOptions
from analysis.pipeline import PipelineOptions, PipelineResult, ScreeningOptions, run_pipeline
from analysis.reliability import ReliabilityOptions
from analysis.screening import (
    BT500Options,
    CorrelationOptions,
    GoldOptions,
    RepeatConsistencyOptions,
)
from analysis.subject_model import SubjectModelOptions

METHODS = ("bt500", "correlation", "repeat_consistency", "gold")


def _progress(quiet: bool) -> Callable[..., None]:
    start = time.perf_counter()

    def report(step: str, fraction: float | None = None) -> None:
        if quiet:
            return
        pct = f"{100 * fraction:5.1f}% " if fraction is not None else ""
        print(f"[{time.perf_counter() - start:7.2f}s] {pct}{step}", file=sys.stderr, flush=True)

    return report


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _range(text: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in text.split(","))
    return lo, hi


def _add_ratings_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("ratings", type=Path, help="long-format ratings CSV")
    p.add_argument(
        "--columns",
        default=None,
        help="column mapping FIELD=COLUMN,... e.g. stimulus=stimulus_id,subject=subject_id,"
        "repeat=repetition (default: canonical names; stimulus_id/subject_id/"
        "repetition are recognised)",
    )
    p.add_argument(
        "--stimuli",
        type=Path,
        default=None,
        help="optional per-stimulus CSV with 'stimulus' and 'generator' columns",
    )
    p.add_argument(
        "--screening",
        default="bt500",
        help=f"comma list of {','.join(METHODS)} or 'none' (default: bt500)",
    )
    p.add_argument(
        "--repeat-policy",
        choices=("first", "mean", "all"),
        default="first",
        help="which showings enter MOS (default: first)",
    )
    g = p.add_argument_group("BT.500 (ITU-R BT.500-14 Annex 1 §2.3.1)")
    g.add_argument("--bt500-ddof", type=int, default=1, help="std denominator N-ddof (default 1)")
    g.add_argument(
        "--bt500-zero-variance",
        choices=("skip", "literal"),
        default="skip",
        help="zero-variance stimuli: skip (default) or the literal formula (sureal)",
    )
    g.add_argument("--bt500-pool", action="store_true", help="pool dimensions (reject from all)")
    g.add_argument(
        "--bt500-exclude-skipped",
        action="store_true",
        help="leave skipped stimuli out of the denominator J·K·L",
    )
    g = p.add_argument_group("correlation screening (ITU-T P.913 / VQEG)")
    g.add_argument("--corr-threshold", type=float, default=0.75)
    g.add_argument("--corr-coefficient", choices=("pearson", "spearman"), default="pearson")
    g.add_argument("--corr-reject-undefined", action="store_true")
    g = p.add_argument_group("repeat / gold checks (thresholds as a fraction of the scale range)")
    g.add_argument("--repeat-threshold", type=float, default=0.25)
    g.add_argument("--gold-threshold", type=float, default=0.25)
    g.add_argument("--scale", type=_range, default=None, help="scale range LO,HI, e.g. 1,5")
    g = p.add_argument_group("normalisation")
    g.add_argument("--normalise", action="store_true", help="z-score per subject and dimension")
    g.add_argument("--normalise-per-session", action="store_true")
    g.add_argument(
        "--normalise-rule",
        choices=("fixed", "minmax", "none"),
        default="fixed",
        help="fixed: z=±3 -> range ends (default); minmax: observed z range",
    )
    g.add_argument("--normalise-range", type=_range, default=(0.0, 100.0))
    g = p.add_argument_group("later steps")
    g.add_argument("--no-subject-model", action="store_true")
    g.add_argument("--no-reliability", action="store_true")
    g.add_argument("--splits", type=int, default=100, help="random split-halves (default 100)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _options(a: argparse.Namespace) -> PipelineOptions:
    from analysis.mos import MOSOptions

    methods = tuple(m for m in _csv_list(a.screening) if m != "none")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown screening method(s): {unknown}; choose from {METHODS}")
    screening = ScreeningOptions(
        methods=methods,  # type: ignore[arg-type]
        bt500=BT500Options(
            ddof=a.bt500_ddof,
            zero_variance=a.bt500_zero_variance,
            pool_dimensions=a.bt500_pool,
            count_skipped_in_denominator=not a.bt500_exclude_skipped,
        ),
        correlation=CorrelationOptions(
            threshold=a.corr_threshold,
            coefficient=a.corr_coefficient,
            reject_undefined=a.corr_reject_undefined,
        ),
        repeat_consistency=RepeatConsistencyOptions(
            threshold=a.repeat_threshold, scale_range=a.scale
        ),
        gold=GoldOptions(threshold=a.gold_threshold, scale_range=a.scale),
    )
    norm = None
    if a.normalise:
        norm = NormalisationOptions(
            per_session=a.normalise_per_session,
            rescale=a.normalise_rule,
            target_range=a.normalise_range,
        )
    return PipelineOptions(
        repeat_policy=a.repeat_policy,
        screening=screening,
        normalisation=norm,
        mos=MOSOptions(confidence=a.confidence),
        subject_model=None if a.no_subject_model else SubjectModelOptions(confidence=a.confidence),
        reliability=None
        if a.no_reliability
        else ReliabilityOptions(n_splits=a.splits, seed=a.seed, confidence=a.confidence),
        distribution=DistributionOptions(seed=a.seed),
    )


def _run(a: argparse.Namespace, progress: Callable[..., None]) -> PipelineResult:
    columns = ColumnMap.parse(a.columns) if a.columns else None
    progress(f"loading {a.ratings}")
    ratings = load_ratings(a.ratings, columns)
    if a.stimuli is not None:
        ratings = attach_stimuli(ratings, pd.read_csv(a.stimuli))
    return run_pipeline(ratings, _options(a), progress)


def _emit(table: pd.DataFrame, out: Path | None) -> None:
    if out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)


def cmd_report(a: argparse.Namespace) -> int:
    from analysis.report import write_report

    progress = _progress(a.quiet)
    result = _run(a, progress)
    summary = write_report(result, a.out, a.title, progress)
    progress(f"wrote {len(summary['files'])} files to {a.out}", 1.0)
    return 0


def cmd_mos(a: argparse.Namespace) -> int:
    result = _run(a, _progress(a.quiet))
    _emit(result.mos.table if not a.unscreened else result.mos_unscreened.table, a.out)
    return 0


def cmd_screen(a: argparse.Namespace) -> int:
    result = _run(a, _progress(a.quiet))
    # One long table: the method first, then the columns every method shares, then each
    # method's own statistics (empty where another method has no such number).
    frames = [r.subjects.assign(method=r.method) for r in result.screening]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method"])
    first = ["method", "subject", "dimension", "rejected", "reason"]
    table = table[[c for c in first if c in table] + [c for c in table if c not in first]]
    _emit(table, a.out)
    return 0


def cmd_subject_model(a: argparse.Namespace) -> int:
    result = _run(a, _progress(a.quiet))
    if result.subject_model is None:
        raise SystemExit("subject model disabled")
    _emit(result.subject_model.stimuli if a.stimuli_table else result.subject_model.subjects, a.out)
    return 0


def _mos_table(a: argparse.Namespace) -> pd.DataFrame:
    names = _csv_list(a.names) if a.names else None
    return load_mos_table(a.mos, _csv_list(a.values), names=names, generator_from=a.generator_from)


def cmd_distribution(a: argparse.Namespace) -> int:
    from analysis.distribution import distribution_table

    table = _mos_table(a)
    by = "generator" if "generator" in table.columns else None
    fits = distribution_table(table, _csv_list(a.values), by, DistributionOptions(seed=a.seed))
    if a.out is None:
        _emit(fits, None)
        return 0
    from analysis import figures
    from analysis.report import figure_div, html_page

    a.out.mkdir(parents=True, exist_ok=True)
    fits.to_csv(a.out / "distribution.csv", index=False)
    divs = []
    values = _csv_list(a.values)
    if len(values) > 1:
        from analysis.factors import dimension_correlations

        corr = dimension_correlations(table, values)
        corr.long().to_csv(a.out / "dimension_correlations.csv", index=False)
        divs.append(figure_div(figures.correlation_heatmap(corr.pearson, "Pearson correlation")))
    for col in _csv_list(a.values):
        groups = [("all", table)] + (list(table.groupby(by)) if by else [])
        for level, part in groups:
            for fig in (
                figures.distribution_figure(part[col], f"{col} ({level})"),
                figures.qq_figure(part[col], f"Q-Q {col} ({level})"),
            ):
                divs.append(figure_div(fig))
    (a.out / "distribution.html").write_text(
        html_page("distribution", "<h1>Distribution</h1>" + "".join(divs)), encoding="utf-8"
    )
    print(f"wrote distribution.csv, distribution.html to {a.out}", file=sys.stderr)
    return 0


def cmd_factors(a: argparse.Namespace) -> int:
    from analysis.factors import TUKEY_STANDARD, fit_linear_model, generator_summary, tukey_hsd
    from analysis.factors import VERSION as FACTORS_VERSION
    from analysis.provenance import Provenance

    table = _mos_table(a)
    value = _csv_list(a.values)[0]
    if a.words_from:
        table[f"{a.words_from}_words"] = table[a.words_from].astype(str).str.split().str.len()
    formulas = a.formula or [f"{value} ~ C(generator)"]
    out: dict[str, pd.DataFrame] = {"generator_summary": generator_summary(table, value)}
    summaries = []
    for i, formula in enumerate(formulas):
        model = fit_linear_model(table, formula)
        out[f"anova_{i}"] = model.anova
        out[f"coefficients_{i}"] = model.coefficients
        summaries.append(model.to_summary())
    out["tukey_hsd"] = tukey_hsd(table, value)
    summaries.append(
        Provenance("tukey_hsd", TUKEY_STANDARD, FACTORS_VERSION, {"alpha": 0.05}).to_dict()
    )
    if a.out is None:
        for name, t in out.items():
            print(f"# {name}")
            t.to_csv(sys.stdout, index=False)
        print("# models\n" + json.dumps(summaries, indent=2))
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    for name, t in out.items():
        t.to_csv(a.out / f"{name}.csv", index=False)
    (a.out / "models.json").write_text(json.dumps(summaries, indent=2), encoding="utf-8")
    print(f"wrote {len(out)} tables and models.json to {a.out}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Subject screening, MOS, subject model, reliability and distributions for "
        "subjective ratings of AI-generated images.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("report", help="full pipeline -> HTML report + CSV tables + summary.json")
    _add_ratings_options(p)
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--title", default="Subjective study analysis")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("mos", help="MOS + CIs per stimulus and dimension (after screening) as CSV")
    _add_ratings_options(p)
    p.add_argument("--out", type=Path, default=None, help="CSV file (default stdout)")
    p.add_argument("--unscreened", action="store_true", help="MOS before screening")
    p.set_defaults(func=cmd_mos, no_reliability=True, no_subject_model=True)

    p = sub.add_parser("screen", help="per-subject screening decisions with their numbers as CSV")
    _add_ratings_options(p)
    p.add_argument("--out", type=Path, default=None, help="CSV file (default stdout)")
    p.set_defaults(func=cmd_screen, no_reliability=True, no_subject_model=True)

    p = sub.add_parser("subject-model", help="P.910 Annex E / P.913 subject model estimates as CSV")
    _add_ratings_options(p)
    p.add_argument("--out", type=Path, default=None, help="CSV file (default stdout)")
    p.add_argument("--stimuli-table", action="store_true", help="true scores instead of subjects")
    p.set_defaults(func=cmd_subject_model, no_reliability=True)

    for name, func, helptext in (
        (
            "distribution",
            cmd_distribution,
            "Gaussian fits + normality tests of a per-stimulus MOS table",
        ),
        ("factors", cmd_factors, "per-generator summary, OLS/ANOVA, Tukey HSD of a MOS table"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("mos", type=Path, help="per-stimulus MOS CSV")
        p.add_argument("--values", required=True, help="comma list of MOS columns")
        p.add_argument(
            "--names",
            default=None,
            help="column names for a header-less file, e.g. name,prompt,mos",
        )
        p.add_argument(
            "--generator-from",
            default=None,
            help="column whose basename prefix (before _<digits>) is the generator",
        )
        p.add_argument("--out", type=Path, default=None, help="output directory (default stdout)")
        p.add_argument("--seed", type=int, default=0)
        if name == "factors":
            p.add_argument(
                "--formula",
                action="append",
                default=None,
                help="patsy formula (repeatable); default '<value> ~ C(generator)'",
            )
            p.add_argument(
                "--words-from",
                default=None,
                help="add <COLUMN>_words = number of words (e.g. prompt length)",
            )
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (RatingsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `... | head` closed stdout early; that is the reader's choice, not an error.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
