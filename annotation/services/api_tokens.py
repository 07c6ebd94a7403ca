"""Personal API tokens: create (shown once), revoke, and the check behind each API request."""

import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from annotation.models import ApiToken
from annotation.tokens import token_hash

# Marks the string as this site's API token (and never a subject's invite token, which has
# no prefix), so a token pasted in the wrong place is easy to recognise.
API_TOKEN_PREFIX = "aiq_"
MAX_ACTIVE_TOKENS = 20
# A token used many times a minute is written once a minute, not once per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_token_create(
    *, user: AbstractBaseUser, name: str, scope: str = ApiToken.Scope.WRITE
) -> tuple[ApiToken, str]:
    """A new token for ``user``; the token itself is returned here and never stored."""
    if scope not in ApiToken.Scope.values:
        raise ValidationError(f"Unknown token scope {scope!r}: use 'read' or 'write'.")
    name = name.strip()
    if not name:
        raise ValidationError("Give the token a name, e.g. the script or machine that uses it.")
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
        raise ValidationError(
            f"You already have {MAX_ACTIVE_TOKENS} active tokens; revoke one you no longer use."
        )
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken.objects.create(
        user=user, name=name[:100], token_hash=token_hash(token), prefix=token[:10], scope=scope
    )
    return record, token


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, token: str) -> ApiToken | None:
    """The active token (with its user) that ``token`` is, noting its use; None if none is.

    Only API tokens are looked up: a subject's invite token is hashed the same way but
    lives in another table, so it is never accepted here.
    """
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    record = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if record is None:
        return None
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
        record.last_used_at = now
    return record
