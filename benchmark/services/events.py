"""A run's event log: the short, timestamped lines its page shows under "Events"."""

from django.utils import timezone

from benchmark.models import BenchmarkRun


def run_event(run: BenchmarkRun, text: str) -> None:
    """Append to the run's event log (the caller saves ``events``)."""
    run.events = [*run.events, {"at": timezone.now().isoformat(), "event": text}]
