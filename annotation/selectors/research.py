"""Reads for researcher pages and APIs: a study as its owner (or an admin) sees it."""

import math
from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from annotation.models import ImportJob, Rating, RatingSession, Stimulus, Study, Subject
from annotation.selectors.allocation import allocation_progress
from annotation.selectors.pairwise import (
    pairwise_stage_counts,
    pairwise_trials_per_hour,
    pairwise_trials_per_stimulus,
)
from annotation.selectors.stimuli import stimulus_trial_counts
from annotation.selectors.subject_reports import subject_rows, trials_per_hour
from core.errors import NotFound


def studies_visible_to(*, user) -> QuerySet[Study]:
    """Researchers see their own studies; admins (superusers) see all. No annotations."""
    studies = Study.objects.all()
    if not user.is_superuser:
        studies = studies.filter(owner=user)
    return studies


def _count_of(queryset: QuerySet) -> Subquery:
    """COUNT(*) of a correlated queryset, as a scalar subquery (no join fans out rows)."""
    counted = queryset.order_by().values(group=Value(1)).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def study_list_for_user(*, user) -> QuerySet[Study]:
    """The studies ``user`` may see, with their stimulus, subject and completed counts.

    Each count is its own subquery: joining stimuli and subjects at once would multiply a
    20,000-stimulus study's rows by its subjects before counting them.
    """
    return (
        studies_visible_to(user=user)
        .annotate(
            stimulus_count=_count_of(Stimulus.objects.filter(study=OuterRef("pk"))),
            subject_count=_count_of(Subject.objects.filter(study=OuterRef("pk"))),
            completed_count=_count_of(
                Subject.objects.filter(study=OuterRef("pk"), session__completed_at__isnull=False)
            ),
        )
        .order_by("-created_at")
    )


def invite_path(token: str) -> str:
    """Path of a subject's invite link (the subject pages' entry, /s/<token>/)."""
    return reverse("annotation:subject-entry", kwargs={"token": token})


def study_get_for_user(*, user, pk: int) -> Study:
    """The study if this researcher may see it; NotFound otherwise, so ids do not leak."""
    study = studies_visible_to(user=user).filter(pk=pk).first()
    if study is None:
        raise NotFound("No such study.")
    return study


def stimulus_get_for_user(*, user, study_pk: int, pk: int) -> Stimulus:
    study = study_get_for_user(user=user, pk=study_pk)
    stimulus = study.stimuli.filter(pk=pk).first()
    if stimulus is None:
        raise NotFound("No such stimulus.")
    return stimulus


def import_job_get_for_user(*, user, pk: int) -> ImportJob:
    jobs = ImportJob.objects.select_related("study")
    if not user.is_superuser:
        jobs = jobs.filter(Q(created_by=user) | Q(study__owner=user))
    job = jobs.filter(pk=pk).first()
    if job is None:
        raise NotFound("No such import.")
    return job


def import_job_summary(*, job: ImportJob) -> str:
    """What a finished import made, in one sentence ('' while it runs or when it failed)."""
    if job.status != ImportJob.Status.DONE or not job.result:
        return ""
    created = job.result.get("created", 0)
    study = job.study
    where = f" into {study.name}" if study is not None else ""
    text = f"Imported {created} image{'s' if created != 1 else ''}{where}"
    if study is not None:
        with_reference = study.stimuli.exclude(reference_image="").count()
        if with_reference:
            text += f" ({with_reference} of the study's stimuli have a prompt image)"
    release_pk = job.result.get("release")
    release = study.releases.filter(pk=release_pk).first() if release_pk and study else None
    if release is not None:
        counts = release.counts or {}
        text += f", with label release v{release.version}"
        # A published database may withhold some MOS (unlabelled stimuli of its release).
        labelled = counts.get("stimuli", 0) - counts.get("unlabelled", 0)
        if labelled:
            text += f" (MOS of {labelled} stimuli)"
    return text + "."


@dataclass(frozen=True)
class SubjectStatus:
    subject: Subject
    state: str  # not_started | in_progress | completed | declined
    done: int
    total: int


def display_check_text(check: dict) -> str:
    """A session's display check in one line: window, pixel ratio, fullscreen, grey steps."""
    if not check:
        return "–"
    parts = [
        f"{check['window_width']}×{check['window_height']} @{check['device_pixel_ratio']:g}x",
        "fullscreen" if check.get("fullscreen") else "windowed",
    ]
    if check.get("grey_steps_distinguishable"):
        parts.append("grey steps seen")
    return ", ".join(parts)


