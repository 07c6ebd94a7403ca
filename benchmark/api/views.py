"""API of benchmark sweeps and runs (read; a sweep is launched by POST) and of scoring images with a finished run,
for admins (superusers) only, as the pages. Views call a selector or a service and
serialise; nothing else."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import LabelRelease, Study
from benchmark import selectors
from benchmark.models import BenchmarkRun, BenchmarkSweep, ScoringJob
from benchmark.services.configs import HYPER_FIELDS, SPLIT_FIELDS
from benchmark.services.launch import SweepSpec, sweep_launch
from benchmark.services.scoring import scoring_start
from benchmark.training.config import settings_of
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


def _known_keys(value: dict, known: tuple[str, ...]) -> dict:
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise serializers.ValidationError(
            f"unknown {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return value


def _bounded_integer(name: str, default: int | None) -> serializers.IntegerField:
    """An integer with the bounds of the TrainConfig field of that name (None: the seed
    of ``hyper.protocol``, if any, else 0)."""
    bounds = settings_of()[name].bounds
    low, high = (bounds.low, bounds.high) if bounds else (None, None)
    return serializers.IntegerField(
        default=default,
        allow_null=default is None,
        min_value=None if low is None else int(low),
        max_value=None if high is None else int(high),
    )


class SweepInputSerializer(serializers.Serializer):
    """What the launch form asks, as JSON; every value is checked by the launch service
    (each run's TrainConfig, the release's rows, splits and weights) before anything is
    queued, with the same messages."""

    release = serializers.PrimaryKeyRelatedField(queryset=LabelRelease.objects.all())
    models = serializers.ListField(
        child=serializers.ChoiceField(choices=tuple(settings_of()["model"].choices or ())),
        help_text="Model kinds; each runs on the chosen backbones that fit it.",
    )
    backbones = serializers.ListField(child=serializers.CharField())
    score_columns = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="MOS columns to learn; empty: every mos_<dimension> column.",
    )
    split = serializers.DictField(required=False, help_text="protocol, val_fraction, ...")
    repeats = _bounded_integer("repeats", default=1)
    seed = _bounded_integer("seed", default=None)
    hyper = serializers.DictField(required=False, help_text="epochs, weights, image_size, ...")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    fr_reference_rows_only = serializers.BooleanField(default=False)

    def validate_split(self, value: dict) -> dict:
        return _known_keys(value, SPLIT_FIELDS)

    def validate_hyper(self, value: dict) -> dict:
        return _known_keys(value, HYPER_FIELDS)

    def spec(self) -> SweepSpec:
        data = dict(self.validated_data)
        for name in ("models", "backbones", "score_columns"):
            data[name] = tuple(data.get(name, ()))
        return SweepSpec(**data)


class SweepListApi(generics.ListAPIView):
    """GET: the sweeps (paged). POST: launch one (201 with its runs), or 400 naming every
    problem, with nothing queued."""

    permission_classes = [IsSiteAdmin]
    serializer_class = SweepOutputSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        return selectors.sweep_list()

    @extend_schema(request=SweepInputSerializer, responses={201: SweepDetailOutputSerializer})
    def post(self, request: Request) -> Response:
        data = SweepInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sweep = sweep_launch(spec=data.spec(), created_by=request.user)
        return Response(SweepDetailOutputSerializer(sweep).data, status=status.HTTP_201_CREATED)


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
        required=False,
        help_text="Optional CSV naming the images in the zip (image column; reference for FR, "
        "prompt for text-image models).",
    )
    prompt = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Text-image models: the prompt of every image without its own.",
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
            prompt=data.validated_data.get("prompt", ""),
        )
        return Response(ScoringJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ScoringJobApi(APIView):
    permission_classes = [IsSiteAdmin]

    @extend_schema(responses=ScoringJobOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ScoringJobOutputSerializer(selectors.scoring_job_get(pk=pk)).data)
