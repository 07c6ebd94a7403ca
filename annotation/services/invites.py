"""Invites in bulk; tokens are stored hashed, so their links exist only in this response."""

import csv
import io
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import Study, Subject
from annotation.services.subjects import subject_invite_create, subject_labels_free

MAX_INVITES_PER_REQUEST = 1000


@transaction.atomic
def invites_create(
    *, study: Study, count: int, label_prefix: str = "S"
) -> list[tuple[Subject, str]]:
    """Create `count` subjects with fresh tokens; return (subject, token) pairs."""
    if not 1 <= count <= MAX_INVITES_PER_REQUEST:
        raise ValidationError(f"Create between 1 and {MAX_INVITES_PER_REQUEST} invites at once.")
    labels = subject_labels_free(study=study, count=count, prefix=label_prefix)
    return [subject_invite_create(study=study, label=label) for label in labels]


def invites_csv(*, invites: list[tuple[Subject, str]], link_for: Callable[[str], str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", "link"])
    for subject, token in invites:
        writer.writerow([subject.label, link_for(token)])
    return buffer.getvalue()