def too_fast_trials_by_subject(*, subject_ids: list[int]) -> dict[int, int]:
    """Rating trials (training not counted) answered too fast, per subject of one page."""
    rows = (
        Rating.objects.filter(session__subject_id__in=subject_ids, too_fast=True, is_training=False)
        .values("session__subject_id")
        .annotate(trials=Count("trial_index", distinct=True))
    )
    return {row["session__subject_id"]: row["trials"] for row in rows}


def subject_statuses(*, study: Study) -> list[SubjectStatus]:
    """Every subject's state and progress, computed by the database (playlists stay there)."""
    return [
        SubjectStatus(
            subject=subject,
            state=subject.state,
            done=subject.trials_done,
            total=subject.trials_total,
        )
        for subject in subject_rows(study=study).order_by("id")
    ]


def subject_by_completion_code(*, user, code: str) -> Subject:
    """The subject who finished with ``code`` in a study ``user`` may see (annotated as
    :func:`annotation.selectors.subject_reports.subject_rows`); NotFound otherwise."""
    session = (
        RatingSession.objects.filter(
            completion_code=code.strip(),
            subject__study__in=studies_visible_to(user=user).values("pk"),
        )
        .exclude(completion_code="")
        .select_related("subject__study")
        .first()
    )
    if session is None:
        raise NotFound("No subject finished with this completion code in your studies.")
    return subject_rows(study=session.subject.study).get(pk=session.subject_id)


def trials_per_stimulus(*, study: Study) -> list[int]:
    """Rated trials of each normal stimulus (a trial stores one rating per dimension)."""
    return stimulus_trial_counts(study=study, dimensions=max(study.dimensions.count(), 1))


@dataclass(frozen=True)
class TargetShortfall:
    """Stimuli rated in fewer trials than the study's target (what freezing warns about)."""

    target: int
    stimuli: int
    below: int
    fewest: int


def target_shortfall(*, study: Study) -> TargetShortfall | None:
    counts = trials_per_stimulus(study=study)
    target = study.target_ratings_per_stimulus
    below = [count for count in counts if count < target]
    if not below:
        return None
    return TargetShortfall(target=target, stimuli=len(counts), below=len(below), fewest=min(below))


def study_progress(*, study: Study) -> dict:
    """Numbers for the progress dashboard; plain data so the JSON endpoint can return it."""
    target = study.target_ratings_per_stimulus
    pairwise = study.scale_type == Study.ScaleType.PAIRWISE
    # A pairwise study counts its answered comparisons per image, as ACR counts ratings.
    counts = (
        pairwise_trials_per_stimulus(study=study) if pairwise else trials_per_stimulus(study=study)
    )
    missing = sum(max(target - c, 0) for c in counts)
    session_rating_trials = max(study.session_size - study.repeats_per_session, 1)
    if pairwise:  # repeats come on top of session_size pairs, each comparing two images
        session_rating_trials = 2 * max(study.session_size, 1)
    statuses = subject_statuses(study=study)
    # Sessions under way will still deliver their remaining trials.
    under_way = sum(s.total - s.done for s in statuses if s.state == "in_progress")
    still_needed = max(missing - under_way, 0)
    hourly = pairwise_trials_per_hour(study=study) if pairwise else trials_per_hour(study=study)
    by_state: dict[str, int] = {}
    for status in statuses:
        by_state[status.state] = by_state.get(status.state, 0) + 1
    return {
        "study": study.pk,
        "target": target,
        "stimuli": len(counts),
        "stimuli_at_target": sum(1 for c in counts if c >= target),
        "ratings_per_stimulus": counts,
        "ratings_missing": missing,
        "sessions_needed": math.ceil(still_needed / session_rating_trials),
        "ratings_per_hour": [
            {"hour": row["hour"].isoformat(), "count": row["n"]} for row in hourly
        ],
        "subjects": [
            {
                "label": s.subject.label,
                "state": s.state,
                "done": s.done,
                "total": s.total,
            }
            for s in statuses
        ],
        "subjects_by_state": by_state,
        # Adaptive studies stop by precision, not by count: the numbers that matter there.
        "allocation": allocation_progress(study=study),
        "pairs_by_stage": pairwise_stage_counts(study=study) if pairwise else None,
    }
