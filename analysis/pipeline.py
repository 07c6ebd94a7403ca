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

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any, Literal, get_args

import pandas as pd

from analysis import notices
from analysis._checks import check_choice
from analysis.distribution import DistributionOptions, distribution_result
from analysis.errors import AllSubjectsRejectedError, RatingsError
from analysis.io import RepeatPolicy, collapse_repeats, load_ratings
from analysis.mos import MOSOptions, MOSResult, compute_mos
from analysis.normalisation import NormalisationOptions, NormalisationResult, zscore_ratings
from analysis.provenance import LIBRARY_VERSION, Provenance
from analysis.reliability import ReliabilityOptions, ReliabilityResult, reliability
from analysis.screening import (
    ALL_DIMENSIONS,
    BT500Options,
    CorrelationOptions,
    GoldOptions,
    RepeatConsistencyOptions,
    ResponseTimeOptions,
    ScreeningResult,
    rejection_mask,
    screen_bt500,
    screen_correlation,
    screen_gold,
    screen_repeat_consistency,
    screen_response_time,
    screening_summary,
)
from analysis.subject_model import SubjectModelOptions, SubjectModelResult, fit_subject_model
from common.jsonable import jsonable
from common.progress import Progress

ScreeningMethod = Literal["bt500", "correlation", "repeat_consistency", "gold", "response_time"]
IfAllRejected = Literal["error", "keep_unscreened"]
SubjectModelInput = Literal["screened", "unscreened"]


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
    # Too-fast answers (analysis.screening.response_time); off unless in ``methods``.
    response_time: ResponseTimeOptions = ResponseTimeOptions()
    if_all_rejected: IfAllRejected = "error"

    def __post_init__(self) -> None:
        for method in self.methods:
            check_choice("screening.methods", method, get_args(ScreeningMethod))
        check_choice("screening.if_all_rejected", self.if_all_rejected, get_args(IfAllRejected))


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """Everything that decides the numbers; ``None`` switches an optional step off."""

    repeat_policy: RepeatPolicy = dataclasses.field(
        default="first", metadata={"help": "which showings enter MOS"}
    )
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
        for screening in self.screening:
            out[f"screening_{screening.method}"] = screening.subjects
            if screening.stimuli is not None:
                out[f"screening_{screening.method}_stimuli"] = screening.stimuli
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
            "screening": [screening.to_summary() for screening in self.screening],
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
        listed = ", ".join(str(dimension) for dimension in emptied_dims)
        raise AllSubjectsRejectedError(
            f"screening rejects every subject of dimension(s) {listed}, leaving nothing to "
            "analyse; loosen the screening options or keep such data unscreened "
            "(if_all_rejected='keep_unscreened')"
        )
    warnings: list[notices.AnalysisWarning] = []
    if emptied_dims:
        unscreened = ratings["dimension"].isin(emptied_dims).to_numpy()
        mask = mask & ~unscreened
        names = {str(dimension) for dimension in emptied_dims}
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
    for column in ("stimulus", "subject", "dimension", "generator"):
        if column in table.columns and isinstance(table[column].dtype, pd.CategoricalDtype):
            table[column] = table[column].astype(table[column].cat.categories.dtype)
    return table


STEPS = ("validate", "screening", "mos", "subject_model", "reliability", "distribution")


class _StepClock:
    """Announces each of ``steps`` to ``progress`` and records how long it took."""

    def __init__(self, progress: Progress | None, steps: tuple[str, ...] = STEPS) -> None:
        self.progress = progress
        self.steps = steps
        self.timings: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        if self.progress is not None:
            self.progress(name, self.steps.index(name), len(self.steps))
        yield
        self.timings[name] = round(time.perf_counter() - started, 4)

    def finish(self) -> dict[str, float]:
        self.timings["total"] = round(time.perf_counter() - self.started, 4)
        if self.progress is not None:
            self.progress("done", len(self.steps), len(self.steps))
        return self.timings


@dataclasses.dataclass(frozen=True)
class _Validated:
    """The validated ratings, those analysed (gold set aside) and those with repeats collapsed."""

    all: pd.DataFrame
    main: pd.DataFrame
    collapsed: pd.DataFrame


def _validate(ratings: pd.DataFrame, options: PipelineOptions) -> _Validated:
    # Categorical ids make every later grouping reuse integer codes instead of hashing
    # strings again; at 1.3 M ratings this saves seconds.
    validated = load_ratings(ratings, categorical=True)
    gold_mask = (
        validated["is_gold"].to_numpy(dtype=bool) if "is_gold" in validated.columns else None
    )
    if options.exclude_gold and gold_mask is not None:
        main = validated.loc[~gold_mask]
    else:
        main = validated
    if len(main) == 0:
        raise RatingsError("every rating is a gold rating; nothing left to analyse")
    return _Validated(validated, main, collapse_repeats(main, options.repeat_policy))


def _screen_with(
    method: ScreeningMethod, data: _Validated, options: ScreeningOptions
) -> ScreeningResult:
    """One screening method on the ratings it needs (repeats and gold rows see more)."""
    if method == "bt500":
        return screen_bt500(data.collapsed, options.bt500)
    if method == "correlation":
        return screen_correlation(data.collapsed, options.correlation)
    if method == "repeat_consistency":
        return screen_repeat_consistency(data.main, options.repeat_consistency)
    if method == "gold":
        return screen_gold(data.all, options.gold)
    if method == "response_time":
        return screen_response_time(data.main, options.response_time)
    raise ValueError(
        f"unknown screening method {method!r}; choose from {get_args(ScreeningMethod)}"
    )


