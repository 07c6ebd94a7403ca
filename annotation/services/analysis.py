"""Run the analysis library on a study's ratings: options, caching, inline or Celery runs.

A run is cached under (study, options hash, ratings fingerprint). A new rating changes the
fingerprint, so the page finds no fresh run and offers to recompute; the old run stays
visible, marked stale. Small studies are analysed inline in the request (the demo's 3,780
ratings take about a second); larger ones go to the ``default`` Celery queue and the page
polls the run's progress.

The analysis library (pandas, scipy) is imported inside the functions that run it, so web
processes that only serve pages and ratings never load it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analysis import LIBRARY_VERSION
from annotation.models import AnalysisRun, Study
from annotation.selectors.analysis import ratings_fingerprint, ratings_snapshot

if TYPE_CHECKING:
    from analysis.pipeline import PipelineOptions, PipelineResult

log = logging.getLogger(__name__)

SCREENING_METHODS = ("bt500", "correlation", "repeat_consistency", "gold")
NORMALISATIONS = ("none", "zscore")
REPEAT_POLICIES = ("first", "mean", "all")
# The library's defaults: BT.500 screening, first showing of repeats, no normalisation.
DEFAULT_OPTIONS: dict = {
    "screening": ["bt500"],
    "repeat_policy": "first",
    "normalisation": "none",
    "bt500_ddof": 1,
    "correlation_threshold": 0.75,
    "repeat_threshold": 0.25,
    "gold_threshold": 0.25,
    "confidence": 0.95,
}
OPTION_HELP = {
    "screening": f"subject screening methods, any of {', '.join(SCREENING_METHODS)} (none: [])",
    "repeat_policy": "which showing of a repeated stimulus counts: first, mean or all",
    "normalisation": "none, or zscore (per subject and dimension, rescaled to the study's scale)",
    "bt500_ddof": "BT.500 standard deviation: 1 (the standard's N-1) or 0 (population, sureal)",
    "correlation_threshold": "correlation screening rejects r below this (0..1)",
    "repeat_threshold": "repeat consistency rejects a mean |difference| above this fraction "
    "of the scale (0..1)",
    "gold_threshold": "gold check rejects a mean |error| above this fraction of the scale (0..1)",
    "confidence": "confidence level of the MOS intervals (0.5..0.999)",
}
DEFAULT_INLINE_MAX_RATINGS = 50_000

Progress = Callable[[str, float], None]


def _number(data: Mapping, key: str, low: float, high: float, *, integer: bool = False):
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(f"Option {key} must be a number; got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"Option {key} must be a number; got {value!r}.") from None
    if not low <= number <= high or (integer and number != int(number)):
        kind = "an integer" if integer else "a number"
        raise ValidationError(f"Option {key} must be {kind} in {low:g}..{high:g}; got {value!r}.")
    return int(number) if integer else number


def _choice(data: Mapping, key: str, choices: tuple[str, ...]) -> str:
    value = data[key]
    if value not in choices:
        raise ValidationError(f"Option {key} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def analysis_options_clean(*, data: Mapping | None) -> dict:
    """Defaults filled in, every value checked, unknown keys refused (a typo must not pass)."""
    data = dict(data or {})
    unknown = sorted(set(data) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ValidationError(
            f"Unknown analysis option(s): {', '.join(unknown)}. "
            f"Known options: {', '.join(DEFAULT_OPTIONS)}."
        )
    merged = {**DEFAULT_OPTIONS, **data}
    methods = merged["screening"]
    if isinstance(methods, str):
        methods = [m for m in (part.strip() for part in methods.split(",")) if m]
    if not isinstance(methods, list | tuple) or not all(isinstance(m, str) for m in methods):
        raise ValidationError("Option screening must be a list of method names.")
    bad = sorted(set(methods) - set(SCREENING_METHODS))
    if bad:
        raise ValidationError(
            f"Unknown screening method(s): {', '.join(bad)}; "
            f"use any of {', '.join(SCREENING_METHODS)}."
        )
    return {
        # Canonical order, so the same choice always hashes to the same cache key.
        "screening": [m for m in SCREENING_METHODS if m in methods],
        "repeat_policy": _choice(merged, "repeat_policy", REPEAT_POLICIES),
        "normalisation": _choice(merged, "normalisation", NORMALISATIONS),
        "bt500_ddof": _number(merged, "bt500_ddof", 0, 1, integer=True),
        "correlation_threshold": _number(merged, "correlation_threshold", 0, 1),
        "repeat_threshold": _number(merged, "repeat_threshold", 0, 1),
        "gold_threshold": _number(merged, "gold_threshold", 0, 1),
        "confidence": _number(merged, "confidence", 0.5, 0.999),
    }


def analysis_options_hash(*, options: dict) -> str:
    """Cache key of cleaned options; the library version is in it, so an upgrade recomputes."""
    text = json.dumps({"options": options, "library": LIBRARY_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def pipeline_options_build(*, study: Study, options: dict) -> PipelineOptions:
    """The library's typed options for cleaned site options on this study's scale."""
    from analysis.mos import MOSOptions
    from analysis.normalisation import NormalisationOptions
    from analysis.pipeline import PipelineOptions, ScreeningOptions
    from analysis.screening import BT500Options, CorrelationOptions, GoldOptions
    from analysis.screening import RepeatConsistencyOptions as RepeatOptions

    scale = (float(study.scale_min), float(study.scale_max))
    return PipelineOptions(
        repeat_policy=options["repeat_policy"],
        screening=ScreeningOptions(
            methods=tuple(options["screening"]),
            bt500=BT500Options(ddof=options["bt500_ddof"]),
            correlation=CorrelationOptions(threshold=options["correlation_threshold"]),
            repeat_consistency=RepeatOptions(
                threshold=options["repeat_threshold"], scale_range=scale
            ),
            gold=GoldOptions(threshold=options["gold_threshold"], scale_range=scale),
        ),
        # z-scores are rescaled onto the study's own scale so MOS stay comparable to it.
        normalisation=NormalisationOptions(target_range=scale)
        if options["normalisation"] == "zscore"
        else None,
        mos=MOSOptions(confidence=options["confidence"]),
    )


def result_methods(result: PipelineResult) -> list[dict]:
    """Name, standard and version of every routine behind the numbers, for traceability."""
    parts = [r.provenance for r in result.screening]
    if result.normalisation is not None:
        parts.append(result.normalisation.provenance)
    parts.append(result.mos.provenance)
    for extra in (result.subject_model, result.reliability):
        if extra is not None:
            parts.append(extra.provenance)
    if result.distribution_provenance is not None:
        parts.append(result.distribution_provenance)
    return [p.to_dict() for p in parts]


def result_rejections(result: PipelineResult):
    """Rows of the screening table with a subject rejected on a dimension (and why)."""
    table = result.screening_table
    return table.loc[table["rejected_any"]] if "rejected_any" in table.columns else table[:0]


def pipeline_run(
    *, study: Study, options: dict, snapshot_frame, progress: Progress | None = None
) -> PipelineResult:
    """run_pipeline with the library's complaints about the data turned into ValidationError."""
    from analysis.errors import RatingsError
    from analysis.pipeline import run_pipeline

    try:
        return run_pipeline(
            snapshot_frame, pipeline_options_build(study=study, options=options), progress
        )
    except RatingsError as exc:
        raise ValidationError(f"The ratings cannot be analysed: {exc}") from None


