"""API for analysis runs, label releases and exports: one view per operation, staff only,
another researcher's study answers 404 (as in views.py). Releases are read-only here:
there is no PUT, PATCH or DELETE anywhere; freezing again makes a new version."""

import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from annotation.downloads import ratings_live_response, release_file_response
from annotation.models import AnalysisRun, LabelRelease
from annotation.selectors.analysis import (
    analysis_fingerprint,
    analysis_run_get_for_user,
    analysis_run_is_stale,
    release_get_for_user,
    release_list_for_study,
)
from annotation.selectors.research import study_get_for_user
from annotation.services.analysis_options import (
    OptionSpec,
    analysis_options_parse,
    option_specs,
    pairwise_option_specs,
    pairwise_options_parse,
    study_is_pairwise,
)
from annotation.services.analysis_runs import analysis_run_request, release_freeze_request
from annotation.services.release_formats import release_file_labels
from annotation.services.release_package import release_package_request
from core.pagination import ApiPagination


class CSVRenderer(BaseRenderer):
    """Lets clients ask for text/csv; errors on these endpoints still come out as JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


def option_serializer_field(spec: OptionSpec) -> serializers.Field:
    """The API field of one analysis option, from its one definition; always optional."""
    common = {"required": False, "help_text": spec.help}
    if spec.kind == "many":
        return serializers.ListField(child=serializers.ChoiceField(choices=spec.values), **common)
    if spec.kind == "choice":
        return serializers.ChoiceField(choices=spec.values, **common)
    if spec.kind == "switch":
        return serializers.BooleanField(**common)
    if spec.kind == "integer":
        return serializers.IntegerField(min_value=spec.low, max_value=spec.high, **common)
    return serializers.FloatField(min_value=spec.low, max_value=spec.high, **common)


class AnalysisOptionsSerializer(serializers.Serializer):
    """Analysis options; every field is optional (defaults: the analysis library's)."""

    class Meta:
        ref_name = "AnalysisOptions"

    specs = staticmethod(option_specs)
    parse = staticmethod(analysis_options_parse)

    def get_fields(self) -> dict[str, serializers.Field]:
        options = {name: option_serializer_field(spec) for name, spec in self.specs().items()}
        return {**options, **super().get_fields()}

    def validate(self, attrs):
        # A misspelt option must not silently fall back to its default.
        extra = set(self.initial_data) - set(self.fields)
        if extra:
            raise ValidationError(
                {"detail": [f"Unknown option(s): {', '.join(sorted(map(str, extra)))}."]}
            )
        # The analysis library's own checks, reported on the option they concern.
        specs = self.specs()
        try:
            self.parse(data={k: v for k, v in attrs.items() if k in specs})
        except DjangoValidationError as exc:
            if hasattr(exc, "error_dict"):
                raise ValidationError(exc.message_dict) from None
            raise ValidationError({"detail": exc.messages}) from None
        return attrs


class AnalysisRunOutputSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text=", ".join(AnalysisRun.Status.values))
    kind = serializers.CharField(help_text=", ".join(AnalysisRun.Kind.values))
    stale = serializers.SerializerMethodField(
        help_text="True when ratings arrived (or vanished) since the run read them."
    )
    release = serializers.SerializerMethodField(help_text="Version frozen by a freeze run.")

    class Meta:
        model = AnalysisRun
        fields = [
            "id",
            "kind",
            "status",
            "step",
            "progress",
            "error",
            "options",
            "ratings_count",
            "ratings_last_id",
            "stale",
            "release",
            "summary",
            "created_at",
            "finished_at",
        ]

    def get_stale(self, run: AnalysisRun) -> bool:
        return analysis_run_is_stale(run=run, fingerprint=analysis_fingerprint(study=run.study))

    def get_release(self, run: AnalysisRun) -> int | None:
        return run.release.version if run.release_id else None


def _run_response(run: AnalysisRun) -> Response:
    code = status.HTTP_200_OK if run.finished_at else status.HTTP_202_ACCEPTED
    return Response(AnalysisRunOutputSerializer(run).data, status=code)


class PairwiseAnalysisOptionsSerializer(AnalysisOptionsSerializer):
    """A pairwise study's analysis options (scaling, bootstrap, screening); all optional."""

    class Meta:
        ref_name = "PairwiseAnalysisOptions"

    specs = staticmethod(pairwise_option_specs)
    parse = staticmethod(pairwise_options_parse)


