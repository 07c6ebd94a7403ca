"""The job helper (core.jobs): every task name it is asked to send is a registered task."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.signals import task_failure
from django.db import transaction

from core import jobs
from study_site.celery import app

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {".venv", "node_modules", ".git", "tests"}


def _source_files() -> list[Path]:
    return [
        path for path in ROOT.rglob("*.py") if not SKIPPED & set(path.relative_to(ROOT).parts[:-1])
    ]


def _task_names_sent() -> dict[str, list[str]]:
    """The first argument of every ``enqueue_on_commit(...)`` call in the code, resolved
    against core.jobs (a constant there, or a literal), with where it was found."""
    sent: dict[str, list[str]] = {}
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            if name != "enqueue_on_commit" or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant):
                task = first.value
            elif isinstance(first, ast.Name | ast.Attribute):
                constant = first.id if isinstance(first, ast.Name) else first.attr
                task = getattr(jobs, constant, f"<{constant}: not in core.jobs>")
            else:
                task = f"<{ast.unparse(first)}>"
            sent.setdefault(task, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return sent


def test_every_task_name_sent_is_a_job_task_and_every_job_task_is_sent():
    sent = _task_names_sent()
    assert {name: where for name, where in sent.items() if name not in jobs.JOB_TASKS} == {}
    assert set(sent) == jobs.JOB_TASKS


@pytest.mark.parametrize("name", sorted(jobs.JOB_TASKS))
def test_every_job_task_is_registered_with_the_celery_app(name):
    app.loader.import_default_modules()
    assert name in app.tasks
    assert jobs.registered_task(name).name == name


@pytest.mark.parametrize("name", sorted(jobs.JOB_TASKS))
def test_benchmark_tasks_go_to_the_gpu_queue_the_others_to_default(name):
    queue = app.amqp.router.route({}, name)["queue"].name
    assert queue == ("gpu" if name.startswith("benchmark.tasks.") else "default")


def test_a_name_that_is_no_job_task_is_refused():
    with pytest.raises(ValueError, match="not a job task"):
        jobs.enqueue_on_commit("annotation.no_such_task", 1)


@pytest.mark.django_db
def test_the_task_is_sent_on_commit_by_name_with_the_rows_task_id(
    monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    task = jobs.registered_task(jobs.SCORING_JOB)
    monkeypatch.setattr(task, "apply_async", lambda **options: calls.append(options))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs.enqueue_on_commit(jobs.SCORING_JOB, 7, task_id="abc")
    assert calls == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert calls == [{"args": [7], "kwargs": None, "task_id": "abc"}]


def test_a_process_that_never_imported_the_task_modules_still_finds_the_tasks():
    """A web process imports services, not ``<app>.tasks``; sending by name must work there."""
    code = (
        "import sys, django; django.setup();"
        "from core.jobs import JOB_TASKS, registered_task;"
        "assert 'annotation.tasks' not in sys.modules and 'benchmark.tasks' not in sys.modules;"
        "print(sorted(registered_task(name).name for name in JOB_TASKS))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "study_site.settings.test"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted(jobs.JOB_TASKS))


@pytest.fixture
def unreachable_broker(monkeypatch):
    """The app's broker is a Redis address where nothing listens (a broker that is down)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")
    # The connection pools were made for the configured broker; new ones for this one.
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    yield
    if app._pool is not None:
        app._pool.force_close_all()


@pytest.mark.django_db(transaction=True)
def test_a_job_queued_while_the_broker_is_down_fails_with_the_reason(unreachable_broker):
    from annotation.models import ImportJob

    with transaction.atomic():
        job = ImportJob.objects.create()
        jobs.enqueue_on_commit(jobs.IMPORT_JOB, job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    [problem] = job.error_report
    assert problem["message"].startswith("Not started: the task queue could not be reached")
    assert job.finished_at is not None


@pytest.mark.django_db
def test_a_job_whose_worker_died_fails_with_the_reason_and_a_finished_one_is_kept():
    from billiard.exceptions import WorkerLostError

    from annotation.models import ImportJob

    running = ImportJob.objects.create(status=ImportJob.Status.WRITING)
    done = ImportJob.objects.create(status=ImportJob.Status.DONE)
    task = jobs.registered_task(jobs.IMPORT_JOB)
    lost = WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL).")
    # What the worker's main process sends when the pool child running the task is killed.
    for job in (running, done):
        task_failure.send(sender=task, task_id="t", exception=lost, args=[job.pk], kwargs={})
    running.refresh_from_db()
    done.refresh_from_db()
    assert running.status == ImportJob.Status.FAILED
    assert "worker process running this job died" in running.error_report[0]["message"]
    assert done.status == ImportJob.Status.DONE


@pytest.mark.django_db
def test_a_redelivered_task_whose_worker_died_is_left_to_its_next_attempt():
    from billiard.exceptions import WorkerLostError

    from benchmark.tests.factories import BenchmarkRunFactory

    run = BenchmarkRunFactory(status="running")
    task = jobs.registered_task(jobs.BENCHMARK_RUN)
    task_failure.send(
        sender=task, task_id="t", exception=WorkerLostError("lost"), args=[run.pk], kwargs={}
    )
    run.refresh_from_db()
    assert run.status == "running"  # reject_on_worker_lost: the broker delivers it again