def inline_max_ratings() -> int:
    return int(getattr(settings, "ANALYSIS_INLINE_MAX_RATINGS", DEFAULT_INLINE_MAX_RATINGS))


def study_ratings_required(*, study: Study):
    """The fingerprint of a study's ratings; a study with none is refused, nothing is written."""
    fingerprint = ratings_fingerprint(study=study)
    if fingerprint.count == 0:
        raise ValidationError(
            f"Study {study.slug} has no ratings yet (training ratings do not count)."
        )
    return fingerprint


def analysis_run_request(
    *,
    study: Study,
    options: Mapping | None,
    created_by: AbstractBaseUser | None = None,
    force: bool = False,
    inline: bool | None = None,
) -> AnalysisRun:
    """A fresh run for these options: the cached one, or a new one, computed now or queued
    (``inline=None``: by size, see :func:`inline_max_ratings`)."""
    clean = analysis_options_clean(data=options)
    fingerprint = study_ratings_required(study=study)
    digest = analysis_options_hash(options=clean)
    if not force:
        cached = (
            study.analysis_runs.filter(
                kind=AnalysisRun.Kind.ANALYSIS,
                options_hash=digest,
                ratings_count=fingerprint.count,
                ratings_last_id=fingerprint.last_id,
            )
            .exclude(status=AnalysisRun.Status.FAILED)
            .defer("payload")
            .first()
        )
        if cached is not None:
            return cached
    run = AnalysisRun.objects.create(
        study=study,
        kind=AnalysisRun.Kind.ANALYSIS,
        options=clean,
        options_hash=digest,
        ratings_count=fingerprint.count,
        ratings_last_id=fingerprint.last_id,
        created_by=created_by if created_by and created_by.is_authenticated else None,
    )
    return analysis_run_dispatch(run=run, inline=inline)


