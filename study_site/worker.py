"""The command line of a local Celery worker, shared by the demo and the tests that start one."""

import sys


def worker_argv(
    *, hostname: str, queues: str = "default,gpu", beat_schedule: str | None = None
) -> list[str]:
    """``beat_schedule`` (a file path) also runs Celery beat inside this worker, as a lone
    local worker may; production runs one ``celery -A study_site beat`` process instead."""
    beat = ["--beat", "--schedule", beat_schedule] if beat_schedule else []
    # One process and no gossip/mingle: a local worker needs no cluster chatter, and the
    # filesystem broker cannot carry it.
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "study_site",
        "worker",
        "-Q",
        queues,
        "--pool",
        pool_for(queues),
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        hostname,
        *beat,
    ]


def pool_for(queues: str) -> str:
    """A worker of the gpu queue alone (one per GPU, docs/benchmarks.md) uses the solo pool:
    it runs the task in the worker's main process, which, unlike a daemonic prefork child,
    may start DataLoader workers. Other workers keep prefork, which enforces time limits."""
    return "solo" if queues.split(",") == ["gpu"] else "prefork"
