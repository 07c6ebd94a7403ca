"""Reads behind a study's recruitment link: the study a link opens, who already arrived."""

from annotation.models import RatingSession, Study, Subject


def study_for_recruitment_key(*, key: str) -> Study | None:
    """The study whose public recruitment link this is, if the link is switched on."""
    if not key:
        return None
    return (
        Study.objects.filter(recruitment_key=key)
        .exclude(recruitment_platform=Study.Platform.NONE)
        .first()
    )


def recruited_subject(*, study: Study, id_hash: str) -> Subject | None:
    return Subject.objects.filter(study=study, platform_id_hash=id_hash).first()


def recruited_completed_count(*, study: Study) -> int:
    """Subjects who came through the link and finished: what the quota counts."""
    return (
        RatingSession.objects.filter(subject__study=study, completed_at__isnull=False)
        .exclude(subject__platform="")
        .count()
    )


def idle_recruited_sessions(*, study: Study, since) -> list[int]:
    """Unfinished, unreleased recruited sessions with no activity after ``since``."""
    return list(
        RatingSession.objects.filter(
            subject__study=study,
            completed_at__isnull=True,
            released_at__isnull=True,
            last_activity_at__lt=since,
        )
        .exclude(subject__platform="")
        .values_list("id", flat=True)
    )
