"""Pairwise figures, the offline pairwise report and ``python -m analysis pairwise``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis import figures
from analysis.cli import main
from analysis.pairwise import BootstrapOptions, PairwisePipelineOptions, pairwise_pipeline_run
from analysis.pairwise.synthetic import full_design_study
from analysis.report import pairwise_figures, write_pairwise_report
from analysis.tests.helpers import shared_file


def _result():
    study = full_design_study(
        n_groups=3, group_size=5, n_subjects=10, repeats=2, behaviour={"s03": "left"}, seed=4
    )
    options = PairwisePipelineOptions(bootstrap=BootstrapOptions(n_resamples=30))
    return pairwise_pipeline_run(study.choices.assign(dimension="quality"), options)


def _labelled(fig: go.Figure) -> None:
    layout = fig.layout
    assert layout.title.text
    assert layout.xaxis.title.text and layout.yaxis.title.text


def test_every_pairwise_figure_is_labelled():
    result = _result()
    figs = pairwise_figures(result)
    assert {section for section, _ in figs} == {"Scale", "Preference matrices", "Subjects"}
    for _, fig in figs:
        _labelled(fig)  # type: ignore[arg-type]
    scale = figures.pairwise_scale_figure(result.scores, unit="JOD")
    assert "95% bootstrap CI" in scale.layout.title.text
    assert "JOD" in scale.layout.yaxis.title.text
    assert len(scale.data) == 3 and scale.data[0].error_y.array is not None
    heatmap = figures.preference_heatmap(result.preference[("quality", "g0")])
    assert heatmap.data[0].colorbar.title.text == "wins (row over column)"


def test_report_writes_tables_summary_and_offline_html(tmp_path: Path):
    summary = write_pairwise_report(_result(), tmp_path)
    assert summary["files"] == [
        "scores.csv",
        "subjects.csv",
        "preference.csv",
        "summary.json",
        "report.html",
    ]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script src=" not in page and 'src="http' not in page
    assert "Preference matrix: quality, group g0" in page
    assert "subject s03 rejected" in page
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns)[:4] == ["dimension", "group", "stimulus", "score"]
    assert json.loads((tmp_path / "summary.json").read_text())["excluded_subjects"] == ["s03"]


def test_cli_on_the_real_lukas_study(tmp_path: Path, capsys):
    path = shared_file("real-pairwise", "lukas_spie14_pc.csv")
    code = main(
        [
            "pairwise",
            str(path),
            "--winner",
            "winner_id",
            "--loser",
            "loser_id",
            "--subject",
            "subject_id",
            "--group",
            "content",
            "--resamples",
            "50",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == 40 and scores["group"].nunique() == 5
    assert (scores["ci_low"] <= scores["score"]).all() and (
        scores["score"] <= scores["ci_high"]
    ).all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_input_choices"] == 2128 and summary["n_subjects"] == 31
    err = capsys.readouterr().err
    assert "warning: subject" in err  # the real panel has inconsistent observers


def test_cli_site_export_with_no_screening(tmp_path: Path):
    study = full_design_study(n_groups=2, group_size=4, n_subjects=6, seed=2)
    path = tmp_path / "choices.csv"
    study.choices.assign(dimension="", trial=1, too_fast=0, repeat=0).to_csv(path, index=False)
    out = tmp_path / "out"
    assert (
        main(
            [
                "pairwise",
                str(path),
                "--resamples",
                "0",
                "--no-screening",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert pd.read_csv(out / "scores.csv")["se"].isna().all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--winner", "nope", "--loser", "loser_id"], "--winner names column 'nope'"),
        (["--resamples", "1"], "bootstrap.n_resamples"),
    ],
)
def test_cli_bad_input_is_one_error_line(tmp_path: Path, capsys, args, message):
    path = tmp_path / "winners.csv"
    pd.DataFrame({"subject": ["a", "b"], "winner_id": ["x", "y"], "loser_id": ["y", "x"]}).to_csv(
        path, index=False
    )
    if "--winner" not in args:
        args = [*args, "--winner", "winner_id", "--loser", "loser_id"]
    assert main(["pairwise", str(path), *args, "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