def analysis_run_dispatch(*, run: AnalysisRun, inline: bool | None = None) -> AnalysisRun:
    """Small studies now, in this process; large ones on a worker once the row is committed."""
    if inline is None:
        inline = run.ratings_count <= inline_max_ratings()
    if inline:
        return analysis_run_execute(run=run)
    from annotation.tasks import analysis_run_task

    transaction.on_commit(lambda: analysis_run_task.delay(run.pk))
    return run


class _RunProgress:
    """Writes step and fraction to the run row, so the page's poll sees them move."""

    def __init__(self, run: AnalysisRun) -> None:
        self.run = run
        self.started = time.monotonic()
        self.log: list[dict] = []
        self.last_write = 0.0

    def __call__(self, step: str, fraction: float) -> None:
        now = time.monotonic()
        new_step = not self.log or self.log[-1]["step"] != step
        if new_step:
            self.log.append({"step": step, "at": round(now - self.started, 3)})
        # Row counts arrive often while the ratings load; a write every half second is plenty.
        if new_step or now - self.last_write > 0.5:
            self.last_write = now
            fraction = round(min(max(fraction, 0.0), 1.0), 4)
            self.run.step, self.run.progress, self.run.log = step, fraction, list(self.log)
            AnalysisRun.objects.filter(pk=self.run.pk).update(
                step=step, progress=fraction, log=self.run.log
            )

    def loading(self, total: int) -> Callable[[int], None]:
        return lambda done: self("loading ratings", 0.3 * done / max(total, 1))

    def pipeline(self, step: str, fraction: float) -> None:
        self(step if step != "done" else "figures", 0.3 + 0.6 * fraction)


def analysis_run_execute(*, run: AnalysisRun) -> AnalysisRun:
    """Compute a run (analysis or freeze); failures are recorded on the run, never raised."""
    from annotation.services.analysis_digest import analysis_digest
    from annotation.services.releases import release_freeze

    if run.status == AnalysisRun.Status.DONE:
        return run  # a redelivered task (acks_late) after the work was saved
    run.status, run.started_at, run.error = AnalysisRun.Status.RUNNING, timezone.now(), ""
    run.save(update_fields=["status", "started_at", "error"])
    progress = _RunProgress(run)
    try:
        if run.kind == AnalysisRun.Kind.FREEZE:
            release = release_freeze(
                study=run.study,
                options=run.options,
                created_by=run.created_by,
                progress=progress,
            )
            run.release = release
            run.ratings_count = release.counts["ratings"]
            run.ratings_last_id = release.method_config["ratings"]["last_id"]
            run.summary = {"release": release.version, "counts": release.counts}
        else:
            snapshot = ratings_snapshot(
                study=run.study, progress=progress.loading(run.ratings_count)
            )
            if snapshot.fingerprint.count == 0:
                raise ValidationError("The study has no ratings (training ratings do not count).")
            result = pipeline_run(
                study=run.study,
                options=run.options,
                snapshot_frame=snapshot.frame,
                progress=progress.pipeline,
            )
            progress("figures", 0.9)
            run.summary, run.payload = analysis_digest(
                study=run.study,
                result=result,
                lookups=snapshot.lookups,
                rated_subjects=snapshot.subject_labels(),
            )
            run.ratings_count = snapshot.fingerprint.count
            run.ratings_last_id = snapshot.fingerprint.last_id
    except ValidationError as exc:
        run.status, run.error = AnalysisRun.Status.FAILED, "; ".join(exc.messages)
    except Exception as exc:  # shown on the page instead of lost in a worker log
        log.exception("analysis run %s crashed", run.pk)
        run.status, run.error = AnalysisRun.Status.FAILED, f"The analysis crashed: {exc!r}"
    else:
        run.status = AnalysisRun.Status.DONE
        run.step, run.progress = "done", 1.0
        progress.log.append({"step": "done", "at": round(time.monotonic() - progress.started, 3)})
    run.log = progress.log
    run.finished_at = timezone.now()
    run.save()
    if run.status == AnalysisRun.Status.DONE and run.kind == AnalysisRun.Kind.ANALYSIS:
        _prune(run)
    return run


def _prune(run: AnalysisRun) -> None:
    """Older finished runs with the same options can never be fresh again; drop them."""
    run.study.analysis_runs.filter(
        kind=AnalysisRun.Kind.ANALYSIS,
        options_hash=run.options_hash,
        status__in=[AnalysisRun.Status.DONE, AnalysisRun.Status.FAILED],
        id__lt=run.pk,
    ).delete()


def options_from_pipeline(options: PipelineOptions) -> dict:
    """The library's resolved options as plain JSON (for method_config and summaries)."""
    from analysis.provenance import jsonable

    return jsonable(dataclasses.asdict(options))
