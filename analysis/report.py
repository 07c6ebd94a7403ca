"""Write a pipeline result as CSV tables, a JSON summary and a self-contained HTML report.

The HTML embeds plotly.js inline exactly once (no CDN) so it opens in an offline lab: the
partial bundle in ``analysis/vendor`` (1.2 MB, the trace types our figures use), not the
full 4.8 MB one. Pages fit a 1,366 px window: figures take the page's width and wide
tables scroll inside their own box.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.pairwise.pipeline import PairwisePipelineResult
from analysis.pipeline import PipelineResult
from analysis.provenance import LIBRARY_VERSION
from common.jsonable import jsonable
from common.progress import Progress

MAX_QQ_POINTS = 3000
MAX_TABLE_ROWS = 60
PLOTLY_JS = Path(__file__).resolve().parent / "vendor" / "js" / "plotly-custom.min.js"
FIGURE_CONFIG = {"responsive": True, "displaylogo": False}
STYLE = (
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
    "color:#222}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "table.t{border-collapse:collapse;font-size:12px;margin:1em 0}"
    ".t td,.t th{border-bottom:1px solid #ddd;padding:2px 6px;text-align:right}"
    ".note{color:#666;font-size:12px}"
    ".plotly-graph-div{max-width:100%}"
)


def figure_div(fig: object, height: int = 420) -> str:
    """One figure as a <div> and its drawing call; plotly.js itself comes from :func:`html_page`."""
    return fig.to_html(  # type: ignore[attr-defined]
        full_html=False,
        include_plotlyjs=False,
        config=FIGURE_CONFIG,
        default_width="100%",
        default_height=f"{height}px",
    )


def html_page(title: str, body: str) -> str:
    """A complete, offline HTML document with plotly.js inlined once in its head."""
    plotly_js = PLOTLY_JS.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<script>{plotly_js}</script></head><body>{body}</body></html>"
    )


def write_tables(result: PipelineResult | PairwisePipelineResult, out_dir: Path) -> list[str]:
    """One CSV per table of :meth:`PipelineResult.tables`; returns the file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for stem, table in result.tables().items():
        if table is None or table.empty:
            continue
        table.to_csv(out_dir / f"{stem}.csv", index=False)
        names.append(f"{stem}.csv")
    return names


def table_html(table: pd.DataFrame, max_rows: int = MAX_TABLE_ROWS) -> str:
    shown = table.head(max_rows)
    body = shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="t")
    body = f"<div class='scroll'>{body}</div>"
    if len(table) > max_rows:
        body += f"<p class='note'>first {max_rows} of {len(table)} rows; full table in CSV</p>"
    return body


def _figures(result: PipelineResult) -> list[tuple[str, object]]:
    from analysis import figures
    from analysis.factors import dimension_correlations

    figs: list[tuple[str, object]] = [
        ("Screening", figures.screening_figure(result.screening_table))
    ]
    for screening in result.screening:
        if screening.method == "bt500":
            figs.append(("Screening", figures.bt500_ratio_figure(screening.subjects)))
    mos = result.mos.table
    figs.append(("MOS", figures.ci_width_figure(mos)))
    for dim, part in mos.groupby("dimension", observed=True):
        values = part["mos"].dropna()
        if values.nunique() < 2:
            continue
        figs.append(
            (
                "Distributions",
                figures.distribution_figure(values, f"MOS distribution: {dim}"),
            )
        )
        sample = values.sample(min(len(values), MAX_QQ_POINTS), random_state=0)
        figs.append(
            ("Distributions", figures.qq_figure(sample, f"Normal Q-Q: {dim} (n≤{MAX_QQ_POINTS})"))
        )
        if "generator" in part.columns and part["generator"].nunique() > 1:
            figs.append(
                (
                    "Generators",
                    figures.mos_by_generator_figure(part, title=f"MOS by generator: {dim}"),
                )
            )
    wide = mos.pivot(index="stimulus", columns="dimension", values="mos")
    if wide.shape[1] > 1 and len(wide.dropna()) >= 3:
        corr = dimension_correlations(wide, list(wide.columns))
        figs.append(
            ("Dimensions", figures.correlation_heatmap(corr.spearman, "Spearman correlation"))
        )
    if result.subject_model is not None and not result.subject_model.subjects.empty:
        figs.append(("Subject model", figures.subject_model_figure(result.subject_model.subjects)))
    return figs


def _figure_sections(result: PipelineResult, progress: Progress | None) -> dict[str, list[str]]:
    """Each section's figures as HTML (plotly.js is inlined once, by :func:`html_page`)."""
    sections: dict[str, list[str]] = {}
    figures_built = _figures(result)
    for index, (section, fig) in enumerate(figures_built):
        if progress:
            progress(f"figure: {section}", index, len(figures_built))
        sections.setdefault(section, []).append(figure_div(fig))
    return sections


