"""Figures, the offline HTML report, the command line and the import boundary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis import figures
from analysis.cli import main
from analysis.pipeline import PipelineOptions, run_pipeline
from analysis.reliability import ReliabilityOptions
from analysis.report import write_report
from analysis.synthetic import SimulationOptions, simulate_study
from analysis.tests.helpers import shared_file

REPO = Path(__file__).resolve().parents[2]


def _result():
    study = simulate_study(
        SimulationOptions(
            n_stimuli=60,
            n_subjects=12,
            n_careless=1,
            seed=0,
            dimensions=("quality", "authenticity"),
            n_generators=2,
        )
    )
    return run_pipeline(study.ratings, PipelineOptions(reliability=ReliabilityOptions(n_splits=5)))


def _every_figure() -> list[go.Figure]:
    """One figure of each figure function, drawn from a small synthetic study."""
    result = _result()
    mos = result.mos.table
    values = mos.loc[mos.dimension == "quality", "mos"]
    return [
        figures.distribution_figure(values),
        figures.qq_figure(values),
        figures.mos_by_generator_figure(mos),
        figures.subject_model_figure(result.subject_model.subjects),
        figures.ci_width_figure(mos),
        figures.correlation_heatmap(pd.DataFrame(np.eye(2), index=["a", "b"], columns=["a", "b"])),
        figures.screening_figure(result.screening_table),
        figures.screening_figure(pd.DataFrame()),
        figures.bt500_ratio_figure(result.screening[0].subjects),
    ]


def test_every_figure_function_returns_a_figure():
    made = _every_figure()
    assert all(isinstance(f, go.Figure) for f in made)


def test_the_vendored_plotly_js_is_the_version_the_python_package_draws_for():
    import re

    import plotly

    from analysis.report import PLOTLY_JS

    full = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    version = re.compile(r"plotly\.js .*?v(\d+\.\d+\.\d+)")
    with full.open(encoding="utf-8") as bundled, PLOTLY_JS.open(encoding="utf-8") as ours:
        expected = version.search(bundled.read(300)).group(1)
        header = ours.read(300)
    assert (
        f"plotly.js (custom: bar, box, heatmap, histogram, scatter - minified) v{expected}"
        in header
    )
    assert "Licensed under the MIT license" in header
    assert (PLOTLY_JS.parent / "plotly.js-LICENSE.txt").read_text().startswith("MIT License")


def test_every_figure_has_a_title_and_axis_titles():
    made = _every_figure()
    for fig in made:
        layout = fig.to_plotly_json()["layout"]
        assert layout["title"]["text"], layout
        axes = [key for key in layout if key.startswith(("xaxis", "yaxis"))]
        assert axes and all(layout[key]["title"]["text"] for key in axes), layout["title"]


def test_report_is_self_contained(tmp_path):
    summary = write_report(_result(), tmp_path, title="demo")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("* plotly.js (custom") == 1  # the partial bundle, inlined once
    assert "<script src=" not in html and 'src="http' not in html
    assert len(html.encode()) < 2_000_000  # the full bundle alone was 4.8 MB
    for name in ("mos.csv", "mos_unscreened.csv", "screening.csv", "subjects.csv", "summary.json"):
        assert (tmp_path / name).exists(), name
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["files"] == summary["files"]
    assert pd.read_csv(tmp_path / "mos.csv").shape[0] == 120


def test_cli_report_on_real_ratings(tmp_path, capsys):
    path = shared_file("real-ratings", "vqeghd3_raw.csv")
    code = main(
        [
            "report",
            str(path),
            "--out",
            str(tmp_path),
            "--screening",
            "bt500,correlation",
            "--splits",
            "10",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "screening" in err and "wrote" in err
    screening = pd.read_csv(tmp_path / "screening.csv")
    assert screening.loc[screening.rejected_any, "subject"].tolist() == [12]


def test_cli_mos_and_screen_to_stdout(capsys):
    path = shared_file("real-ratings", "nflx_public_raw.csv")
    assert main(["mos", str(path), "--quiet", "--screening", "none"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("stimulus,dimension,n,mos,std")
    assert len(out.splitlines()) == 80
    assert main(["screen", str(path), "--quiet", "--bt500-ddof", "0"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert table.loc[table.rejected, "subject"].tolist() == [2]


def test_cli_distribution_and_factors(tmp_path, capsys):
    pku = shared_file("pku-i2iqa-mos", "mos.csv")
    code = main(
        [
            "distribution",
            str(pku),
            "--values",
            "mos_quality,mos_authenticity",
            "--generator-from",
            "image",
            "--out",
            str(tmp_path / "d"),
        ]
    )
    assert code == 0
    fits = pd.read_csv(tmp_path / "d" / "distribution.csv")
    assert set(fits["group"]) == {"all", "MJ", "SD"}
    html = (tmp_path / "d" / "distribution.html").read_text(encoding="utf-8")
    assert html.count("* plotly.js (custom") == 1
    small = pd.DataFrame(
        {
            "name": [f"{g}_{i:04d}.png" for g in ("A", "B", "C") for i in range(20)],
            "mos": np.r_[np.linspace(1, 2, 20), np.linspace(2, 3, 20), np.linspace(1.5, 2.5, 20)],
        }
    )
    small.to_csv(tmp_path / "small.csv", index=False)
    assert (
        main(
            [
                "factors",
                str(tmp_path / "small.csv"),
                "--values",
                "mos",
                "--generator-from",
                "name",
                "--out",
                str(tmp_path / "f"),
            ]
        )
        == 0
    )
    anova = pd.read_csv(tmp_path / "f" / "anova_0.csv")
    assert anova.loc[0, "term"] == "C(generator)"
    assert len(pd.read_csv(tmp_path / "f" / "tukey_hsd.csv")) == 3


def test_cli_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("stimulus,subject,score\n1,a,good\n")
    assert main(["mos", str(bad), "--quiet"]) == 2
    assert "non-numeric" in capsys.readouterr().err
    assert main(["mos", str(tmp_path / "missing.csv"), "--quiet"]) == 2


def test_help_texts(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("report", "mos", "screen", "subject-model", "distribution", "factors"):
        assert command in out


def test_import_is_cheap_and_django_free():
    code = (
        "import sys, analysis\n"
        "heavy = [m for m in ('django', 'plotly', 'statsmodels', 'scipy', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import analysis.pipeline, analysis.cli, analysis.report, analysis.figures, analysis.factors\n"
        "assert 'django' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
