"""Turn a PipelineResult into what the analysis page shows: a small summary and a payload.

The summary (counts, screening decisions with their numbers, reliability, methods) is
rendered by the template; the payload (per-stimulus MOS table and the library's plotly
figures as JSON) is fetched by the page's script. Figures come from ``analysis.figures``
unchanged, so the page draws the same numbers the CSV exports hold.
"""

import json
import math

import pandas as pd

from analysis.pairwise import PairwisePipelineOptions, PairwisePipelineResult
from analysis.pipeline import PipelineResult
from analysis.provenance import LIBRARY_VERSION
from annotation.models import Study
from annotation.selectors.analysis import StudyLookups
from common.jsonable import jsonable

# Screening columns worth a column on the page, per method (the reason sentence has the rest).
SCREENING_NUMBERS = {
    "bt500": ["n_ratings", "P", "Q", "ratio", "asymmetry"],
    "correlation": ["n_common", "pearson", "spearman"],
    "repeat_consistency": ["n_pairs", "mean_abs_diff", "max_abs_diff", "threshold"],
    "gold": ["n_gold", "mean_abs_dev", "max_abs_dev", "threshold"],
    "response_time": ["n_timed", "n_too_fast", "fraction_too_fast", "threshold"],
}
MAX_BOX_POINTS = 20_000


def _round(value, digits: int = 4):
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    return value


def _records(table: pd.DataFrame, columns: list[str], digits: int = 4) -> list[dict]:
    present = [c for c in columns if c in table.columns]
    return [
        {k: _round(v, digits) for k, v in row.items()}
        for row in jsonable(table[present].to_dict(orient="records"))
    ]


def _screening(result: PipelineResult) -> list[dict]:
    """Per method: every (subject, dimension) decision with the numbers behind it."""
    methods = []
    for r in result.screening:
        numbers = [c for c in SCREENING_NUMBERS.get(r.method, []) if c in r.subjects.columns]
        rows = [
            {
                "subject": rec["subject"],
                "dimension": rec["dimension"],
                "values": [rec[c] for c in numbers],
                "rejected": rec["rejected"],
                "reason": rec["reason"],
            }
            for rec in _records(
                r.subjects, ["subject", "dimension", *numbers, "rejected", "reason"]
            )
        ]
        methods.append(
            {
                "method": r.method,
                "standard": r.provenance.standard,
                "version": r.version,
                "numbers": numbers,
                "rows": rows,
                "n_rejected": int(r.subjects["rejected"].sum()),
                "notes": list(r.notes),
            }
        )
    return methods


def reliability_table(result: PipelineResult) -> dict:
    """Headline reliability per dimension: split-half SRCC (Spearman-Brown), ICCs, alpha."""
    rel = result.reliability
    if rel is None:
        return {"columns": [], "rows": []}
    values: dict[str, dict] = {}
    for rec in jsonable(rel.split_half.to_dict(orient="records")):
        values.setdefault(rec["dimension"], {})["split-half SRCC (SB)"] = rec.get("srcc_sb_mean")
    for rec in jsonable(rel.icc.to_dict(orient="records")):
        values.setdefault(rec["dimension"], {})[rec["form"]] = rec.get("icc")
    for rec in jsonable(rel.krippendorff.to_dict(orient="records")):
        values.setdefault(rec["dimension"], {})["Krippendorff α"] = rec.get("alpha")
    columns: list[str] = []
    for per_dim in values.values():
        columns += [c for c in per_dim if c not in columns]
    rows = [[dim] + [_round(v.get(c)) for c in columns] for dim, v in sorted(values.items())]
    return {"columns": columns, "rows": rows}


def _mos_table(result: PipelineResult, lookups: StudyLookups, names: dict) -> dict:
    """Wide table, one row per stimulus: the page's sortable, searchable MOS table."""
    table = result.mos.table
    dims = [d for d in lookups.dimension_order if d in set(table["dimension"].astype(str))]
    columns = ["stimulus", "name", "generator"]
    for d in dims:
        columns += [f"mos_{d}", f"ci95_{d}", f"n_{d}"]
    by_stimulus: dict[int, dict] = {}
    for rec in table[["stimulus", "dimension", "mos", "ci_t", "n"]].itertuples(index=False):
        row = by_stimulus.setdefault(int(rec.stimulus), {})
        row[f"mos_{rec.dimension}"] = _round(float(rec.mos))
        row[f"ci95_{rec.dimension}"] = _round(float(rec.ci_t))
        row[f"n_{rec.dimension}"] = int(rec.n)
    rows = []
    for pk in sorted(by_stimulus):
        facts = lookups.stimuli.get(pk)
        values = by_stimulus[pk]
        rows.append(
            [pk, names.get(pk, ""), facts.generator if facts else ""]
            + [values.get(c) for c in columns[3:]]
        )
    return {"columns": columns, "rows": rows}


