"""Bulk actions on a study's stimuli: on the rows a researcher ticked, or on every stimulus
that matches the table's current search and filters.

Every action is scoped to one study's stimuli queryset, so a selection can never reach
another study's rows, whatever ids a request carries.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from annotation.models import Stimulus

BULK_ACTIONS = {
    "role_normal": "Make normal (rated; no expected answer)",
    "exclude": "Exclude from new playlists",
    "include": "Include in new playlists again",
}


def stimuli_bulk_apply(*, stimuli: QuerySet[Stimulus], action: str) -> int:
    """Apply ``action`` to ``stimuli`` (already limited to one study); returns the count.

    Training and gold roles need an expected answer per stimulus (and training an
    explanation), so they are set one stimulus at a time, not in bulk.
    """
    if action not in BULK_ACTIONS:
        raise ValidationError(f"Unknown action {action!r}; use one of {', '.join(BULK_ACTIONS)}.")
    # An UPDATE cannot carry ORDER BY or the annotations a filtered table may hold.
    targets = Stimulus.objects.filter(pk__in=stimuli.order_by().values("pk"))
    with transaction.atomic():
        if action == "role_normal":
            return targets.update(role=Stimulus.Role.NORMAL, explanation="", expected_scores={})
        return targets.update(excluded_from_playlists=action == "exclude")