def _screening_html(result: PipelineResult) -> list[str]:
    table = result.screening_table
    if "rejected_any" not in table.columns:
        return []
    rejected = table.loc[table["rejected_any"]]
    parts = [f"<h2>Screening</h2><p>{len(rejected)} (subject, dimension) decision(s) rejected.</p>"]
    if len(rejected):
        parts.append(table_html(rejected))
    return parts


def _warnings_html(result: PipelineResult) -> list[str]:
    """Every structured warning: the data a choice left out, so nothing is lost silently."""
    if not result.warnings:
        return []
    items = "".join(
        f"<li><code>{html.escape(warning.code)}</code> {html.escape(warning.message)}</li>"
        for warning in result.warnings
    )
    return [f"<h2>Warnings: data left out</h2><ul class='warnings'>{items}</ul>"]


def _results_html(result: PipelineResult, sections: dict[str, list[str]]) -> list[str]:
    """MOS, distributions, generators, dimensions and the subject model: figures and tables."""
    mos_columns = ["n", "mos", "std", "ci_t", "ci_z"]
    mos_means = result.mos.table.groupby("dimension", observed=True)[mos_columns].mean()
    parts = ["<h2>MOS</h2>", table_html(mos_means.reset_index())]
    for name in ("MOS", "Distributions", "Generators", "Dimensions", "Subject model"):
        divs = sections.pop(name, [])
        if name != "MOS" and divs:
            parts.append(f"<h2>{name}</h2>")
        parts += divs
        if name == "Distributions" and result.distribution is not None:
            parts.append(table_html(result.distribution))
        if name == "Subject model" and result.subject_model is not None:
            parts.append(table_html(result.subject_model.fit))
    return parts


def _reliability_html(result: PipelineResult) -> list[str]:
    if result.reliability is None:
        return []
    tables = (
        result.reliability.split_half,
        result.reliability.icc,
        result.reliability.krippendorff,
    )
    return ["<h2>Reliability</h2>", *(table_html(table) for table in tables if not table.empty)]


def _methods_html(result: PipelineResult) -> str:
    methods = [result.mos.provenance.to_dict()]
    methods += [screening.provenance.to_dict() for screening in result.screening]
    for extra in (result.subject_model, result.reliability, result.normalisation):
        if extra is not None:
            methods.append(extra.provenance.to_dict())
    rows = "".join(
        f"<tr><td>{html.escape(method['method'])}</td><td>{html.escape(method['version'])}</td>"
        f"<td>{html.escape(method['standard'])}</td></tr>"
        for method in methods
    )
    head = "<tr><th>method</th><th>version</th><th>standard</th></tr>"
    return f"<h2>Methods</h2><table class='t'>{head}{rows}</table>"


def write_html(
    result: PipelineResult, path: Path, title: str, progress: Progress | None = None
) -> None:
    sections = _figure_sections(result, progress)
    summary = result.to_summary()
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts.append(
        f"<p>analysis library {LIBRARY_VERSION}: {summary['n_input_ratings']} ratings in, "
        f"{summary['n_used_ratings']} used, {summary['n_stimuli']} stimuli, dimensions "
        f"{html.escape(', '.join(summary['dimensions']))}.</p>"
    )
    parts += _screening_html(result)
    parts += sections.pop("Screening", [])
    parts += _warnings_html(result)
    if result.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in result.notes)
        parts.append(f"<h2>Notes</h2><ul>{items}</ul>")
    parts += _results_html(result, sections)
    parts += _reliability_html(result)
    parts.append(_methods_html(result))
    path.write_text(html_page(title, "".join(parts)), encoding="utf-8")


