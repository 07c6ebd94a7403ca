"""Read-only API of benchmark sweeps and runs, for admins (superusers) only, as the pages.
Views call a selector and serialise; nothing else."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from benchmark import selectors
from benchmark.models import BenchmarkRun, BenchmarkSweep
from core.pagination import ApiPagination
from core.permissions import is_admin


class IsSiteAdmin(permissions.BasePermission):
    message = "Benchmark retrains are for admins."

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)


def _status_field(choices) -> serializers.CharField:
    # Plain strings: a second "status" enum would collide with the studies' in the schema.
    return serializers.CharField(
        read_only=True, help_text="One of: " + ", ".join(value for value, _ in choices) + "."
    )


class RunOutputSerializer(serializers.ModelSerializer):
    status = _status_field(BenchmarkRun.Status.choices)
    requeued_after_worker_loss = serializers.SerializerMethodField()

    class Meta:
        model = BenchmarkRun
        fields = [
            "id",
            "sweep",
            "release",
            "model_kind",
            "backbone",
            "split_protocol",
            "repeat",
            "seed",
            "score_columns",
            "config",
            "status",
            "cancel_requested",
            "attempts",
            "requeued_after_worker_loss",
            "events",
            "progress",
            "history",
            "metrics",
            "worker_host",
            "device",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_requeued_after_worker_loss(self, run: BenchmarkRun) -> bool:
        return selectors.run_requeued(run)


class SweepOutputSerializer(serializers.ModelSerializer):
    status = _status_field(BenchmarkSweep.Status.choices)

    class Meta:
        model = BenchmarkSweep
        fields = ["id", "name", "release", "parameters", "status", "created_at", "finished_at"]


class SweepDetailOutputSerializer(SweepOutputSerializer):
    runs = RunOutputSerializer(many=True, read_only=True)

    class Meta(SweepOutputSerializer.Meta):
        fields = [*SweepOutputSerializer.Meta.fields, "results", "runs"]


class SweepListApi(generics.ListAPIView):
    permission_classes = [IsSiteAdmin]
    serializer_class = SweepOutputSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        return selectors.sweep_list()


class SweepDetailApi(APIView):
    permission_classes = [IsSiteAdmin]

    @extend_schema(responses=SweepDetailOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(SweepDetailOutputSerializer(selectors.sweep_get(pk=pk)).data)


class RunDetailApi(APIView):
    permission_classes = [IsSiteAdmin]

    @extend_schema(responses=RunOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RunOutputSerializer(selectors.run_get(pk=pk)).data)
