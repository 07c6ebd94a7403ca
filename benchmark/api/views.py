"""API of benchmark sweeps and runs (read-only) and of scoring images with a finished run,
for admins (superusers) only, as the pages. Views call a selector or a service and
serialise; nothing else."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Study
from benchmark import selectors
from benchmark.models import BenchmarkRun, BenchmarkSweep, ScoringJob
from benchmark.services.scoring import scoring_start
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


class ScoringJobOutputSerializer(serializers.ModelSerializer):
    status = _status_field(ScoringJob.Status.choices)
    csv_url = serializers.SerializerMethodField(help_text="The scores as CSV, once succeeded.")

    class Meta:
        model = ScoringJob
        fields = [
            "id",
            "run",
            "source",
            "study",
            "status",
            "progress",
            "columns",
            "results",
            "csv_url",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_csv_url(self, job: ScoringJob) -> str | None:
        if job.status != ScoringJob.Status.SUCCEEDED:
            return None
        return reverse("benchmark:scoring_csv", args=[job.pk])


class ScoringInputSerializer(serializers.Serializer):
    study = serializers.PrimaryKeyRelatedField(
        queryset=Study.objects.all(), required=False, help_text="Score this study's stimuli."
    )
    images = serializers.FileField(required=False, help_text="Or a zip of images.")
    manifest = serializers.FileField(
        required=False, help_text="Optional CSV naming the images in the zip (image column)."
    )


class RunScoringApi(APIView):
    """POST: score a study's stimuli or an uploaded zip with the run's model (202, the job)."""

    permission_classes = [IsSiteAdmin]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=ScoringInputSerializer, responses={202: ScoringJobOutputSerializer})
    def post(self, request: Request, pk: int) -> Response:
        run = selectors.run_get(pk=pk)
        data = ScoringInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = scoring_start(
            run=run,
            by=request.user,
            study=data.validated_data.get("study"),
            images=data.validated_data.get("images"),
            manifest=data.validated_data.get("manifest"),
        )
        return Response(ScoringJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ScoringJobApi(APIView):
    permission_classes = [IsSiteAdmin]

    @extend_schema(responses=ScoringJobOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ScoringJobOutputSerializer(selectors.scoring_job_get(pk=pk)).data)
