"""What page views need to turn a selector's answer into an HTTP answer."""

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.http import Http404

from core.errors import NotFound

Found = TypeVar("Found")


def get_or_404(lookup: Callable[..., Found], /, **kwargs) -> Found:
    """``lookup(**kwargs)``; a missing (or not visible) object becomes a 404 page."""
    try:
        return lookup(**kwargs)
    except NotFound as exc:
        raise Http404(str(exc)) from None


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or the address the trusted proxies saw.

    Behind ``TRUSTED_PROXY_COUNT`` reverse proxies (each appending to X-Forwarded-For),
    the client is that many entries from the right; entries further left are whatever
    the client chose to send, so they are never believed. None when no address is known
    (a request made in code, as tests' force_login makes).
    """
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if proxies and len(hops) >= proxies:
        return hops[-proxies]
    return request.META.get("REMOTE_ADDR") or None
