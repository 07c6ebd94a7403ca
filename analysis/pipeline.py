"""The one entry point the site (and the ``report`` command) calls: :func:`run_pipeline`.

Order of steps, each traced in the result:

1. validate the ratings (:func:`analysis.io.load_ratings`); gold rows are set aside
   (used only by the gold check unless ``exclude_gold=False``);
2. repeat-consistency check on all showings, then collapse repeats per ``repeat_policy``;
3. screening with the chosen methods (union of rejections), MOS *before* screening kept;
4. drop rejected (subject, dimension) ratings; optional z-score normalisation;
5. MOS + CI per stimulus and dimension;
6. P.913 subject model on the screened ratings in their original units (it estimates bias
   and inconsistency itself, so it is fitted before normalisation would remove them;
   ``subject_model_input="unscreened"`` fits it on the ratings before screening, as SUREAL);
7. reliability (split-half, ICC, Krippendorff's alpha) of the ratings behind the MOS;
8. Gaussian fits of the MOS per dimension (and per generator when known).

Nothing is left out silently: every subject rejected, every stimulus emptied by screening
or normalisation and every subject left out of the subject model is a structured warning
(:mod:`analysis.notices`) in ``PipelineResult.warnings`` and its summary. When screening
would reject every subject of a dimension the pipeline raises
:class:`~analysis.errors.AllSubjectsRejectedError`, unless
``ScreeningOptions.if_all_rejected="keep_unscreened"`` keeps that dimension unscreened.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Literal, get_args

import pandas as pd

from analysis import notices
from analysis._checks import check_choice
from analysis.distribution import DistributionOptions, distribution_result
from analysis.errors import AllSubjectsRejectedError
from analysis.io import RepeatPolicy, collapse_repeats, load_ratings
from analysis.mos import MOSOptions, MOSResult, compute_mos
from analysis.normalisation import NormalisationOptions, NormalisationResult, zscore_ratings
from analysis.provenance import LIBRARY_VERSION, Provenance, jsonable
from analysis.reliability import ReliabilityOptions, ReliabilityResult, reliability
from analysis.screening import (
    ALL_DIMENSIONS,
    BT500Options,
    CorrelationOptions,
    GoldOptions,
    RepeatConsistencyOptions,
    ScreeningResult,
    rejection_mask,
    screen_bt500,
    screen_correlation,
    screen_gold,
    screen_repeat_consistency,
    screening_summary,
)
from analysis.subject_model import SubjectModelOptions, SubjectModelResult, fit_subject_model

ScreeningMethod = Literal["bt500", "correlation", "repeat_consistency", "gold"]
IfAllRejected = Literal["error", "keep_unscreened"]
SubjectModelInput = Literal["screened", "unscreened"]
Progress = Callable[[str, float], None]


@dataclasses.dataclass(frozen=True)
class ScreeningOptions:
    """Which screening methods run (their rejections are united) and their options.

    ``if_all_rejected``: what to do when the united rejections would remove every subject of
    a dimension - ``"error"`` (default) raises :class:`AllSubjectsRejectedError`;
    ``"keep_unscreened"`` keeps that dimension's ratings and records a warning (SUREAL:
    "if all of the subjects would be rejected, none will").
    """

    methods: tuple[ScreeningMethod, ...] = ("bt500",)
    bt500: BT500Options = BT500Options()
    correlation: CorrelationOptions = CorrelationOptions()
    repeat_consistency: RepeatConsistencyOptions = RepeatConsistencyOptions()
    gold: GoldOptions = GoldOptions()
    if_all_rejected: IfAllRejected = "error"

    def __post_init__(self) -> None:
        for method in self.methods:
            check_choice("screening.methods", method, get_args(ScreeningMethod))
        check_choice("screening.if_all_rejected", self.if_all_rejected, get_args(IfAllRejected))


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """Everything that decides the numbers; ``None`` switches an optional step off."""

    repeat_policy: RepeatPolicy = "first"
    exclude_gold: bool = True
    screening: ScreeningOptions = ScreeningOptions()
    normalisation: NormalisationOptions | None = None
    mos: MOSOptions = MOSOptions()
    subject_model: SubjectModelOptions | None = SubjectModelOptions()
    reliability: ReliabilityOptions | None = ReliabilityOptions()
    distribution: DistributionOptions | None = DistributionOptions()
    subject_model_input: SubjectModelInput = "screened"

    def __post_init__(self) -> None:
        check_choice("repeat_policy", self.repeat_policy, get_args(RepeatPolicy))
        check_choice("subject_model_input", self.subject_model_input, get_args(SubjectModelInput))


@dataclasses.dataclass(frozen=True)
class PipelineResult:
    options: PipelineOptions
    n_input_ratings: int
    n_used_ratings: int
    ratings_used: pd.DataFrame
    screening: tuple[ScreeningResult, ...]
    screening_table: pd.DataFrame
    mos_unscreened: MOSResult
    mos: MOSResult
    normalisation: NormalisationResult | None
    subject_model: SubjectModelResult | None
    reliability: ReliabilityResult | None
    distribution: pd.DataFrame | None
    distribution_provenance: Provenance | None
    timings: dict[str, float]
    notes: tuple[str, ...]
    warnings: tuple[notices.AnalysisWarning, ...] = ()

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every exported table by file stem (``mos`` -> ``mos.csv``)."""
        out: dict[str, pd.DataFrame] = {
            "mos": self.mos.table,
            "mos_unscreened": self.mos_unscreened.table,
            "screening": self.screening_table,
        }
        for r in self.screening:
            out[f"screening_{r.method}"] = r.subjects
            if r.stimuli is not None:
                out[f"screening_{r.method}_stimuli"] = r.stimuli
        if self.normalisation is not None:
            out["normalisation_groups"] = self.normalisation.groups
        if self.subject_model is not None:
            out["subjects"] = self.subject_model.subjects
            out["true_scores"] = self.subject_model.stimuli
            out["subject_model_fit"] = self.subject_model.fit
        if self.reliability is not None:
            out["reliability_split_half"] = self.reliability.split_half
            out["reliability_splits"] = self.reliability.splits
            out["reliability_icc"] = self.reliability.icc
            out["reliability_krippendorff"] = self.reliability.krippendorff
        if self.distribution is not None:
            out["distribution"] = self.distribution
        return out

    def methods(self) -> list[dict[str, Any]]:
        """Name, standard and version of every routine behind the numbers, for traceability."""
        parts = [screening.provenance for screening in self.screening]
        if self.normalisation is not None:
            parts.append(self.normalisation.provenance)
        parts.append(self.mos.provenance)
        for extra in (self.subject_model, self.reliability):
            if extra is not None:
                parts.append(extra.provenance)
        if self.distribution_provenance is not None:
            parts.append(self.distribution_provenance)
        return [part.to_dict() for part in parts]

    def rejections(self) -> pd.DataFrame:
        """Rows of the screening table with a subject rejected on a dimension (and why)."""
        table = self.screening_table
        return table.loc[table["rejected_any"]] if "rejected_any" in table.columns else table[:0]

    def options_dict(self) -> dict[str, Any]:
        """The resolved options as plain JSON (for method configs and summaries)."""
        return jsonable(dataclasses.asdict(self.options))

    def to_summary(self) -> dict[str, Any]:
        """JSON-able digest: counts, rejected subjects, headline numbers, methods + versions."""
        table = self.screening_table
        rejected = (
            table.loc[table["rejected_any"], ["subject", "dimension"]].to_dict(orient="records")
            if "rejected_any" in table.columns
            else []
        )
        summary: dict[str, Any] = {
            "library_version": LIBRARY_VERSION,
            "options": dataclasses.asdict(self.options),
            "n_input_ratings": self.n_input_ratings,
            "n_used_ratings": self.n_used_ratings,
            "n_stimuli": int(self.mos.table["stimulus"].nunique()),
            "dimensions": sorted(self.mos.table["dimension"].astype(str).unique().tolist()),
            "screening": [r.to_summary() for r in self.screening],
            "rejected": rejected,
            "mos_unscreened": self.mos_unscreened.to_summary(),
            "mos": self.mos.to_summary(),
            "normalisation": self.normalisation.provenance.to_dict()
            if self.normalisation
            else None,
            "subject_model": self.subject_model.to_summary() if self.subject_model else None,
            "reliability": self.reliability.to_summary() if self.reliability else None,
            "distribution": {
                **self.distribution_provenance.to_dict(),
                "fits": self.distribution.to_dict(orient="records"),
            }
            if self.distribution is not None and self.distribution_provenance is not None
            else None,
            "timings_s": self.timings,
            "notes": list(self.notes),
            "warnings": [warning.to_dict() for warning in self.warnings],
        }
        return jsonable(summary)


