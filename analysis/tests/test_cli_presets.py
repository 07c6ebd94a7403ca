"""The command line's preset, warning lines, --strict and one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.cli import _options, build_parser, main
from analysis.pipeline import run_pipeline
from analysis.presets import sureal_options
from analysis.synthetic import SimulationOptions, simulate_study
from analysis.tests.helpers import ratings_from_matrix, shared_file


def _parsed(*flags: str):
    return _options(build_parser().parse_args(["report", "ratings.csv", "--out", "out", *flags]))


def test_preset_sureal_is_the_librarys_sureal_options():
    assert _parsed("--preset", "sureal") == sureal_options()


def test_flags_given_override_the_preset_and_the_rest_stay():
    options = _parsed("--preset", "sureal", "--true-score-se", "fisher", "--repeat-policy", "mean")
    sureal = sureal_options()
    assert options.subject_model is not None and sureal.subject_model is not None
    assert options.subject_model.true_score_se == "fisher"
    assert options.repeat_policy == "mean"
    assert options.subject_model.variance_epsilon == sureal.subject_model.variance_epsilon
    assert options.screening.bt500 == sureal.screening.bt500


def test_new_flags_reach_the_library_options():
    options = _parsed(
        "--screening",
        "bt500,response_time",
        "--bt500-denominator",
        "presentations",
        "--bt500-pool-repeats",
        "--keep-unscreened",
        "--too-fast-seconds",
        "0.5",
        "--too-fast-max-fraction",
        "0",
    )
    screening = options.screening
    assert screening.methods == ("bt500", "response_time")
    assert screening.bt500.denominator == "presentations" and screening.bt500.pool_repeats
    assert screening.if_all_rejected == "keep_unscreened"
    assert (screening.response_time.min_seconds, screening.response_time.max_fraction) == (0.5, 0)


def test_cli_with_preset_sureal_gives_the_librarys_sureal_mos(tmp_path, capsys):
    path = shared_file("real-ratings", "nflx_public_raw.csv")
    assert main(["mos", str(path), "--quiet", "--preset", "sureal"]) == 0
    printed = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    raw = pd.read_csv(path).rename(
        columns={"stimulus_id": "stimulus", "subject_id": "subject", "repetition": "repeat"}
    )
    expected = run_pipeline(raw, sureal_options()).mos.table
    merged = printed.merge(expected, on=["stimulus", "dimension"], suffixes=("", "_lib"))
    assert len(merged) == len(expected) == len(printed)
    np.testing.assert_allclose(merged["mos"], merged["mos_lib"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(merged["ci_z"], merged["ci_z_lib"], rtol=0, atol=1e-9)


def _panel_with_careless_subject(tmp_path):
    study = simulate_study(
        SimulationOptions(
            n_stimuli=60, n_subjects=20, n_careless=1, seed=0, inconsistency_range=(0.2, 0.5)
        )
    )
    path = tmp_path / "ratings.csv"
    study.ratings.to_csv(path, index=False)
    return path


def test_each_warning_is_one_stderr_line_and_strict_exits_2(tmp_path, capsys):
    path = _panel_with_careless_subject(tmp_path)
    flags = ["--quiet", "--screening", "bt500,correlation"]
    assert main(["screen", str(path), *flags]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert warnings and all(line.startswith("warning: subject_rejected: ") for line in warnings)
    assert main(["screen", str(path), *flags, "--strict"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing written
    assert captured.err.splitlines()[-1].startswith("error: --strict: ")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--confidence", "1.5"], "error: option mos.confidence: must be a number strictly"),
        (["--too-fast-seconds", "61"], "error: option --too-fast-seconds: must lie in (0, 60]"),
        (["--too-fast-max-fraction", "1"], "error: option response_time.max_fraction"),
        (["--preset", "sureal", "--confidence", "0.9"], "error: option mos.z_constant"),
        (["--screening", "kurtosis"], "error: option --screening: unknown method(s) kurtosis"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(tmp_path, capsys, flags, message):
    path = _panel_with_careless_subject(tmp_path)
    assert main(["mos", str(path), "--quiet", *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err and captured.out == ""


def test_every_subject_rejected_is_one_line_exit_2_or_kept_with_a_warning(tmp_path, capsys):
    path = tmp_path / "agree.csv"
    ratings_from_matrix(np.repeat(np.arange(1, 6, dtype=float)[:, None], 6, axis=1)).to_csv(
        path, index=False
    )
    literal = ["--quiet", "--bt500-ddof", "0", "--bt500-zero-variance", "literal"]
    assert main(["mos", str(path), *literal]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: screening rejects every subject") and err.count("\n") == 1
    assert main(["mos", str(path), *literal, "--keep-unscreened"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: all_subjects_rejected_kept_unscreened: ")
