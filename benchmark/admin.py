"""Back office: browse sweeps and runs; actions go through the services like the pages."""

from django.contrib import admin
from django.core.exceptions import ValidationError

from benchmark.models import BenchmarkRun, BenchmarkSweep, ScoringJob
from benchmark.services import run_cancel, run_retry


@admin.register(BenchmarkSweep)
class BenchmarkSweepAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "release", "status", "created_by", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("name", "release__study__name")
    readonly_fields = ("results", "parameters", "status", "finished_at")

    # Sweeps are launched from the benchmark launch page, which validates the release and
    # the weights and queues the runs; one added here would have neither.
    def has_add_permission(self, request) -> bool:
        return False


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "sweep",
        "model_kind",
        "backbone",
        "repeat",
        "status",
        "attempts",
        "worker_host",
        "device",
        "finished_at",
    )
    list_filter = ("status", "model_kind", "backbone")
    search_fields = ("worker_host", "error")
    readonly_fields = [f.name for f in BenchmarkRun._meta.fields]
    actions = ["cancel_runs", "retry_runs"]

    # A run belongs to a sweep's launch (configuration, seed, queueing); adding one by hand
    # used to end in a 500 on save.
    def has_add_permission(self, request) -> bool:
        return False

    def _each(self, request, queryset, service, verb: str) -> None:
        done = 0
        for run in queryset:
            try:
                service(run=run, by=request.user)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"run {run.pk}: {' '.join(exc.messages)}", "warning")
        self.message_user(request, f"{verb} {done} run(s).")

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset) -> None:
        self._each(request, queryset, run_cancel, "Cancel requested for")

    @admin.action(description="Retry the selected failed or cancelled runs")
    def retry_runs(self, request, queryset) -> None:
        self._each(request, queryset, run_retry, "Queued again")


@admin.register(ScoringJob)
class ScoringJobAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "source", "study", "status", "created_by", "created_at")
    list_filter = ("status", "source")
    readonly_fields = ("results", "progress", "columns", "upload", "status", "error")
