"""Throttles guessing of subject links (``/s/<token>/...``).

Every unknown token answers 404; an address that collects ``INVITE_GUESS_LIMIT`` of them
within ``INVITE_GUESS_WINDOW_S`` seconds gets 429 on every subject URL until the window
closes. A real subject never sees this: their token is known, and the limit is far above
what mistyped links produce.
"""

from django.conf import settings
from django.shortcuts import render

from core.http import client_ip
from core.throttle import failure_record, failures_exceeded

SUBJECT_PREFIX = "/s/"
SCOPE = "invite"


class InviteGuessThrottle:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(SUBJECT_PREFIX):
            return self.get_response(request)
        client = client_ip(request) or "unknown"
        if failures_exceeded(scope=SCOPE, client=client, limit=settings.INVITE_GUESS_LIMIT):
            return self._refused(request)
        response = self.get_response(request)
        if response.status_code == 404:
            failure_record(scope=SCOPE, client=client, window_s=settings.INVITE_GUESS_WINDOW_S)
        return response

    def _refused(self, request):
        minutes = max(1, settings.INVITE_GUESS_WINDOW_S // 60)
        response = render(
            request,
            "annotation/subject/throttled.html",
            {"minutes": minutes},
            status=429,
        )
        response["Retry-After"] = str(settings.INVITE_GUESS_WINDOW_S)
        return response