def _screen(
    data: _Validated,
    options: ScreeningOptions,
    notes: list[str],
    warnings: list[notices.AnalysisWarning],
) -> tuple[list[ScreeningResult], pd.DataFrame, pd.DataFrame]:
    """Every chosen method's result, the ratings they all keep, and the summary table;
    the subjects rejected (or kept unscreened) go to ``warnings``."""
    results = [_screen_with(method, data, options) for method in options.methods]
    for result in results:
        _plain(result.subjects)
        if result.stimuli is not None:
            _plain(result.stimuli)
        notes += [f"{result.method}: {note}" for note in result.notes]
    kept, table, screening_warnings = _apply_screening(
        data.collapsed, results, options.if_all_rejected
    )
    warnings += screening_warnings
    return results, kept, table


@dataclasses.dataclass(frozen=True)
class _MOSStep:
    before: MOSResult  # from every collapsed rating, before screening
    after: MOSResult
    normalisation: NormalisationResult | None
    ratings: pd.DataFrame  # the ratings behind ``after``


def _mos(
    collapsed: pd.DataFrame, kept: pd.DataFrame, options: PipelineOptions, notes: list[str]
) -> _MOSStep:
    """MOS before screening, then on the kept ratings (z-scored first when asked)."""
    before = compute_mos(collapsed, options.mos)
    normalised = None
    ratings = kept
    if options.normalisation is not None:
        normalised = zscore_ratings(kept, options.normalisation)
        _plain(normalised.groups)
        _plain(normalised.dropped)
        ratings = normalised.ratings
        if len(normalised.dropped):
            notes.append(f"normalisation: {len(normalised.dropped)} degenerate group(s) dropped")
    after = compute_mos(ratings, options.mos)
    _plain(before.table)
    _plain(after.table)
    missing = before.table["stimulus"].nunique() - after.table["stimulus"].nunique()
    if missing:
        notes.append(f"{missing} stimulus/stimuli lost every rating to screening")
    return _MOSStep(before, after, normalised, ratings)


def _subject_model(
    ratings: pd.DataFrame, options: SubjectModelOptions | None, notes: list[str]
) -> SubjectModelResult | None:
    if options is None:
        return None
    model = fit_subject_model(ratings, options)
    _plain(model.stimuli)
    _plain(model.subjects)
    if not model.fit.get("converged", pd.Series([True])).all():
        notes.append("subject model: not converged in some dimension (see fit table)")
    if model.fit.get("n_at_floor", pd.Series([0])).sum():
        notes.append("subject model: some inconsistencies at the floor (degenerate fit)")
    return model


def _distribution(
    mos_table: pd.DataFrame, options: DistributionOptions | None
) -> tuple[Provenance | None, pd.DataFrame | None]:
    """Gaussian fits of the MOS per dimension, and per generator when the table has one."""
    if options is None:
        return None, None
    wide = mos_table.pivot(index="stimulus", columns="dimension", values="mos")
    wide.columns = [str(column) for column in wide.columns]
    by = None
    if "generator" in mos_table.columns:
        generators = mos_table.drop_duplicates("stimulus").set_index("stimulus")["generator"]
        wide["generator"] = generators.reindex(wide.index).to_numpy()
        by = "generator"
    dimensions = [column for column in wide.columns if column != "generator"]
    return distribution_result(wide.reset_index(), dimensions, by, options)


def run_pipeline(
    ratings: pd.DataFrame,
    options: PipelineOptions | None = None,
    progress: Progress | None = None,
) -> PipelineResult:
    """Screen, normalise, compute MOS, fit the subject model, reliability and distributions.

    ``ratings`` is a long-format table as described in :mod:`analysis.io` (validated here;
    raises :class:`~analysis.errors.RatingsError` on bad input). ``progress`` is the project's
    :data:`common.progress.Progress`: it hears ``(step, steps_done, len(STEPS))`` before each
    step and ``("done", len(STEPS), len(STEPS))`` at the end.
    """
    options = options or PipelineOptions()
    clock = _StepClock(progress)
    notes: list[str] = []
    warnings: list[notices.AnalysisWarning] = []
    with clock.step("validate"):
        data = _validate(ratings, options)
    with clock.step("screening"):
        screening, kept, screening_table = _screen(data, options.screening, notes, warnings)
    with clock.step("mos"):
        mos = _mos(data.collapsed, kept, options, notes)
    with clock.step("subject_model"):
        model_input = data.collapsed if options.subject_model_input == "unscreened" else kept
        model = _subject_model(model_input, options.subject_model, notes)
    with clock.step("reliability"):
        rel = (
            reliability(mos.ratings, options.reliability)
            if options.reliability is not None
            else None
        )
    with clock.step("distribution"):
        distribution_provenance, distribution = _distribution(mos.after.table, options.distribution)
    return PipelineResult(
        options=options,
        n_input_ratings=len(data.all),
        n_used_ratings=len(mos.ratings),
        ratings_used=_plain(mos.ratings.copy()),
        screening=tuple(screening),
        screening_table=screening_table,
        mos_unscreened=mos.before,
        mos=mos.after,
        normalisation=mos.normalisation,
        subject_model=model,
        reliability=rel,
        distribution=distribution,
        distribution_provenance=distribution_provenance,
        timings=clock.finish(),
        notes=tuple(notes),
        warnings=tuple(
            warnings + _loss_warnings(data.collapsed, kept, mos.normalisation, model, options)
        ),
    )
