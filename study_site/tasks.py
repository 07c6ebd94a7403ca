"""Site-wide maintenance tasks; also the smallest task a worker can be checked with."""

from celery import shared_task


@shared_task(name="study_site.ping", time_limit=30)
def ping(value: str = "pong") -> str:
    return value
