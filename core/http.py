"""What page views need to turn a selector's answer into an HTTP answer."""

from collections.abc import Callable
from typing import TypeVar

from django.http import Http404

from core.errors import NotFound

Found = TypeVar("Found")


def get_or_404(lookup: Callable[..., Found], /, **kwargs) -> Found:
    """``lookup(**kwargs)``; a missing (or not visible) object becomes a 404 page."""
    try:
        return lookup(**kwargs)
    except NotFound as exc:
        raise Http404(str(exc)) from None
