"""The job runner for analysis runs and freezes: caching, inline or Celery, progress on the row.

A run is cached under (study, options hash, ratings fingerprint). A new rating changes the
fingerprint, so the page finds no fresh run and offers to recompute; the old run stays
visible, marked stale. Small studies are analysed (or frozen) inline in the request (the
demo's 3,780 ratings take about a second); larger ones go to the ``default`` Celery queue
and the page polls the run's progress. This is the top of the analysis services: it uses
the options and library bridge (:mod:`analysis_options`), the page digest
(:mod:`analysis_digest`) and the release writer (:mod:`releases`); ``annotation.tasks``
imports only this module for analysis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from annotation.models import AnalysisRun, LabelRelease, Study
from annotation.selectors.analysis import ratings_snapshot
from annotation.services.analysis_options import (
    analysis_options_hash,
    pairwise_run,
    pipeline_run,
    study_choices_required,
    study_is_pairwise,
    study_options_clean,
    study_ratings_required,
)
from annotation.services.releases import release_freeze
from common.progress import Progress, ThrottledProgress, progress_fraction, progress_scaled
from core.jobs import ANALYSIS_RUN, enqueue_on_commit, failure_handler

log = logging.getLogger(__name__)

DEFAULT_INLINE_MAX_RATINGS = 50_000
# A pairwise run costs far more per row than a ratings run: the outlier check solves one
# leave-one-out scale per (subject, group) and the bootstrap one per resample and group
# (perf/pairwise_analysis.py: 2,000 choices of 300 subjects in 20 groups take about 30 s
# with 500 resamples), so only small pairwise studies are analysed in the request.
DEFAULT_INLINE_MAX_CHOICES = 1_000


def inline_max_ratings() -> int:
    return int(getattr(settings, "ANALYSIS_INLINE_MAX_RATINGS", DEFAULT_INLINE_MAX_RATINGS))


def inline_max_choices() -> int:
    return int(getattr(settings, "ANALYSIS_INLINE_MAX_CHOICES", DEFAULT_INLINE_MAX_CHOICES))


def analysis_run_request(
    *,
    study: Study,
    options: Mapping | None,
    created_by: AbstractBaseUser | None = None,
    force: bool = False,
    inline: bool | None = None,
) -> AnalysisRun:
    """A fresh run for these options: the cached one, or a new one, computed now or queued
    (``inline=None``: by size, see :func:`inline_max_ratings`). A pairwise study's run
    analyses its choices (``ratings_count``/``ratings_last_id`` then count choices)."""
    clean = study_options_clean(study=study, data=options)
    fingerprint = (
        study_choices_required(study=study)
        if study_is_pairwise(study)
        else study_ratings_required(study=study)
    )
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
        limit = inline_max_choices() if study_is_pairwise(run.study) else inline_max_ratings()
        inline = run.ratings_count <= limit
    if inline:
        return analysis_run_execute(run=run)
    enqueue_on_commit(ANALYSIS_RUN, run.pk)
    return run


class _RunProgress:
    """Writes step and fraction to the run row (throttled), so the page's poll sees them move;
    keeps the log of when each step began."""

    def __init__(self, run: AnalysisRun) -> None:
        self.run = run
        self.started = time.monotonic()
        self.log: list[dict] = []
        self.written = ThrottledProgress(self._write)

    def __call__(self, step: str, done: float, total: float) -> None:
        if not self.log or self.log[-1]["step"] != step:
            self.log.append({"step": step, "at": round(time.monotonic() - self.started, 3)})
        self.written(step, done, total)

    def _write(self, step: str, done: float, total: float) -> None:
        fraction = round(progress_fraction(done, total), 4)
        self.run.step, self.run.progress, self.run.log = step, fraction, list(self.log)
        AnalysisRun.objects.filter(pk=self.run.pk).update(
            step=step, progress=fraction, log=self.run.log
        )

    def loading(self) -> Progress:
        """For the ratings snapshot, which counts rows read: the first 30 % of a run."""
        return progress_scaled(self, start=0.0, end=0.3)

    def pipeline(self) -> Progress:
        """The library's steps fill 30..90 %; its last step is our figures."""
        scaled = progress_scaled(self, start=0.3, end=0.9)

        def report(step: str, done: float, total: float) -> None:
            scaled(step if step != "done" else "figures", done, total)

        return report


