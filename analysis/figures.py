"""Plotly figures. Every function returns a ``go.Figure``; none shows or writes anything.

Computation lives in the other modules; these functions only draw tables they are given,
so the same numbers appear in the CSV exports and in the plots. Every figure has a title,
axis titles with units ("scale points" are the study's rating scale) and a legend or colour
bar, both in the HTML report and on the site, which draws these figures from their JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.distribution import GaussianFit, fit_gaussian, histogram_data, qq_data

TEMPLATE = "plotly_white"
SCALE_UNIT = "scale points"


def distribution_figure(
    values: Sequence[float] | np.ndarray | pd.Series,
    title: str = "MOS distribution",
    fit: GaussianFit | None = None,
    bins: int | str = "auto",
    value_label: str = "MOS",
) -> go.Figure:
    """Density histogram with the fitted Gaussian curve and its parameters in the legend."""
    fit = fit or fit_gaussian(values)
    hist, curve = histogram_data(values, bins)
    fig = go.Figure()
    fig.add_bar(
        x=(hist["left"] + hist["right"]) / 2,
        y=hist["density"],
        width=(hist["right"] - hist["left"]),
        name=f"histogram (n={fit.n})",
        marker_color="#7f9fbf",
        opacity=0.75,
    )
    fig.add_scatter(
        x=curve["x"],
        y=curve["pdf"],
        mode="lines",
        name=f"N(μ={fit.mean:.3f}, σ={fit.sigma:.3f})",
        line={"color": "#c0392b", "width": 2},
    )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis_title=f"{value_label} ({SCALE_UNIT})",
        yaxis_title=f"density (share per {SCALE_UNIT[:-1]})",
        bargap=0,
        showlegend=True,
    )
    return fig


def qq_figure(
    values: Sequence[float] | np.ndarray | pd.Series, title: str = "Normal Q-Q"
) -> go.Figure:
    qq = qq_data(values)
    fig = go.Figure()
    fig.add_scatter(
        x=qq["theoretical"],
        y=qq["sample"],
        mode="markers",
        name="ordered values",
        marker={"size": 4, "color": "#34495e"},
    )
    fig.add_scatter(
        x=qq["theoretical"],
        y=qq["line"],
        mode="lines",
        name="least-squares line",
        line={"color": "#c0392b"},
    )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis_title="theoretical normal quantile (standard deviations)",
        yaxis_title=f"sample quantile ({SCALE_UNIT})",
        showlegend=True,
    )
    return fig


def mos_by_generator_figure(
    table: pd.DataFrame, value: str = "mos", by: str = "generator", title: str | None = None
) -> go.Figure:
    """Box plot of a MOS column per generator, generators ordered by median."""
    order = table.groupby(by, observed=True)[value].median().sort_values(ascending=False).index
    fig = go.Figure()
    for level in order:
        fig.add_box(y=table.loc[table[by] == level, value], name=str(level), boxmean=True)
    value_label = "MOS" if value == "mos" else value
    fig.update_layout(
        title=title or f"{value_label} by {by}",
        template=TEMPLATE,
        showlegend=True,
        legend_title_text=f"{by} (box: quartiles; dashed: mean)",
        yaxis_title=f"{value_label} ({SCALE_UNIT})",
        xaxis_title=by,
    )
    return fig


def subject_model_figure(
    subjects: pd.DataFrame, title: str = "Subject bias and inconsistency"
) -> go.Figure:
    """Per-subject bias and inconsistency with their confidence intervals (one row per dimension
    stacked as separate traces)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("bias Δ", "inconsistency υ"))
    for dim, part in subjects.groupby("dimension", observed=True):
        subject_labels = part["subject"].astype(str)
        for col, stat in enumerate(("bias", "inconsistency"), start=1):
            fig.add_scatter(
                x=subject_labels,
                y=part[stat],
                mode="markers",
                name=f"{dim} {stat}",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": part[f"{stat}_ci_high"] - part[stat],
                    "arrayminus": part[stat] - part[f"{stat}_ci_low"],
                },
                row=1,
                col=col,
            )
    fig.add_hline(y=0, line_dash="dot", row=1, col=1)
    fig.update_layout(title=title, template=TEMPLATE, showlegend=True)
    fig.update_xaxes(title_text="subject", type="category")
    fig.update_yaxes(title_text=f"bias Δ ({SCALE_UNIT})", row=1, col=1)
    fig.update_yaxes(title_text=f"inconsistency υ ({SCALE_UNIT})", row=1, col=2)
    return fig


