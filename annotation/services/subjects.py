from django.db import transaction

from annotation.models import Study, Subject
from annotation.tokens import new_invite_token, token_hash


def subject_labels_free(*, study: Study, count: int, prefix: str = "S") -> list[str]:
    """The next `count` numbered labels not yet used in the study (labels are unique).

    Numbering starts after the subject count, and skips labels taken by hand or left by
    subjects created another way, so a new invite never collides with an old one.
    """
    existing = set(study.subjects.values_list("label", flat=True))
    labels: list[str] = []
    number = len(existing)
    while len(labels) < count:
        number += 1
        label = f"{prefix}{number:04d}"
        if label not in existing:
            labels.append(label)
    return labels


@transaction.atomic
def subject_invite_create(
    *, study: Study, label: str = "", token: str = "", simulated: bool = False
) -> tuple[Subject, str]:
    """Create a subject and return it with its invite token, which is stored only hashed."""
    token = token or new_invite_token()
    if not label:
        (label,) = subject_labels_free(study=study, count=1)
    subject = Subject.objects.create(
        study=study, label=label, token_hash=token_hash(token), simulated=simulated
    )
    return subject, token
