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