def ci_width_figure(
    mos: pd.DataFrame, title: str = "95% CI width vs number of ratings"
) -> go.Figure:
    """Full CI width (t and z) against ratings per stimulus, with the median per n."""
    data = mos.dropna(subset=["ci_t"])
    fig = go.Figure()
    for col, name in (("ci_t", "Student t"), ("ci_z", "normal z")):
        med = data.groupby("n")[col].median() * 2
        fig.add_scatter(x=med.index, y=med.to_numpy(), mode="lines+markers", name=f"median, {name}")
    sample = data.sample(min(len(data), 5000), random_state=0) if len(data) else data
    fig.add_scatter(
        x=sample["n"],
        y=2 * sample["ci_t"],
        mode="markers",
        name="stimuli (t)",
        opacity=0.3,
        marker={"size": 4},
    )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis_title="ratings per stimulus (count)",
        yaxis_title=f"CI width, upper − lower ({SCALE_UNIT})",
    )
    return fig


def correlation_heatmap(
    matrix: pd.DataFrame, title: str = "Correlation between dimensions"
) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=[str(c) for c in matrix.columns],
            y=[str(i) for i in matrix.index],
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            text=np.round(matrix.to_numpy(), 3),
            texttemplate="%{text}",
            colorbar={"title": {"text": "correlation"}},
        )
    )
    fig.update_layout(
        title=title, template=TEMPLATE, xaxis_title="dimension", yaxis_title="dimension"
    )
    return fig


def screening_figure(
    screening_table: pd.DataFrame, title: str = "Screening decisions"
) -> go.Figure:
    """Heatmap subject x (dimension, method): 1 = rejected."""
    methods = [
        c for c in screening_table.columns if c.startswith("rejected_") and c != "rejected_any"
    ]
    if screening_table.empty or not methods:
        fig = go.Figure()
        fig.update_layout(
            title=f"{title}: no screening run",
            template=TEMPLATE,
            xaxis_title="dimension / screening method",
            yaxis_title="subject",
        )
        return fig
    long = screening_table.melt(
        id_vars=["subject", "dimension"], value_vars=methods, var_name="method", value_name="rej"
    )
    long["column"] = (
        long["dimension"].astype(str) + " / " + long["method"].str.removeprefix("rejected_")
    )
    grid = long.pivot_table(index="subject", columns="column", values="rej", aggfunc="max")
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(dtype=float),
            x=list(grid.columns),
            y=[str(s) for s in grid.index],
            zmin=0,
            zmax=1,
            colorscale=[[0, "#ecf0f1"], [1, "#c0392b"]],
            colorbar={
                "title": {"text": "decision"},
                "tickvals": [0, 1],
                "ticktext": ["kept", "rejected"],
            },
        )
    )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis_title="dimension / screening method",
        yaxis={"type": "category", "title": {"text": "subject"}},
    )
    return fig


def bt500_ratio_figure(bt500_subjects: pd.DataFrame, ratio_threshold: float = 0.05) -> go.Figure:
    """BT.500 (P+Q)/N per subject, coloured by decision, with the 0.05 threshold."""
    fig = go.Figure()
    for rejected, colour in ((False, "#2c3e50"), (True, "#c0392b")):
        part = bt500_subjects[bt500_subjects["rejected"] == rejected]
        fig.add_bar(
            x=part["subject"].astype(str) + " " + part["dimension"].astype(str),
            y=part["ratio"],
            name="rejected" if rejected else "kept",
            marker_color=colour,
            customdata=np.stack([part["P"], part["Q"], part["asymmetry"]], axis=-1),
            hovertemplate="P=%{customdata[0]} Q=%{customdata[1]} |P-Q|/(P+Q)=%{customdata[2]:.3f}",
        )
    fig.add_hline(
        y=ratio_threshold,
        line_dash="dash",
        name=f"rejection threshold ({ratio_threshold})",
        showlegend=True,
    )
    fig.update_layout(
        title="BT.500 (P+Q)/N per subject",
        template=TEMPLATE,
        showlegend=True,
        xaxis_title="subject and dimension",
        yaxis_title="(P+Q)/N: share of outlying scores",
    )
    return fig


# Pairwise studies (analysis.pairwise.pipeline): the scale, preference matrices, subjects.


def pairwise_scale_figure(
    scores: pd.DataFrame,
    title: str = "Scale with confidence intervals",
    unit: str = "JOD",
    confidence: float | None = 0.95,
) -> go.Figure:
    """One marker per stimulus at its score with its CI as an error bar, one trace per group.

    ``scores`` has the pipeline's ``scores`` columns (one dimension; pass a few groups: a
    study's thousands of groups belong in the table, not one chart). Stimuli are ordered by
    score within their group."""
    fig = go.Figure()
    ordered = scores.sort_values(["group", "score"], ascending=[True, False])
    has_ci = ordered["ci_low"].notna().any()
    for group, part in ordered.groupby("group", sort=True):
        error = None
        if has_ci:
            error = {
                "type": "data",
                "symmetric": False,
                "array": (part["ci_high"] - part["score"]).to_numpy(),
                "arrayminus": (part["score"] - part["ci_low"]).to_numpy(),
                "thickness": 1.5,
            }
        fig.add_scatter(
            x=part["stimulus"].astype(str).to_list(),
            y=part["score"].to_numpy(),
            mode="markers",
            name=f"group {group}",
            error_y=error,
            marker={"size": 8},
            customdata=np.stack([part["comparisons"], part["wins"]], axis=1),
            hovertemplate="%{x}<br>score %{y:.3f}<br>comparisons %{customdata[0]}"
            "<br>wins %{customdata[1]}<extra>%{fullData.name}</extra>",
        )
    interval = f"{confidence:.0%} bootstrap CI" if has_ci and confidence else "no CI"
    fig.update_layout(
        title=f"{title} ({interval})",
        template=TEMPLATE,
        xaxis={"type": "category", "title": {"text": "stimulus (by score within group)"}},
        yaxis_title=f"score ({unit}, mean 0 per group)",
        showlegend=True,
    )
    return fig