def _apply_screening(
    ratings: pd.DataFrame, results: list[ScreeningResult], if_all_rejected: IfAllRejected
) -> tuple[pd.DataFrame, pd.DataFrame, list[notices.AnalysisWarning]]:
    """Ratings kept, the screening table and the warnings, guarding against emptied dimensions.

    A dimension where the united rejections would remove every rating raises, or with
    ``"keep_unscreened"`` keeps all its ratings; its table rows then read ``rejected_any``
    False with the methods' reasons marked as not applied.
    """
    mask = rejection_mask(ratings, results)
    table = screening_summary(results)
    emptied = (
        pd.DataFrame({"dimension": ratings["dimension"].to_numpy(), "rejected": mask})
        .groupby("dimension", observed=True)["rejected"]
        .all()
    )
    emptied_dims = sorted(emptied.index[emptied.to_numpy()].tolist(), key=str)
    if emptied_dims and if_all_rejected == "error":
        names = ", ".join(str(d) for d in emptied_dims)
        raise AllSubjectsRejectedError(
            f"screening rejects every subject of dimension(s) {names}, leaving nothing to "
            "analyse; loosen the screening options or keep such data unscreened "
            "(if_all_rejected='keep_unscreened')"
        )
    warnings: list[notices.AnalysisWarning] = []
    if emptied_dims:
        unscreened = ratings["dimension"].isin(emptied_dims).to_numpy()
        mask = mask & ~unscreened
        names = {str(d) for d in emptied_dims}
        if len(emptied_dims) == emptied.size:
            names.add(ALL_DIMENSIONS)  # pooled decisions, not expanded to dimensions
        rows = table["dimension"].astype(str).isin(names) & table["rejected_any"]
        table.loc[rows, "reasons"] = (
            "not applied (every subject of this dimension would be rejected): "
            + table.loc[rows, "reasons"]
        )
        table.loc[rows, "rejected_any"] = False
        warnings += notices.all_rejected_warnings(emptied_dims)
    kept = ratings.loc[~mask].reset_index(drop=True) if mask.any() else ratings
    return kept, table, warnings + notices.rejection_warnings(table)


