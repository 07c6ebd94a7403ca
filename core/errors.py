"""Errors that selectors and services raise instead of HTTP responses.

Views decide what a caller sees: the DRF exception handler (``core.api_errors``) maps
these for the API, and ``core.http.get_or_404`` for pages.
"""

from django.core.exceptions import ObjectDoesNotExist


class NotFound(ObjectDoesNotExist):
    """The object does not exist, or the caller may not know that it does (ids do not leak)."""