def _figures(result: PipelineResult, labels: dict[str, str]) -> list[dict]:
    from analysis import figures
    from analysis.errors import RatingsError
    from analysis.factors import dimension_correlations

    out: list[tuple[str, object]] = []
    mos = result.mos.table
    if result.screening:
        out.append(("Screening", figures.screening_figure(result.screening_table)))
        for r in result.screening:
            if r.method == "bt500":
                out.append(("Screening", figures.bt500_ratio_figure(r.subjects)))
    for dim in [d for d in labels if d in set(mos["dimension"].astype(str))]:
        part = mos[mos["dimension"].astype(str) == dim]
        values = part["mos"].dropna()
        if values.nunique() >= 2:
            title = f"MOS distribution with Gaussian fit: {labels[dim]}"
            out.append(("Distributions", figures.distribution_figure(values, title)))
        if "generator" in part.columns and part["generator"].nunique() > 1:
            shown = part.sample(min(len(part), MAX_BOX_POINTS), random_state=0)
            out.append(
                (
                    "Generators",
                    figures.mos_by_generator_figure(
                        shown, title=f"MOS by generator: {labels[dim]}"
                    ),
                )
            )
    if result.subject_model is not None and not result.subject_model.subjects.empty:
        out.append(("Subjects", figures.subject_model_figure(result.subject_model.subjects)))
    out.append(("Confidence", figures.ci_width_figure(mos)))
    wide = mos.pivot(index="stimulus", columns="dimension", values="mos")
    wide.columns = [str(c) for c in wide.columns]
    if wide.shape[1] > 1:
        try:
            corr = dimension_correlations(wide, list(wide.columns))
        except RatingsError:
            corr = None
        if corr is not None:
            heatmap = figures.correlation_heatmap(corr.spearman, "Spearman correlation of MOS")
            out.append(("Dimensions", heatmap))
    return [
        {"section": section, "figure": json.loads(fig.to_json())}  # type: ignore[attr-defined]
        for section, fig in out
    ]


def analysis_digest(
    *, study: Study, result: PipelineResult, lookups: StudyLookups, rated_subjects: set[str]
) -> tuple[dict, dict]:
    """(summary, payload) of one pipeline result, both plain JSON.

    ``rated_subjects`` are the subjects in the input (screening may have dropped some).
    """
    labels = dict(study.dimensions.order_by("order", "id").values_list("key", "label"))
    rejected = result.rejections()
    rejected_subjects = {str(s) for s in rejected["subject"]}
    summary = {
        "library_version": LIBRARY_VERSION,
        "options": result.options_dict(),
        "n_input_ratings": result.n_input_ratings,
        "n_used_ratings": result.n_used_ratings,
        "n_stimuli": int(result.mos.table["stimulus"].nunique()),
        "dimensions": [d for d in labels if d in set(result.mos.table["dimension"].astype(str))],
        "subjects": {
            "total": len(rated_subjects),
            "rejected": len(rejected_subjects),
            "kept_everywhere": len(rated_subjects - rejected_subjects),
        },
        "rejections": _records(rejected, ["subject", "dimension", "reasons"]),
        "screening": _screening(result),
        "reliability": reliability_table(result),
        "subject_model_fit": _records(
            result.subject_model.fit if result.subject_model is not None else pd.DataFrame(),
            ["dimension", "n_subjects", "iterations", "converged", "loglik", "n_at_floor"],
        ),
        "methods": result.methods(),
        "notes": list(result.notes),
        # Every rating the chosen options left out (code + message), never dropped silently.
        "warnings": [warning.to_dict() for warning in result.warnings],
        "timings_s": result.timings,
    }
    names = dict(study.stimuli.values_list("id", "original_name"))
    payload = {
        "mos": _mos_table(result, lookups, names),
        "figures": _figures(result, labels),
    }
    return jsonable(summary), payload


# --- pairwise studies ----------------------------------------------------------------------

PAIRWISE_SCORE_COLUMNS = [
    "dimension",
    "group",
    "stimulus",
    "name",
    "score",
    "se",
    "ci_low",
    "ci_high",
    "comparisons",
    "wins",
]


def _figure_json(fig: object) -> dict:
    return json.loads(fig.to_json())  # type: ignore[attr-defined]


def _pairwise_groups(result: PairwisePipelineResult) -> dict[str, dict[str, dict]]:
    """dimension -> group -> its stimuli and win matrix: what the page's group picker draws."""
    out: dict[str, dict[str, dict]] = {}
    for (dimension, group), matrix in sorted(result.preference.items()):
        out.setdefault(dimension, {})[group] = {
            "stimuli": [str(s) for s in matrix.index],
            "wins": [[_round(float(v)) for v in row] for row in matrix.to_numpy()],
        }
    return out