class AnalysisRunCreateApi(APIView):
    class InputSerializer(AnalysisOptionsSerializer):
        class Meta:
            ref_name = "AnalysisRunCreateInput"

        force = serializers.BooleanField(
            required=False, default=False, help_text="Compute again even if a fresh run exists."
        )

    class PairwiseInputSerializer(PairwiseAnalysisOptionsSerializer):
        class Meta:
            ref_name = "PairwiseAnalysisRunCreateInput"

        force = serializers.BooleanField(
            required=False, default=False, help_text="Compute again even if a fresh run exists."
        )

    @extend_schema(
        request=InputSerializer,
        responses={200: AnalysisRunOutputSerializer, 202: AnalysisRunOutputSerializer},
        description="Analyse the study's ratings: the cached run when nothing changed, else a "
        "new one, computed now for small studies (200) or queued on a worker (202; poll it). "
        "A pairwise study's run analyses its choices and takes the pairwise options instead "
        "(PairwiseAnalysisRunCreateInput: method, prior, bt_alpha, bootstrap_resamples, "
        "confidence, keep_rejected, keep_too_fast and the screening thresholds).",
    )
    def post(self, request: Request, pk: int) -> Response:
        study = study_get_for_user(user=request.user, pk=pk)
        serializer_class = (
            self.PairwiseInputSerializer if study_is_pairwise(study) else self.InputSerializer
        )
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        options = dict(serializer.validated_data)
        force = options.pop("force", False)
        run = analysis_run_request(
            study=study,
            options=options,
            created_by=request.user,
            force=force,
        )
        return _run_response(run)


class AnalysisRunDetailApi(APIView):
    @extend_schema(responses=AnalysisRunOutputSerializer)
    def get(self, request: Request, pk: int, run_pk: int) -> Response:
        run = analysis_run_get_for_user(user=request.user, study_pk=pk, pk=run_pk)
        return Response(AnalysisRunOutputSerializer(run).data)


