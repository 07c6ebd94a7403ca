"""The command line's analysis flags are one table (ANALYSIS_FLAGS); each one reaches the
pipeline's options."""

from __future__ import annotations

import pytest

from analysis.cli import ANALYSIS_FLAGS, _options, build_parser

INPUT_FLAGS = {"help", "ratings", "columns", "stimuli", "quiet", "strict", "out", "title"}
# A value other than the default for every flag that takes one.
OTHER_VALUES = {
    "preset": "sureal",
    "screening": "correlation",
    "bt500-denominator": "presentations",
    "too-fast-seconds": "2.5",
    "too-fast-max-fraction": "0.2",
    "true-score-se": "fisher",
    "repeat-policy": "mean",
    "bt500-ddof": "0",
    "bt500-zero-variance": "literal",
    "corr-threshold": "0.5",
    "corr-coefficient": "spearman",
    "repeat-threshold": "0.1",
    "gold-threshold": "0.1",
    "scale": "1,5",
    "normalise-rule": "minmax",
    "normalise-range": "1,5",
    "splits": "20",
    "seed": "3",
    "confidence": "0.9",
}


def _report_parser_dests() -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "report" in a.choices)
    return {a.dest for a in subparsers.choices["report"]._actions}


def test_the_parser_holds_exactly_the_table_and_the_input_flags():
    table = {flag.name.replace("-", "_") for flag in ANALYSIS_FLAGS}
    assert _report_parser_dests() == table | INPUT_FLAGS


@pytest.mark.parametrize("flag", ANALYSIS_FLAGS, ids=lambda flag: flag.name)
def test_every_flag_changes_the_pipeline_options(flag):
    base = ["report", "ratings.csv", "--out", "report"]  # the full pipeline: every step on
    if flag.name.startswith("normalise-"):
        base.append("--normalise")  # the normalisation details act only when it is on
    given = [f"--{flag.name}"] if flag.switch else [f"--{flag.name}", OTHER_VALUES[flag.name]]
    parser = build_parser()
    assert _options(parser.parse_args(base + given)) != _options(parser.parse_args(base))


@pytest.mark.parametrize("flag", [f for f in ANALYSIS_FLAGS if f.options], ids=lambda f: f.name)
def test_each_flag_shows_the_standard_presets_value_of_the_options_it_sets(flag):
    from analysis.cli import _option_field

    defaults = {repr(_option_field(path)[2]) for path in flag.options}
    assert len(defaults) == 1, defaults  # a flag setting several options: one value for all
    _, hint, default = _option_field(flag.options[0])
    text = flag.argparse_kwargs()["help"] or ""
    if default is not None and not flag.switch:
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
        assert text.endswith(f"(standard preset: {shown})")


def test_choices_come_from_the_options_types():
    kwargs = {flag.name: flag.argparse_kwargs() for flag in ANALYSIS_FLAGS}
    assert kwargs["repeat-policy"]["choices"] == ("first", "mean", "all")
    assert kwargs["bt500-zero-variance"]["choices"] == ("skip", "literal")
    assert kwargs["normalise-rule"]["choices"] == ("fixed", "minmax", "none")
    assert kwargs["true-score-se"]["choices"] == ("p910", "fisher")
    assert kwargs["preset"]["choices"] == ("standard", "sureal")
    assert kwargs["bt500-ddof"]["type"] is int and kwargs["confidence"]["type"] is float