def _pairwise_figures(result: PairwisePipelineResult) -> tuple[list[dict], dict[str, dict]]:
    """The page's fixed figures (scale of the first groups, subjects) and, per dimension, the
    scale and preference figures of its first group, which the group picker redraws."""
    from analysis import figures
    from analysis.report import pairwise_figures

    fixed = [
        {"section": section, "figure": _figure_json(fig)}
        for section, fig in pairwise_figures(result)
        if section != "Preference matrices"
    ]
    confidence = result.options.bootstrap.confidence if result.options.bootstrap else None
    per_dimension: dict[str, dict] = {}
    for dimension in result.dimensions:
        groups = result.groups(dimension)
        if not groups:
            continue
        first = groups[0]
        scores = result.scores.loc[
            (result.scores["dimension"] == dimension) & (result.scores["group"] == first)
        ]
        label = f"{dimension}, " if dimension else ""
        per_dimension[dimension] = {
            "scale": _figure_json(
                figures.pairwise_scale_figure(
                    scores, f"Scale: {label}group {first}", result.unit, confidence
                )
            ),
            "preference": _figure_json(
                figures.preference_heatmap(
                    result.preference[(dimension, first)],
                    f"Preference matrix: {label}group {first}",
                )
            ),
        }
    return fixed, per_dimension


def pairwise_digest(*, study: Study, result: PairwisePipelineResult) -> tuple[dict, dict]:
    """(summary, payload) of a pairwise pipeline result, both plain JSON, for the page,
    the API and the downloads (:func:`pairwise_result_from_run` reads them back)."""
    names = {str(pk): name for pk, name in study.stimuli.values_list("id", "original_name")}
    labels = dict(study.dimensions.order_by("order", "id").values_list("key", "label"))
    overview = result.to_summary()
    subjects = result.subjects
    summary = {
        **overview,
        "unit": result.unit,
        "dimension_labels": {d: labels.get(d, d) for d in result.dimensions},
        "subjects": {
            "total": int(subjects["subject"].nunique()),
            "rejected": len(result.excluded_subjects),
            "columns": list(subjects.columns),
            "rows": [list(row.values()) for row in _records(subjects, list(subjects.columns))],
        },
        "methods": [r.provenance.to_dict() for r in _pairwise_screening_provenance(result)],
    }
    scores = result.scores.assign(name=result.scores["stimulus"].map(names).fillna(""))
    fixed, per_dimension = _pairwise_figures(result)
    payload = {
        "kind": "pairwise",
        "scores": {
            "columns": PAIRWISE_SCORE_COLUMNS,
            # Scores at 1e-7: the page is compared with SUREAL's models to 1e-5.
            "rows": [
                list(row.values()) for row in _records(scores, PAIRWISE_SCORE_COLUMNS, digits=7)
            ],
        },
        "groups": _pairwise_groups(result),
        "figures": fixed,
        "group_figures": per_dimension,
    }
    return jsonable(summary), jsonable(payload)


def _pairwise_screening_provenance(result: PairwisePipelineResult):
    from analysis.pairwise import outlier_analysis, repeat_consistency, transitivity

    # Each check's provenance (method, standard, version, options) as the library states it;
    # computed on a two-row table, as only the provenance is kept.
    tiny = pd.DataFrame(
        {
            "subject": ["a", "a"],
            "group": "g",
            "left": ["x", "y"],
            "right": ["y", "x"],
            "choice": "left",
        }
    )
    options = result.options.screening
    return [
        repeat_consistency(tiny, options),
        transitivity(tiny, options),
        outlier_analysis(tiny, options=options),
    ]


def pairwise_result_from_run(*, options: PairwisePipelineOptions, summary: dict, payload: dict):
    """The stored run as a :class:`~analysis.pairwise.PairwisePipelineResult`, so its
    offline report and CSV tables hold exactly the numbers the page shows."""
    import numpy as np

    from analysis.pairwise import PairwisePipelineResult

    scores = pd.DataFrame(payload["scores"]["rows"], columns=payload["scores"]["columns"])
    scores = scores.drop(columns="name").astype({"se": float, "ci_low": float, "ci_high": float})
    subjects = pd.DataFrame(summary["subjects"]["rows"], columns=summary["subjects"]["columns"])
    preference = {
        (dimension, group): pd.DataFrame(
            np.asarray(data["wins"], dtype=float),
            index=pd.Index(data["stimuli"], name="winner"),
            columns=data["stimuli"],
        )
        for dimension, groups in payload["groups"].items()
        for group, data in groups.items()
    }
    return PairwisePipelineResult(
        scores=scores,
        subjects=subjects,
        preference=preference,
        excluded_subjects=list(summary["excluded_subjects"]),
        warnings=list(summary["warnings"]),
        options=options,
        n_input_choices=int(summary["n_input_choices"]),
        n_used_choices=int(summary["n_used_choices"]),
        timings=dict(summary.get("timings") or {}),
    )
