"""Reads for researcher pages and APIs: a study as its owner (or an admin) sees it."""

import math
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.urls import reverse

from annotation.models import ImportJob, Rating, Stimulus, Study, Subject
from core.errors import NotFound


def study_list_for_user(*, user) -> QuerySet[Study]:
    """Researchers see their own studies; admins (superusers) see all."""
    studies = Study.objects.all()
    if not user.is_superuser:
        studies = studies.filter(owner=user)
    return studies.annotate(
        stimulus_count=Count("stimuli", distinct=True),
        subject_count=Count("subjects", distinct=True),
        completed_count=Count(
            "subjects", filter=Q(subjects__session__completed_at__isnull=False), distinct=True
        ),
    ).order_by("-created_at")


def invite_path(token: str) -> str:
    """Path of a subject's invite link (the subject pages' entry, /s/<token>/)."""
    return reverse("annotation:subject-entry", kwargs={"token": token})


def study_get_for_user(*, user, pk: int) -> Study:
    """The study if this researcher may see it; NotFound otherwise, so ids do not leak."""
    study = study_list_for_user(user=user).filter(pk=pk).first()
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


@dataclass(frozen=True)
class SubjectStatus:
    subject: Subject
    state: str  # not_started | in_progress | completed | declined
    done: int
    total: int

    @property
    def text(self) -> str:
        if self.state == "in_progress":
            return f"in progress {self.done} of {self.total}"
        return self.state.replace("_", " ")


def subject_statuses(*, study: Study) -> list[SubjectStatus]:
    statuses = []
    for subject in study.subjects.select_related("session").order_by("id"):
        session = getattr(subject, "session", None)
        total = len(session.playlist) if session else 0
        done = min(session.cursor, total) if session else 0
        if subject.declined_at:
            state = "declined"
        elif session is None:
            state = "not_started"
        elif session.completed_at:
            state, done = "completed", total
        else:
            state = "in_progress"
        statuses.append(SubjectStatus(subject=subject, state=state, done=done, total=total))
    return statuses


def stimulus_list_for_study(*, study: Study) -> QuerySet[Stimulus]:
    return (
        study.stimuli.annotate(rating_count=Count("ratings", filter=Q(ratings__is_training=False)))
        .select_related("same_file_as")
        .order_by("id")
    )


def study_progress(*, study: Study) -> dict:
    """Numbers for the progress dashboard; plain data so the JSON endpoint can return it."""
    dimensions = max(study.dimensions.count(), 1)
    target = study.target_ratings_per_stimulus
    ratings = Rating.objects.filter(session__subject__study=study, is_training=False)
    # A stimulus is "rated once" per trial, which stores one row per dimension.
    per_stimulus = dict(
        ratings.values("stimulus").annotate(n=Count("id")).values_list("stimulus", "n")
    )
    stimulus_ids = list(
        study.stimuli.filter(role=Stimulus.Role.NORMAL).values_list("id", flat=True)
    )
    counts = [per_stimulus.get(pk, 0) // dimensions for pk in stimulus_ids]
    missing = sum(max(target - c, 0) for c in counts)
    session_rating_trials = max(study.session_size - study.repeats_per_session, 1)
    statuses = subject_statuses(study=study)
    # Sessions under way will still deliver their remaining trials.
    under_way = sum(s.total - s.done for s in statuses if s.state == "in_progress")
    still_needed = max(missing - under_way, 0)
    hourly = (
        ratings.annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(n=Count("id"))
        .order_by("hour")
    )
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
            {"hour": row["hour"].isoformat(), "count": row["n"] // dimensions} for row in hourly
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
    }
