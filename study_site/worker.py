"""The command line of a local Celery worker, shared by the demo and the tests that start one."""

import sys


def worker_argv(*, hostname: str, queues: str = "default,gpu") -> list[str]:
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
    ]


def pool_for(queues: str) -> str:
    """A worker of the gpu queue alone (one per GPU, docs/benchmarks.md) uses the solo pool:
    it runs the task in the worker's main process, which, unlike a daemonic prefork child,
    may start DataLoader workers. Other workers keep prefork, which enforces time limits."""
    return "solo" if queues.split(",") == ["gpu"] else "prefork"