def _loss_warnings(
    collapsed: pd.DataFrame,
    kept: pd.DataFrame,
    normalised: NormalisationResult | None,
    model: SubjectModelResult | None,
    options: PipelineOptions,
) -> list[notices.AnalysisWarning]:
    """Stimuli emptied by screening or normalisation, groups normalisation dropped and
    subjects left out of the model."""
    warnings = notices.emptied_stimulus_warnings(collapsed, kept, "screening")
    if normalised is not None:
        warnings += notices.normalisation_warnings(normalised.dropped)
        warnings += notices.emptied_stimulus_warnings(kept, normalised.ratings, "normalisation")
    min_ratings = options.subject_model.min_ratings_per_subject if options.subject_model else 0
    return warnings + notices.model_exclusion_warnings(model, min_ratings)


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    for col in ("stimulus", "subject", "dimension", "generator"):
        if col in table.columns and isinstance(table[col].dtype, pd.CategoricalDtype):
            table[col] = table[col].astype(table[col].cat.categories.dtype)
    return table


def run_pipeline(
    ratings: pd.DataFrame,
    options: PipelineOptions | None = None,
    progress: Progress | None = None,
) -> PipelineResult:
    """Screen, normalise, compute MOS, fit the subject model, reliability and distributions.

    ``ratings`` is a long-format table as described in :mod:`analysis.io` (validated here;
    raises :class:`~analysis.errors.RatingsError` on bad input). ``progress(step, fraction)``
    is called before each step with the fraction of steps already done, and with
    ``("done", 1.0)`` at the end.
    """
    o = options or PipelineOptions()
    timings: dict[str, float] = {}
    notes: list[str] = []
    steps = ["validate", "screening", "mos", "subject_model", "reliability", "distribution"]

    def step(name: str) -> None:
        if progress is not None:
            progress(name, steps.index(name) / len(steps))

    def timed(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 4)

    t0 = time.perf_counter()
    step("validate")
    # Categorical ids make every later grouping reuse integer codes instead of hashing
    # strings again; at 1.3 M ratings this saves seconds.
    validated = load_ratings(ratings, categorical=True)
    n_input = len(validated)
    gold_mask = (
        validated["is_gold"].to_numpy(dtype=bool) if "is_gold" in validated.columns else None
    )
    main = validated.loc[~gold_mask] if (o.exclude_gold and gold_mask is not None) else validated
    if len(main) == 0:
        from analysis.errors import RatingsError

        raise RatingsError("every rating is a gold rating; nothing left to analyse")
    collapsed = collapse_repeats(main, o.repeat_policy)
    timed("validate", t0)

    t = time.perf_counter()
    step("screening")
    sc = o.screening
    results: list[ScreeningResult] = []
    for method in sc.methods:
        if method == "bt500":
            results.append(screen_bt500(collapsed, sc.bt500))
        elif method == "correlation":
            results.append(screen_correlation(collapsed, sc.correlation))
        elif method == "repeat_consistency":
            results.append(screen_repeat_consistency(main, sc.repeat_consistency))
        elif method == "gold":
            results.append(screen_gold(validated, sc.gold))
        else:
            raise ValueError(
                f"unknown screening method {method!r}; choose from {get_args(ScreeningMethod)}"
            )
    for r in results:
        _plain(r.subjects)
        if r.stimuli is not None:
            _plain(r.stimuli)
        notes += [f"{r.method}: {n}" for n in r.notes]
    kept, table, warnings = _apply_screening(collapsed, results, sc.if_all_rejected)
    timed("screening", t)

    t = time.perf_counter()
    step("mos")
    mos_before = compute_mos(collapsed, o.mos)
    normalised = None
    mos_input = kept
    if o.normalisation is not None:
        normalised = zscore_ratings(kept, o.normalisation)
        _plain(normalised.groups)
        _plain(normalised.dropped)
        mos_input = normalised.ratings
        if len(normalised.dropped):
            notes.append(f"normalisation: {len(normalised.dropped)} degenerate group(s) dropped")
    mos_after = compute_mos(mos_input, o.mos)
    _plain(mos_before.table)
    _plain(mos_after.table)
    missing = mos_before.table["stimulus"].nunique() - mos_after.table["stimulus"].nunique()
    if missing:
        notes.append(f"{missing} stimulus/stimuli lost every rating to screening")
    timed("mos", t)

    t = time.perf_counter()
    step("subject_model")
    model = None
    if o.subject_model is not None:
        model_input = collapsed if o.subject_model_input == "unscreened" else kept
        model = fit_subject_model(model_input, o.subject_model)
        _plain(model.stimuli)
        _plain(model.subjects)
        if not model.fit.get("converged", pd.Series([True])).all():
            notes.append("subject model: not converged in some dimension (see fit table)")
        if model.fit.get("n_at_floor", pd.Series([0])).sum():
            notes.append("subject model: some inconsistencies at the floor (degenerate fit)")
    timed("subject_model", t)

    t = time.perf_counter()
    step("reliability")
    rel = reliability(mos_input, o.reliability) if o.reliability is not None else None
    timed("reliability", t)

    t = time.perf_counter()
    step("distribution")
    dist = prov = None
    if o.distribution is not None:
        wide = mos_after.table.pivot(index="stimulus", columns="dimension", values="mos")
        wide.columns = [str(c) for c in wide.columns]
        by = None
        if "generator" in mos_after.table.columns:
            gen = mos_after.table.drop_duplicates("stimulus").set_index("stimulus")["generator"]
            wide["generator"] = gen.reindex(wide.index).to_numpy()
            by = "generator"
        dims = [c for c in wide.columns if c != "generator"]
        prov, dist = distribution_result(wide.reset_index(), dims, by, o.distribution)
    timed("distribution", t)
    timings["total"] = round(time.perf_counter() - t0, 4)
    if progress is not None:
        progress("done", 1.0)

    return PipelineResult(
        options=o,
        n_input_ratings=n_input,
        n_used_ratings=len(mos_input),
        ratings_used=_plain(mos_input.copy()),
        screening=tuple(results),
        screening_table=table,
        mos_unscreened=mos_before,
        mos=mos_after,
        normalisation=normalised,
        subject_model=model,
        reliability=rel,
        distribution=dist,
        distribution_provenance=prov,
        timings=timings,
        notes=tuple(notes),
        warnings=tuple(warnings + _loss_warnings(collapsed, kept, normalised, model, o)),
    )
