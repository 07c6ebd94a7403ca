"""Real Celery workers on real Redis, sharing this test's PostgreSQL database and MEDIA_ROOT.

The test process sends tasks the way the site does (the launch form, on commit); worker
processes started here train for real (resnet18, 32 px, CPU). Needs TEST_REDIS_URL and a
PostgreSQL TEST_DATABASE_URL: a worker cannot open SQLite's in-memory test database.
"""

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from annotation.tests.factories import AdminFactory
from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.tests.factories import LabelReleaseFactory, tiny_form
from study_site.tests.helpers import REPO, child_env, server_database_url
from study_site.worker import worker_argv

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_url(redis_url) -> str:
    server_database_url()  # skips on SQLite before anything is flushed
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # no task left over from an earlier run
    return redis_url


@pytest.fixture
def broker(redis_url):
    """Point this process's Celery app at Redis, as a production web server is."""
    from study_site.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)

    def reset_pools() -> None:
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url, app.conf.broker_transport_options = redis_url, {}
    reset_pools()
    yield redis_url
    app.conf.broker_url, app.conf.broker_transport_options = saved
    reset_pools()


class Workers:
    """Worker processes, each in its own process group so SIGKILL takes its pool too."""

    def __init__(self, redis_url: str, tmp_path: Path) -> None:
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, **env: str) -> str:
        hostname = f"{name}-{os.getpid()}@%h"
        log = self.tmp_path / f"{name}.log"
        process = subprocess.Popen(
            worker_argv(hostname=hostname, queues="gpu"),
            cwd=REPO,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_env(
                DEBUG="1",
                VAR_DIR=str(self.tmp_path / f"var-{name}"),
                DATABASE_URL=server_database_url(),
                MEDIA_ROOT=str(settings.MEDIA_ROOT),
                CELERY_BROKER_URL=self.redis_url,
                BENCHMARK_DEVICE="cpu",
                BENCHMARK_TORCH_THREADS="1",
                BENCHMARK_CACHE_DIR=str(self.tmp_path / "cache"),
                BENCHMARK_WEIGHTS_DIR=str(self.tmp_path / "weights"),
                **env,
            ),
        )
        self.processes[name] = (process, log)
        return f"{name}-{os.getpid()}@"

    def kill(self, name: str) -> None:
        """SIGKILL the worker's whole process group and return once all of it is gone.

        Waiting for the main process is not enough: a pool child or loader worker is not
        ours to wait for, and until it is gone it may still be committing a last write.
        """
        process, _ = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        wait_for(lambda: not _group_alive(process.pid), timeout=30, what=f"{name}'s group to die")

    def log(self, name: str) -> str:
        return self.processes[name][1].read_text()

    def stop_all(self) -> None:
        for process, _ in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def workers(broker, tmp_path):
    pool = Workers(broker, tmp_path)
    yield pool
    pool.stop_all()


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, logs=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n" + (logs() if logs else ""))


def _run(pk: int) -> BenchmarkRun:
    return BenchmarkRun.objects.get(pk=pk)


def _wait_for_first_epoch(pk: int, workers: Workers, worker: str) -> None:
    wait_for(
        lambda: _run(pk).progress.get("epoch", 0) >= 1,
        timeout=180,
        what=f"run {pk} to finish an epoch on worker {worker}",
        logs=lambda: workers.log(worker)[-5000:],
    )


def test_a_sweep_runs_end_to_end_from_the_launch_form_to_the_results_table(client, workers):
    release = LabelReleaseFactory()
    client.force_login(AdminFactory())
    # Streamed batches with the auto loader worker count: the gpu-queue worker runs the
    # solo pool, whose main process may start DataLoader workers (a prefork child may not).
    host = workers.start("e2e", BENCHMARK_DATA_PATH="stream", BENCHMARK_DATALOADER_WORKERS="-1")
    response = client.post(reverse("benchmark:sweep_new"), tiny_form(release, repeats=2, epochs=2))
    assert response.status_code == 302, response.content.decode()[-2000:]
    sweep = BenchmarkSweep.objects.get()
    wait_for(
        lambda: BenchmarkSweep.objects.get(pk=sweep.pk).status == "finished",
        timeout=300,
        what="the sweep to finish",
        logs=lambda: workers.log("e2e")[-5000:],
    )
    runs = list(sweep.runs.order_by("repeat"))
    assert [r.status for r in runs] == ["succeeded", "succeeded"], [r.error for r in runs]
    assert all(r.worker_host.startswith(host) and r.device == "cpu" for r in runs)
    assert all([h["epoch"] for h in r.history] == [1, 2] and r.attempts == 1 for r in runs)
    for r in runs:
        data = [e["event"] for e in r.events if e["event"].startswith("data path")]
        loaders = re.fullmatch(r"data path stream, (\d+) loader workers, .*", data[0])
        assert len(data) == 1 and loaders and int(loaders[1]) > 0, r.events
    page = client.get(reverse("benchmark:sweep_detail", args=[sweep.pk])).content.decode()
    assert 'id="results-table"' in page and "(n=2)" in page
    run_page = client.get(reverse("benchmark:run_detail", args=[runs[0].pk])).content.decode()
    assert 'id="metrics-table"' in run_page and host in run_page


