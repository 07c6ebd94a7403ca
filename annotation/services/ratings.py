from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.errors import RatingConflict
from annotation.models import Dimension, Rating, RatingSession, Stimulus
from annotation.services.scores import score_validate


def rating_record(
    *,
    session: RatingSession,
    stimulus: Stimulus,
    dimension: Dimension,
    score: float,
    trial_index: int,
    response_time_ms: int | None = None,
    is_repeat: bool = False,
    is_training: bool = False,
) -> tuple[Rating, bool]:
    """Store one rating; a retry of the same rating returns the stored row, not a copy.

    Returns (rating, created). A different score for an already-rated trial and
    dimension is a conflict, not an overwrite: what was acknowledged stays.
    """
    study = session.subject.study
    value = score_validate(study=study, score=score)
    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                session=session,
                stimulus=stimulus,
                dimension=dimension,
                score=value,
                trial_index=trial_index,
                response_time_ms=response_time_ms,
                is_repeat=is_repeat,
                is_training=is_training,
            )
    except IntegrityError:
        rating = Rating.objects.get(session=session, trial_index=trial_index, dimension=dimension)
        if rating.score != value or rating.stimulus_id != stimulus.pk:
            raise RatingConflict(
                f"Trial {trial_index} ({dimension.key}) was already rated {rating.score:g}; "
                "a stored rating cannot be changed.",
                code="rating_conflict",
            ) from None
        return rating, False
    RatingSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())
    return rating, True
