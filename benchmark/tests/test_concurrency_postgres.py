"""Runs of one sweep ending at the same moment: the sweep is aggregated exactly once, with
every run in it. Needs PostgreSQL (real row locks and concurrent transactions)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.services import execution, results
from benchmark.tests.factories import BenchmarkRunFactory, BenchmarkSweepFactory
from study_site.tests.helpers import postgres_required

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    postgres_required()


def test_two_runs_finishing_together_aggregate_the_sweep_once_with_both(monkeypatch, tmp_path):
    sweep = BenchmarkSweepFactory()
    runs = [BenchmarkRunFactory(sweep=sweep, repeat=r, seed=r) for r in range(2)]
    BenchmarkRun.objects.filter(sweep=sweep).update(status="running", attempts=1)
    # Force the worst interleaving: each transaction has written its own run, and after
    # counting unfinished runs it waits (up to a second) for the other one to count too.
    # Without the sweep row lock both would count the other as running and nobody would
    # aggregate; with it, the second waits for the first's commit and then aggregates.
    counted = [threading.Event(), threading.Event()]
    real_count = results.sweep_unfinished_count

    def count_then_wait(*, sweep_id: int) -> int:
        mine = 0 if threading.current_thread().name.endswith("_0") else 1
        value = real_count(sweep_id=sweep_id)
        counted[mine].set()
        counted[1 - mine].wait(timeout=1.0)
        return value

    monkeypatch.setattr(results, "sweep_unfinished_count", count_then_wait)
    aggregations = []
    real_finish = results.sweep_finish_if_done

    def finish_if_done(*, sweep_id: int) -> bool:
        done = real_finish(sweep_id=sweep_id)
        aggregations.append(done)
        return done

    monkeypatch.setattr(execution, "sweep_finish_if_done", finish_if_done)

    def finish(run: BenchmarkRun, srcc: float) -> bool:
        try:
            attempt = execution.Attempt(run.pk, 1, {}, tmp_path, run.output_dir, "mos.csv")
            metrics = {"test": {"mos_quality": {"srcc": srcc, "plcc": srcc}}}
            return execution._finish(attempt=attempt, status="succeeded", metrics=metrics)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        written = list(pool.map(finish, runs, [0.5, 0.7]))
    assert written == [True, True]
    assert sorted(aggregations) == [False, True]
    sweep.refresh_from_db()
    assert sweep.status == BenchmarkSweep.Status.FINISHED
    row = sweep.results["rows"][0]
    assert row["succeeded"] == 2
    assert row["cells"]["mos_quality"]["srcc"] == pytest.approx(0.6)
