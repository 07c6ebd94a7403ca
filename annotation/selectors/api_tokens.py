"""Reads of a researcher's personal API tokens (their hashes never leave the database)."""

from django.db.models import QuerySet

from annotation.models import ApiToken
from core.errors import NotFound


def api_tokens_for_user(*, user) -> QuerySet[ApiToken]:
    """The user's tokens, active first, newest first; never anyone else's (admins included)."""
    return (
        ApiToken.objects.filter(user=user)
        .defer("token_hash")
        .order_by("revoked_at", "-created_at", "-id")
    )


def api_token_get_for_user(*, user, pk: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=pk).first()
    if token is None:
        raise NotFound("No such token.")
    return token