def preference_heatmap(
    matrix: pd.DataFrame, title: str = "Preference matrix", max_labels: int = 40
) -> go.Figure:
    """Wins of the row stimulus over the column stimulus (a "no preference" counts half)."""
    values = matrix.to_numpy(dtype=float)
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=[str(c) for c in matrix.columns],
            y=[str(i) for i in matrix.index],
            colorscale="Blues",
            zmin=0,
            text=values if len(matrix) <= max_labels else None,
            texttemplate="%{text}" if len(matrix) <= max_labels else None,
            hovertemplate="%{y} over %{x}: %{z} wins<extra></extra>",
            colorbar={"title": {"text": "wins (row over column)"}},
        )
    )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis={"type": "category", "title": {"text": "loser (column stimulus)"}},
        yaxis={
            "type": "category",
            "title": {"text": "winner (row stimulus)"},
            "autorange": "reversed",
        },
    )
    return fig


def pairwise_consistency_figure(
    subjects: pd.DataFrame,
    title: str = "Consistency per subject",
    max_repeat_inconsistency: float | None = None,
    max_circular_share: float | None = None,
) -> go.Figure:
    """Each subject at (swapped-repeat inconsistency, circular triad share), kept or rejected.

    Subjects a check did not judge (too few repeats or triads) sit at 0 on that axis with an
    open marker; the dashed lines are the screening thresholds."""
    fig = go.Figure()
    for rejected, name, colour in ((False, "kept", "#2c7fb8"), (True, "rejected", "#c0392b")):
        part = subjects.loc[subjects["rejected"] == rejected]
        if part.empty:
            continue
        judged = part["repeat_inconsistency"].notna() & part["circular_share"].notna()
        fig.add_scatter(
            x=part["repeat_inconsistency"].fillna(0.0).to_numpy(),
            y=part["circular_share"].fillna(0.0).to_numpy(),
            mode="markers",
            name=f"{name} ({len(part)})",
            text=[
                f"{s} ({d})" if d else str(s)
                for s, d in zip(part["subject"], part["dimension"], strict=True)
            ],
            customdata=part["reasons"].to_numpy(),
            hovertemplate="%{text}<br>repeat inconsistency %{x:.2f}<br>circular share %{y:.2f}"
            "<br>%{customdata}<extra></extra>",
            marker={
                "size": 9,
                "color": colour,
                "symbol": np.where(judged, "circle", "circle-open").tolist(),
            },
        )
    if max_repeat_inconsistency is not None:
        fig.add_vline(x=max_repeat_inconsistency, line_dash="dash", line_color="#7f8c8d")
    if max_circular_share is not None:
        fig.add_hline(y=max_circular_share, line_dash="dash", line_color="#7f8c8d")
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis={
            "title": {"text": "changed preference on swapped repeats (share)"},
            "range": [-0.05, 1.05],
        },
        yaxis={
            "title": {"text": "circular triads (share of complete triads)"},
            "range": [-0.05, 1.05],
        },
        showlegend=True,
    )
    return fig


def pairwise_outlier_figure(subjects: pd.DataFrame, threshold: float | None = None) -> go.Figure:
    """pwcmp outlier distance per subject (IQRs below the first quartile; 0 = not below)."""
    ordered = subjects.sort_values("outlier_distance", ascending=False, na_position="last")
    labels = [
        f"{s} ({d})" if d else str(s)
        for s, d in zip(ordered["subject"], ordered["dimension"], strict=True)
    ]
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=ordered["outlier_distance"].to_numpy(),
        marker_color=np.where(ordered["rejected"], "#c0392b", "#7f9fbf").tolist(),
        name="outlier distance",
    )
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dash", line_color="#7f8c8d")
    fig.update_layout(
        title="Outlier analysis per subject (red: rejected by any check)",
        template=TEMPLATE,
        xaxis={"type": "category", "title": {"text": "subject"}},
        yaxis_title="distance below Q1 of log10 likelihood (IQRs)",
        showlegend=False,
    )
    return fig
