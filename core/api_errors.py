"""The API's one exception handler: service and selector errors become JSON answers.

Services raise Django's ``ValidationError`` (``ImportRejected``, ``ScoreOutOfRange`` ...)
and selectors ``core.errors.NotFound``; views let them propagate. Bodies keep the API's format: ``{"detail": [messages]}`` with 400 for a
rejected request, ``{"detail": "..."}`` with 404 for a missing object. Everything else
(DRF's own errors, Django's ``PermissionDenied``, ``Http404``) goes to DRF's handler; a
bare ``DoesNotExist`` stays a 500, since it means a bug rather than a missing object.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import NotFound


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError({"detail": exc.messages})
    elif isinstance(exc, NotFound):
        exc = exceptions.NotFound(str(exc) or None)
    return exception_handler(exc, context)
