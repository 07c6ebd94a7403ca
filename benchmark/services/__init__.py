"""Writes of the benchmark app: launch, run execution, cancel/retry, aggregation."""

from benchmark.services.control import run_cancel, run_retry, sweep_cancel
from benchmark.services.execution import run_execute
from benchmark.services.launch import LaunchRejected, SweepSpec, sweep_launch, sweep_plan
from benchmark.services.results import sweep_finish_if_done

__all__ = [
    "LaunchRejected",
    "SweepSpec",
    "run_cancel",
    "run_execute",
    "run_retry",
    "sweep_cancel",
    "sweep_finish_if_done",
    "sweep_launch",
    "sweep_plan",
]