def write_report(
    result: PipelineResult,
    out_dir: str | Path,
    title: str = "Subjective study analysis",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """CSV tables + ``summary.json`` + ``report.html`` in ``out_dir``; returns the summary.

    ``progress`` (:data:`common.progress.Progress`) hears the tables, then each figure."""
    return _report_files_write(result, Path(out_dir), title, progress, write_html)


# Pairwise studies: the same page shape for a PairwisePipelineResult.
MAX_GROUP_FIGURES = 12
MAX_PREFERENCE_FIGURES = 6


def pairwise_figures(
    result: PairwisePipelineResult, groups: list[str] | None = None
) -> list[tuple[str, object]]:
    """(section, figure) of a pairwise result: per dimension the scale of ``groups`` (default
    the first :data:`MAX_GROUP_FIGURES`) and their preference matrices (the first
    :data:`MAX_PREFERENCE_FIGURES`), then the subjects' consistency and outlier charts."""
    from analysis import figures

    options = result.options
    confidence = options.bootstrap.confidence if options.bootstrap is not None else None
    figs: list[tuple[str, object]] = []
    for dimension in result.dimensions:
        label = f": {dimension}" if dimension else ""
        shown = groups if groups is not None else result.groups(dimension)[:MAX_GROUP_FIGURES]
        scores = result.scores.loc[
            (result.scores["dimension"] == dimension) & result.scores["group"].isin(shown)
        ]
        figs.append(
            (
                "Scale",
                figures.pairwise_scale_figure(
                    scores, f"Scale{label}", unit=result.unit, confidence=confidence
                ),
            )
        )
        for group in shown[:MAX_PREFERENCE_FIGURES]:
            matrix = result.preference.get((dimension, group))
            if matrix is not None:
                figs.append(
                    (
                        "Preference matrices",
                        figures.preference_heatmap(
                            matrix, f"Preference matrix{label}, group {group}"
                        ),
                    )
                )
    screening = options.screening
    figs.append(
        (
            "Subjects",
            figures.pairwise_consistency_figure(
                result.subjects,
                max_repeat_inconsistency=screening.max_repeat_inconsistency,
                max_circular_share=screening.max_circular_share,
            ),
        )
    )
    figs.append(
        (
            "Subjects",
            figures.pairwise_outlier_figure(result.subjects, screening.outlier_distance),
        )
    )
    return figs


def write_pairwise_html(
    result: PairwisePipelineResult, path: Path, title: str, progress: Progress | None = None
) -> None:
    figs = pairwise_figures(result)
    sections: dict[str, list[str]] = {}
    for index, (section, fig) in enumerate(figs):
        if progress:
            progress(f"figure: {section}", index, len(figs))
        sections.setdefault(section, []).append(figure_div(fig))
    summary = result.to_summary()
    n_groups = summary["n_groups"]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>analysis library {LIBRARY_VERSION}, pairwise comparisons, "
        f"{html.escape(result.options.scaling.method)} scale in {result.unit}: "
        f"{summary['n_input_choices']} choices in, {summary['n_used_choices']} used, "
        f"{summary['n_subjects']} subjects, {n_groups} groups, {summary['n_stimuli']} stimuli"
        + (
            f", dimensions {html.escape(', '.join(summary['dimensions']))}"
            if any(summary["dimensions"])
            else ""
        )
        + ".</p>",
    ]
    if result.warnings:
        items = "".join(f"<li>{html.escape(warning)}</li>" for warning in result.warnings)
        parts.append(f"<h2>Warnings: data left out</h2><ul class='warnings'>{items}</ul>")
    parts.append("<h2>Scale</h2>")
    if n_groups > MAX_GROUP_FIGURES:
        parts.append(
            f"<p class='note'>charts show the first {MAX_GROUP_FIGURES} of {n_groups} groups; "
            "every group is in scores.csv and preference.csv</p>"
        )
    parts += sections.get("Scale", [])
    parts.append(table_html(result.scores))
    parts.append("<h2>Preference matrices</h2>")
    parts += sections.get("Preference matrices", [])
    parts.append("<h2>Subjects</h2>")
    parts += sections.get("Subjects", [])
    parts.append(table_html(result.subjects))
    parts.append(_pairwise_methods_html())
    path.write_text(html_page(title, "".join(parts)), encoding="utf-8")


def _pairwise_methods_html() -> str:
    from analysis.pairwise import screening

    methods = (
        (
            "pairwise scaling",
            "Thurstone Case V (pwcmp pw_scale) or Bradley-Terry ML, "
            "subject-bootstrap percentile CIs",
        ),
        (screening.REPEAT_METHOD, "hidden repeats with sides swapped"),
        (screening.TRANSITIVITY_METHOD, "circular triads (Kendall and Babington Smith 1940)"),
        (screening.OUTLIER_METHOD, "pwcmp pw_outlier_analysis (Perez-Ortiz and Mantiuk 2017)"),
    )
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(text)}</td></tr>"
        for name, text in methods
    )
    return f"<h2>Methods</h2><table class='t'><tr><th>method</th><th>what</th></tr>{rows}</table>"


def write_pairwise_report(
    result: PairwisePipelineResult,
    out_dir: str | Path,
    title: str = "Pairwise comparison study analysis",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``scores.csv``, ``subjects.csv``, ``preference.csv``, ``summary.json`` and
    ``report.html`` in ``out_dir``; returns the summary."""
    return _report_files_write(result, Path(out_dir), title, progress, write_pairwise_html)


def _report_files_write(
    result: PipelineResult | PairwisePipelineResult,
    out: Path,
    title: str,
    progress: Progress | None,
    page_writer: Callable,
) -> dict[str, Any]:
    """Tables, summary.json and report.html (by ``page_writer``) of either report."""
    if progress:
        progress("writing tables", 0, 1)
    files = write_tables(result, out)
    summary = result.to_summary()
    summary["files"] = [*files, "summary.json", "report.html"]
    (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=2), encoding="utf-8")
    page_writer(result, out / "report.html", title, progress)
    return summary