def analysis_run_execute(*, run: AnalysisRun) -> AnalysisRun:
    """Compute a run (analysis or freeze); failures are recorded on the run, never raised."""
    # The digest loads pandas and plotly; web processes that only read runs never need them.
    from annotation.services.analysis_digest import analysis_digest

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
            run.ratings_count = release.method_config["ratings"]["count"]
            run.ratings_last_id = release.method_config["ratings"]["last_id"]
            run.summary = {"release": release.version, "counts": release.counts}
        elif study_is_pairwise(run.study):
            _pairwise_execute(run, progress)
        else:
            snapshot = ratings_snapshot(
                study=run.study, progress=progress.loading(), expected_rows=run.ratings_count
            )
            if snapshot.fingerprint.count == 0:
                raise ValidationError("The study has no ratings (training ratings do not count).")
            result = pipeline_run(
                study=run.study,
                options=run.options,
                snapshot_frame=snapshot.frame,
                progress=progress.pipeline(),
            )
            progress("figures", 0.9, 1.0)
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


def _pairwise_execute(run: AnalysisRun, progress: _RunProgress) -> None:
    """A pairwise study's analysis: its choices through the pairwise pipeline."""
    from annotation.selectors.analysis import pairwise_choices_fingerprint, pairwise_choices_frame
    from annotation.services.analysis_digest import pairwise_digest

    progress("loading choices", 0.0, 1.0)
    # Fingerprint first: a choice arriving while the frame is read makes the run stale,
    # never wrongly fresh.
    fingerprint = pairwise_choices_fingerprint(study=run.study)
    frame = pairwise_choices_frame(study=run.study)
    if frame.empty:
        raise ValidationError("The study has no pairwise choices.")
    result = pairwise_run(options=run.options, choices_frame=frame, progress=progress.pipeline())
    progress("figures", 0.9, 1.0)
    run.summary, run.payload = pairwise_digest(study=run.study, result=result)
    run.ratings_count = fingerprint.count
    run.ratings_last_id = fingerprint.last_id


def _prune(run: AnalysisRun) -> None:
    """Older finished runs with the same options can never be fresh again; drop them."""
    run.study.analysis_runs.filter(
        kind=AnalysisRun.Kind.ANALYSIS,
        options_hash=run.options_hash,
        status__in=[AnalysisRun.Status.DONE, AnalysisRun.Status.FAILED],
        id__lt=run.pk,
    ).delete()


@dataclass(frozen=True)
class FreezeOutcome:
    """A small study is frozen at once (``release``); a large one is queued (``run``)."""

    release: LabelRelease | None = None
    run: AnalysisRun | None = None


def release_freeze_request(
    *, study: Study, options: Mapping | None, created_by: AbstractBaseUser | None = None
) -> FreezeOutcome:
    """Freeze now when the study is small, else queue a freeze run for a worker."""
    clean = study_options_clean(study=study, data=options)
    fingerprint = (
        study_choices_required(study=study)
        if study_is_pairwise(study)
        else study_ratings_required(study=study)
    )
    user = created_by if created_by is not None and created_by.is_authenticated else None
    if fingerprint.count <= inline_max_ratings():
        return FreezeOutcome(release=release_freeze(study=study, options=clean, created_by=user))
    run = AnalysisRun.objects.create(
        study=study,
        kind=AnalysisRun.Kind.FREEZE,
        options=clean,
        options_hash=analysis_options_hash(options=clean),
        ratings_count=fingerprint.count,
        ratings_last_id=fingerprint.last_id,
        created_by=user,
    )
    return FreezeOutcome(run=analysis_run_dispatch(run=run))


@failure_handler(ANALYSIS_RUN)
def analysis_run_fail(run_id: int, reason: str) -> None:
    """The run failed outside the analysis itself (queue unreachable, worker died)."""
    unfinished = (AnalysisRun.Status.PENDING, AnalysisRun.Status.RUNNING)
    AnalysisRun.objects.filter(pk=run_id, status__in=unfinished).update(
        status=AnalysisRun.Status.FAILED, error=reason, finished_at=timezone.now()
    )