def test_cancel_stops_the_running_run_and_the_queued_one_is_skipped(client, workers):
    release = LabelReleaseFactory()
    admin = AdminFactory()
    client.force_login(admin)
    workers.start("cancel")
    client.post(reverse("benchmark:sweep_new"), tiny_form(release, repeats=2, epochs=300))
    sweep = BenchmarkSweep.objects.get()
    first, second = sweep.runs.order_by("repeat")
    _wait_for_first_epoch(first.pk, workers, "cancel")
    assert _run(second.pk).status == "queued"  # one task at a time per worker
    assert client.post(reverse("benchmark:sweep_cancel", args=[sweep.pk])).status_code == 302
    assert _run(second.pk).status == "cancelled"
    wait_for(
        lambda: _run(first.pk).status == "cancelled",
        timeout=60,
        what="the running run to stop",
        logs=lambda: workers.log("cancel")[-5000:],
    )
    first = _run(first.pk)
    assert 1 <= first.progress["epoch"] < 300 and first.metrics == {}
    assert BenchmarkSweep.objects.get(pk=sweep.pk).status == "finished"
    # The worker then takes the cancelled run's task and skips it without training.
    wait_for(
        lambda: workers.log("cancel").count("succeeded in") >= 2,
        timeout=60,
        what="the second task to be skipped",
        logs=lambda: workers.log("cancel")[-5000:],
    )
    assert _run(second.pk).attempts == 0 and _run(second.pk).history == []


def test_a_worker_killed_mid_run_is_replaced_and_the_result_is_written_once(client, workers):
    release = LabelReleaseFactory()
    client.force_login(AdminFactory())
    # Redis gives an unacknowledged task to another worker once it is this many seconds
    # old; production uses more than the longest run (README), the test a few seconds.
    fast = {"CELERY_BROKER_VISIBILITY_TIMEOUT": "3"}
    lost_host = workers.start("doomed", **fast)
    client.post(reverse("benchmark:sweep_new"), tiny_form(release, epochs=12))
    run = BenchmarkSweep.objects.get().runs.get()
    _wait_for_first_epoch(run.pk, workers, "doomed")
    assert _run(run.pk).worker_host.startswith(lost_host)
    workers.kill("doomed")  # SIGKILL: no shutdown, no acknowledgement, nothing written
    assert _run(run.pk).status == "running"
    time.sleep(4)  # past the visibility timeout
    new_host = workers.start("rescuer", **fast)
    wait_for(
        lambda: _run(run.pk).status == "succeeded",
        timeout=300,
        what="the run to succeed on the second worker",
        logs=lambda: workers.log("rescuer")[-5000:],
    )
    done = _run(run.pk)
    assert done.attempts == 2 and done.worker_host.startswith(new_host)
    assert done.output_dir.endswith("attempt-2") and done.predictions_path.startswith(
        done.output_dir
    )
    # One complete history from the second attempt, not the first's epochs plus the second's.
    assert [h["epoch"] for h in done.history] == list(range(1, 13))
    # The lost attempt's last epoch is what the event recorded when the rescuer claimed
    # the run; a read of the progress right after the kill could race the killed
    # worker's last commit, so the event is the only account of it asserted on.
    event = [e["event"] for e in done.events if "worker loss" in e["event"]]
    assert len(event) == 1 and lost_host in event[0], done.events
    lost_at = re.search(r"stopped at epoch (\d+) of 12", event[0])
    assert lost_at and 1 <= int(lost_at[1]) < 12, event[0]
    page = client.get(reverse("benchmark:run_detail", args=[run.pk])).content.decode()
    assert "re-queued after worker loss" in page
    sweep = BenchmarkSweep.objects.get()
    assert sweep.status == "finished" and sweep.results["rows"][0]["succeeded"] == 1
    time.sleep(3)  # nothing else arrives: the task was delivered again once, not twice
    assert _run(run.pk).attempts == 2
    assert workers.log("rescuer").count("succeeded in") == 1
