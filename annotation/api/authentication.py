"""Personal API tokens for the API: ``Authorization: Token <token>`` or ``Bearer <token>``.

The request runs as the token's owner, so the owner's permissions apply (staff only;
another researcher's study answers 404), narrowed by the token's scope: a read-only token
is refused (403) for anything but GET, HEAD and OPTIONS, on every API view alike. No CSRF
check: a token is not a cookie a browser sends by itself.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from annotation.services.api_tokens import api_token_authenticate

KEYWORDS = (b"token", b"bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # no token: the session (or nothing) decides
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as 'Authorization: Token <token>' (one space, no quotes)."
            )
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "Invalid token: copy it again exactly as it was shown when it was created."
            ) from None
        record = api_token_authenticate(token=token)
        if record is None or not record.user.is_active:
            raise exceptions.AuthenticationFailed(
                "Invalid or revoked token; create a new one on the site's API tokens page."
            )
        if not record.may_write and request.method not in permissions.SAFE_METHODS:
            # Refused here rather than in each view's permissions, so no view can forget it.
            raise exceptions.PermissionDenied(
                "This API token is read-only; create a read-write token to change data."
            )
        return record.user, record

    def authenticate_header(self, request) -> str:
        # Used only if this class is listed first (then failures answer 401, not 403).
        return 'Token realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The token scheme in the OpenAPI schema (drf-spectacular finds it by target class)."""

    target_class = "annotation.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (create one under Account > API tokens), "
            "sent as `Authorization: Bearer <token>` or `Authorization: Token <token>`. "
            "Requests run with the token owner's permissions.",
        }
