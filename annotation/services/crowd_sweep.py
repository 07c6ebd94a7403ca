"""The periodic sweep of crowd sessions: idle ones released, overlong ones ended.

Arrivals and `manage.py study release-idle` already do this for one study; the sweep does
it for every study with such a limit on a timer (Celery beat), so that a stalled study hands its
unrated trials back without waiting for the next arrival.
"""

from dataclasses import dataclass

from django.db.models import Q

from annotation.models import Study
from annotation.services.quality import sessions_past_max_duration_end
from annotation.services.recruitment import idle_sessions_release


@dataclass(frozen=True)
class SweepCounts:
    studies: int
    released: int
    ended: int


def crowd_sessions_sweep() -> SweepCounts:
    """Release idle recruited sessions and end overlong ones, in every study that sets a limit."""
    studies = Study.objects.filter(Q(idle_release_minutes__gt=0) | Q(max_duration_minutes__gt=0))
    released = ended = count = 0
    for study in studies.iterator():
        released += idle_sessions_release(study=study)
        ended += sessions_past_max_duration_end(study=study)
        count += 1
    return SweepCounts(studies=count, released=released, ended=ended)