class AnalysisRunResultApi(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        description="The finished run's MOS table (columns + rows) and plotly figures (JSON). "
        "For a pairwise study (kind 'pairwise'): the scores table with CIs, each group's "
        "preference matrix, the figures, and per dimension the first group's figures.",
    )
    def get(self, request: Request, pk: int, run_pk: int) -> Response:
        run = analysis_run_get_for_user(user=request.user, study_pk=pk, pk=run_pk)
        if run.status != AnalysisRun.Status.DONE or run.kind != AnalysisRun.Kind.ANALYSIS:
            return Response(
                {"detail": "This run has no result (yet).", "status": run.status},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(run.payload)


class ReleaseOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField(
        help_text="Download URLs of the stored files: mos, raw (scores and choices for a "
        "pairwise release), sidecar, package_zip."
    )

    class Meta:
        model = LabelRelease
        fields = [
            "id",
            "version",
            "source",
            "method_config",
            "counts",
            "mos_sha256",
            "raw_sha256",
            "created_by",
            "created_at",
            "files",
            "licence",
            "citation",
            "package_status",
            "package_step",
            "package_progress",
            "package_error",
            "package_sha256",
            "package_size",
            "packaged_at",
        ]

    def get_created_by(self, release: LabelRelease) -> str | None:
        return release.created_by.get_username() if release.created_by else None

    def get_files(self, release: LabelRelease) -> dict[str, str]:
        request = self.context.get("request")
        args = [release.study_id, release.version]
        names = ["mos", "sidecar"] + (["raw"] if release.raw_file else [])
        if release.package_status == LabelRelease.PackageStatus.DONE:
            names.append("package_zip")
        # A pairwise release's scores and choices CSVs are its mos and raw files.
        labels = release_file_labels(release)
        return {
            labels.get(name, name): reverse(f"api:release_{name}", args=args, request=request)
            for name in names
        }


class ReleaseListApi(generics.ListAPIView):
    """The study's label releases, newest version first, paged."""

    serializer_class = ReleaseOutputSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        study = study_get_for_user(user=self.request.user, pk=self.kwargs["pk"])
        return release_list_for_study(study=study)


class ReleaseFreezeApi(APIView):
    class InputSerializer(AnalysisOptionsSerializer):
        class Meta:
            ref_name = "ReleaseFreezeInput"

    class PairwiseInputSerializer(PairwiseAnalysisOptionsSerializer):
        class Meta:
            ref_name = "PairwiseReleaseFreezeInput"

    @extend_schema(
        request=InputSerializer,
        responses={201: ReleaseOutputSerializer, 202: AnalysisRunOutputSerializer},
        description="Freeze the next label release with these analysis options: 201 with the "
        "release for small studies, 202 with a freeze run (poll it) for large ones. A "
        "pairwise study freezes its choices and scaled scores with the pairwise options "
        "(PairwiseReleaseFreezeInput).",
    )
    def post(self, request: Request, pk: int) -> Response:
        study = study_get_for_user(user=request.user, pk=pk)
        serializer_class = (
            self.PairwiseInputSerializer if study_is_pairwise(study) else self.InputSerializer
        )
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = release_freeze_request(
            study=study,
            options=dict(serializer.validated_data),
            created_by=request.user,
        )
        if outcome.release is not None:
            data = ReleaseOutputSerializer(outcome.release, context={"request": request}).data
            return Response(data, status=status.HTTP_201_CREATED)
        return Response(
            AnalysisRunOutputSerializer(outcome.run).data, status=status.HTTP_202_ACCEPTED
        )


class ReleaseDetailApi(APIView):
    @extend_schema(responses=ReleaseOutputSerializer)
    def get(self, request: Request, pk: int, version: int) -> Response:
        release = release_get_for_user(user=request.user, study_pk=pk, version=version)
        return Response(ReleaseOutputSerializer(release, context={"request": request}).data)


class ReleaseFileApi(APIView):
    """Streams one stored file of a release, byte for byte as written when it was frozen."""

    what = "mos"
    renderer_classes = [JSONRenderer, CSVRenderer]

    def get(self, request: Request, pk: int, version: int) -> FileResponse:
        release = release_get_for_user(user=request.user, study_pk=pk, version=version)
        return release_file_response(release=release, what=self.what)


@extend_schema_view(
    get=extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.BINARY},
        description="The MOS CSV (columns documented in the sidecar and the README).",
    )
)
class ReleaseMosCsvApi(ReleaseFileApi):
    what = "mos"


@extend_schema_view(
    get=extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.BINARY},
        description="The raw ratings CSV: one row per subject, stimulus, dimension and repeat.",
    )
)
class ReleaseRawCsvApi(ReleaseFileApi):
    what = "raw"


@extend_schema_view(
    get=extend_schema(
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
        description="release.json: ids, sha256 of both CSVs, method configuration, counts and "
        "the meaning of every column.",
    )
)
class ReleaseSidecarApi(ReleaseFileApi):
    what = "sidecar"
    renderer_classes = [JSONRenderer]


class ReleasePackageApi(APIView):
    class InputSerializer(serializers.Serializer):
        licence = serializers.CharField(required=False, allow_blank=True, max_length=200)
        citation = serializers.CharField(required=False, allow_blank=True)
        demographics = serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text="Subject demographic fields to include; none unless listed.",
        )

    @extend_schema(
        request=InputSerializer,
        responses={202: ReleaseOutputSerializer},
        description="Build the release's dataset package on a worker (202; poll the release "
        "until package_status is done, then download files.package_zip).",
    )
    def post(self, request: Request, pk: int, version: int) -> Response:
        release = release_get_for_user(user=request.user, study_pk=pk, version=version)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        release = release_package_request(release=release, **serializer.validated_data)
        data = ReleaseOutputSerializer(release, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


class ZipRenderer(BaseRenderer):
    media_type = "application/zip"
    format = "zip"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


@extend_schema_view(
    get=extend_schema(
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        description="The dataset package (zip); 404 until it has been built.",
    )
)
class ReleasePackageZipApi(ReleaseFileApi):
    what = "package"
    renderer_classes = [JSONRenderer, ZipRenderer]


class LiveRatingsCsvApi(APIView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.BINARY},
        description="The study's current raw ratings (live, not frozen), streamed as CSV.",
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        study = study_get_for_user(user=request.user, pk=pk)
        return ratings_live_response(study=study)
