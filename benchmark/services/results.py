"""Turning finished runs into a sweep's results table, once, by the run that ends last.

Every transition of a run into a terminal state calls :func:`sweep_finish_if_done` in the
same transaction. It locks the sweep row first, so when two runs end at the same moment
the second waits, then sees the first one's commit and is the one that aggregates.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone

from benchmark.models import BenchmarkRun, BenchmarkSweep

TABLE_PART = "test"


def results_table(*, runs: list[BenchmarkRun], columns: list[str]) -> dict[str, Any]:
    """Rows = (model, backbone), columns = score columns, cells = medians over repeats.

    A run's own value is the median over its splits (one for random splits, k for k-fold),
    so a cell is the median over repeats of those, as the papers report.
    """
    # Imported here: scipy (under the metrics module) is for the workers, not every page.
    from benchmark.training.metrics import METRIC_NAMES, aggregate

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    per_run: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        key = (run.model_kind, run.backbone)
        row = rows.setdefault(
            key, {"model": run.model_kind, "backbone": run.backbone, "runs": 0, "succeeded": 0}
        )
        row["runs"] += 1
        metrics = per_run.setdefault(key, [])
        if run.status == BenchmarkRun.Status.SUCCEEDED:
            row["succeeded"] += 1
            metrics.append(run.metrics.get(TABLE_PART, {}))
    for key, row in rows.items():
        row["cells"] = {}
        for column in columns:
            stats = aggregate(m.get(column, {}) for m in per_run[key])
            row["cells"][column] = {
                **{name: stats[name]["median"] for name in METRIC_NAMES},
                "n": stats["srcc"]["n"],
            }
    return {
        "part": TABLE_PART,
        "columns": columns,
        "metrics": list(METRIC_NAMES),
        "rows": sorted(rows.values(), key=lambda r: (r["model"], r["backbone"])),
    }


def sweep_unfinished_count(*, sweep_id: int) -> int:
    return (
        BenchmarkRun.objects.filter(sweep_id=sweep_id)
        .exclude(status__in=BenchmarkRun.TERMINAL)
        .count()
    )


def sweep_finish_if_done(*, sweep_id: int) -> bool:
    """Aggregate the sweep if none of its runs is still queued or running; True if it did."""
    with transaction.atomic():
        sweep = BenchmarkSweep.objects.select_for_update().get(pk=sweep_id)
        if sweep_unfinished_count(sweep_id=sweep_id):
            return False
        runs = list(BenchmarkRun.objects.filter(sweep_id=sweep_id))
        columns = sweep.parameters.get("score_columns") or (runs[0].score_columns if runs else [])
        sweep.results = results_table(runs=runs, columns=list(columns))
        sweep.status = BenchmarkSweep.Status.FINISHED
        sweep.finished_at = timezone.now()
        sweep.save(update_fields=["results", "status", "finished_at"])
        return True


def sweep_reopen(*, sweep_id: int) -> None:
    """A retried run makes its sweep unfinished again until it ends."""
    BenchmarkSweep.objects.filter(pk=sweep_id).update(
        status=BenchmarkSweep.Status.RUNNING, finished_at=None
    )
