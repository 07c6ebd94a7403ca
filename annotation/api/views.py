"""Researcher API views. Staff only (DRF's IsAdminUser: 403 otherwise); a study that is
not the caller's own answers 404. Views parse input, call a service or selector, and
serialise the output; nothing else. Errors the services and selectors raise become 400/404
JSON in one place, the exception handler `core.api_errors.api_exception_handler`."""

from collections.abc import Iterable

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.dimensions import DimensionSpec
from annotation.imports.external import LAYOUTS
from annotation.models import ImportJob, Stimulus, Study
from annotation.selectors.pairwise import pairwise_choice_rows
from annotation.selectors.research import (
    import_job_get_for_user,
    invite_path,
    stimulus_get_for_user,
    studies_visible_to,
    study_get_for_user,
    study_progress,
)
from annotation.selectors.stimuli import (
    STIMULUS_SORTS,
    stimulus_list_filtered,
    stimulus_query_from,
)
from annotation.selectors.subject_reports import (
    SUBJECT_SORTS,
    SUBJECT_STATES,
    subject_list_filtered,
    subject_query_from,
)
from annotation.services.imports import import_job_create, layouts_listed, upload_stash
from annotation.services.invites import MAX_INVITES_PER_REQUEST, invites_create, invites_csv
from annotation.services.pair_exports import choice_record
from annotation.services.studies import (
    STUDY_EDITABLE_FIELDS,
    stimulus_role_set,
    study_create,
    study_set_status,
    study_update,
)
from core.pagination import ApiPagination


class DimensionSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=50)
    label = serializers.CharField(max_length=100)
    question = serializers.CharField()
    anchor_text = serializers.CharField(required=False, allow_blank=True, default="")


class StudyOutputSerializer(serializers.ModelSerializer):
    dimensions = DimensionSerializer(many=True, read_only=True)

    class Meta:
        model = Study
        fields = ["id", "slug", "status", *STUDY_EDITABLE_FIELDS, "dimensions", "created_at"]


class StudyDesignInputSerializer(serializers.Serializer):
    """Fields a researcher may set; bounds keep nonsense out before the service runs."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    consent_text = serializers.CharField(required=False, allow_blank=True)
    instructions = serializers.CharField(required=False, allow_blank=True)
    scale_type = serializers.ChoiceField(choices=Study.ScaleType.choices, required=False)
    scale_min = serializers.FloatField(required=False, min_value=-1e6, max_value=1e6)
    scale_max = serializers.FloatField(required=False, min_value=-1e6, max_value=1e6)
    scale_step = serializers.FloatField(required=False, min_value=0, max_value=1e6)
    scale_labels = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=20
    )
    target_ratings_per_stimulus = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000
    )
    session_size = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
    break_interval = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    repeats_per_session = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    gold_per_session = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    allocation = serializers.ChoiceField(choices=Study.Allocation.choices, required=False)
    allocation_targets = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=1e6),
        required=False,
        help_text="Adaptive: CI half-width to reach per dimension key, on the study's scale.",
    )
    allocation_min_ratings = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
    allocation_max_ratings = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
    allocation_confidence = serializers.FloatField(required=False, min_value=0.5, max_value=0.999)
    # Pairwise studies (scale_type "pairwise"); the service checks them as the form does.
    pairwise_no_preference = serializers.BooleanField(required=False)
    pairwise_grouping = serializers.ChoiceField(choices=Study.PairGrouping.choices, required=False)
    pairwise_group_column = serializers.CharField(required=False, allow_blank=True, max_length=100)
    pairwise_design = serializers.ChoiceField(choices=Study.PairDesign.choices, required=False)
    dimensions = DimensionSerializer(many=True, required=False, max_length=20)


def _specs(data: dict) -> tuple[DimensionSpec, ...] | None:
    if "dimensions" not in data:
        return None
    return tuple(
        DimensionSpec(d["key"], d["label"], d["question"], d.get("anchor_text", ""))
        for d in data.pop("dimensions")
    )


class StudyListApi(generics.ListAPIView):
    """The caller's studies (all of them for an admin), newest first, paged."""

    serializer_class = StudyOutputSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        # Not study_list_for_user: its per-study counts are not part of this output.
        return (
            studies_visible_to(user=self.request.user)
            .order_by("-created_at")
            .prefetch_related("dimensions")
        )


class StudyCreateApi(APIView):
    class InputSerializer(StudyDesignInputSerializer):
        class Meta:
            ref_name = "StudyCreateInput"

        slug = serializers.SlugField(max_length=80, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses={201: StudyOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        specs = _specs(data)
        if specs is not None:
            data["dimensions"] = specs
        study = study_create(owner=request.user, **data)
        return Response(StudyOutputSerializer(study).data, status=status.HTTP_201_CREATED)


class StudyDetailApi(APIView):
    @extend_schema(responses=StudyOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(StudyOutputSerializer(study_get_for_user(user=request.user, pk=pk)).data)


class StudyUpdateApi(APIView):
    class InputSerializer(StudyDesignInputSerializer):
        class Meta:
            ref_name = "StudyUpdateInput"

        name = serializers.CharField(max_length=200, required=False)

    @extend_schema(request=InputSerializer, responses=StudyOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        study = study_get_for_user(user=request.user, pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        specs = _specs(data)
        study = study_update(study=study, dimensions=specs, **data)
        return Response(StudyOutputSerializer(study).data)


class StudyStatusApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StudyStatusInput"

        status = serializers.ChoiceField(choices=Study.Status.choices)

    @extend_schema(request=InputSerializer, responses=StudyOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        study = study_get_for_user(user=request.user, pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        study = study_set_status(study=study, status=serializer.validated_data["status"])
        return Response(StudyOutputSerializer(study).data)


class StimulusOutputSerializer(serializers.ModelSerializer):
    rating_count = serializers.IntegerField(
        read_only=True, default=0, help_text="Non-training ratings (one per dimension per trial)."
    )
    rated_trials = serializers.IntegerField(
        read_only=True, default=0, help_text="Trials that rated it: rating_count / dimensions."
    )

    class Meta:
        model = Stimulus
        fields = [
            "id",
            "original_name",
            "sha256",
            "width",
            "height",
            "file_size",
            "generator",
            "prompt",
            "prompt_group",
            "metadata",
            "role",
            "explanation",
            "expected_scores",
            "excluded_from_playlists",
            "rating_count",
            "rated_trials",
        ]


def sort_parameter(keys: Iterable[str], default: str) -> OpenApiParameter:
    """The list's `sort` query parameter: one of `keys`, a leading - for descending."""
    return OpenApiParameter(
        "sort",
        str,
        enum=[f"{sign}{key}" for key in keys for sign in ("", "-")],
        description=f"Order (default {default}); a leading - sorts descending.",
    )


STIMULUS_LIST_PARAMETERS = [
    OpenApiParameter("q", str, description="Search file name, prompt, generator, id or sha256."),
    OpenApiParameter("generator", str, description="Only this generator (exact name)."),
    OpenApiParameter("role", str, enum=Stimulus.Role.values, description="Only this role."),
    OpenApiParameter(
        "below_target", bool, description="Only stimuli with fewer rated trials than the target."
    ),
    OpenApiParameter(
        "excluded", str, enum=["yes", "no"], description="Excluded from new playlists or not."
    ),
    sort_parameter(STIMULUS_SORTS, default="id"),
]


@extend_schema_view(get=extend_schema(parameters=STIMULUS_LIST_PARAMETERS))
class StimulusListApi(generics.ListAPIView):
    """The study's stimuli, searched, filtered and sorted as on the stimuli page, paged."""

    serializer_class = StimulusOutputSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        study = study_get_for_user(user=self.request.user, pk=self.kwargs["pk"])
        self.study = study
        return stimulus_list_filtered(study=study, query=stimulus_query_from(self.request.GET))

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        dimensions = max(self.study.dimensions.count(), 1)
        # The page's rows carry their tally (non-training ratings); no second read.
        for stimulus in page:
            stimulus.rating_count = stimulus.rating_tally
            stimulus.rated_trials = stimulus.rating_tally // dimensions
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class StimulusRoleApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StimulusRoleInput"

        role = serializers.ChoiceField(choices=Stimulus.Role.choices)
        explanation = serializers.CharField(required=False, allow_blank=True, default="")
        expected_scores = serializers.DictField(
            child=serializers.FloatField(), required=False, default=dict
        )

    @extend_schema(request=InputSerializer, responses=StimulusOutputSerializer)
    def post(self, request: Request, pk: int, stimulus_pk: int) -> Response:
        stimulus = stimulus_get_for_user(user=request.user, study_pk=pk, pk=stimulus_pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stimulus = stimulus_role_set(stimulus=stimulus, **serializer.validated_data)
        return Response(StimulusOutputSerializer(stimulus).data)


class ImportProblemSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    image = serializers.CharField()
    message = serializers.CharField()


class ImportJobOutputSerializer(serializers.ModelSerializer):
    # A plain string: an enum here would collide with Study.status in the schema's names.
    status = serializers.CharField(help_text=", ".join(ImportJob.Status.values))
    error_report = ImportProblemSerializer(many=True)
    result = inline_serializer(
        "ImportResult",
        fields={
            "created": serializers.IntegerField(required=False),
            "study": serializers.IntegerField(required=False),
            "release": serializers.IntegerField(required=False, allow_null=True),
        },
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "status",
            "study",
            "progress",
            "total",
            "error_report",
            "result",
            "created_at",
            "finished_at",
        ]


class StudyImportApi(APIView):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StudyImportInput"

        manifest = serializers.FileField()
        images = serializers.FileField(help_text="A zip of the images.")
        allow_duplicates = serializers.BooleanField(
            default=False,
            help_text="Import byte-identical images as separate stimuli sharing one stored "
            "file (by default they are refused).",
        )

    @extend_schema(request=InputSerializer, responses={202: ImportJobOutputSerializer})
    def post(self, request: Request, pk: int) -> Response:
        study = study_get_for_user(user=request.user, pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        options = {
            "manifest": str(upload_stash(serializer.validated_data["manifest"])),
            "images": str(upload_stash(serializer.validated_data["images"])),
            "allow_duplicates": serializer.validated_data["allow_duplicates"],
            "uploaded": True,
        }
        job = import_job_create(
            kind=ImportJob.Kind.MANIFEST, created_by=request.user, study=study, options=options
        )
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class LayoutSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    expects = serializers.CharField(help_text="What the database folder (or zip) must hold.")
    dimensions = serializers.ListField(child=serializers.CharField())


class ExternalImportApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses=LayoutSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The published-database layouts an import accepts, with what each expects."""
        return Response(LayoutSerializer(layouts_listed(), many=True).data)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ExternalImportInput"

        layout = serializers.ChoiceField(choices=sorted(LAYOUTS))
        name = serializers.CharField(max_length=200)
        archive = serializers.FileField(help_text="A zip of the label file and the images.")

    @extend_schema(request=InputSerializer, responses={202: ImportJobOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options = {
            "layout": data["layout"],
            "name": data["name"],
            "archive": str(upload_stash(data["archive"])),
            "uploaded": True,
        }
        job = import_job_create(
            kind=ImportJob.Kind.EXTERNAL, created_by=request.user, options=options
        )
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailApi(APIView):
    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request: Request, job_pk: int) -> Response:
        job = import_job_get_for_user(user=request.user, pk=job_pk)
        return Response(ImportJobOutputSerializer(job).data)


class SubjectStatusSerializer(serializers.Serializer):
    label = serializers.CharField()
    state = serializers.ChoiceField(choices=SUBJECT_STATES)
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class SubjectRowSerializer(serializers.Serializer):
    """A subject as the subjects page lists it (state and progress computed by the database)."""

    class Meta:
        ref_name = "SubjectRow"

    label = serializers.CharField()
    state = serializers.ChoiceField(choices=SUBJECT_STATES)
    done = serializers.IntegerField(source="trials_done")
    total = serializers.IntegerField(source="trials_total")
    consented_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(source="session.started_at", allow_null=True)
    finished_at = serializers.DateTimeField(source="session.completed_at", allow_null=True)
    completion_code = serializers.CharField(source="session.completion_code", allow_blank=True)


SUBJECT_LIST_PARAMETERS = [
    OpenApiParameter("q", str, description="Search a subject label or an exact completion code."),
    OpenApiParameter("state", str, enum=list(SUBJECT_STATES), description="Only this state."),
    sort_parameter(SUBJECT_SORTS, default="label"),
]


@extend_schema_view(get=extend_schema(parameters=SUBJECT_LIST_PARAMETERS))
class SubjectListApi(generics.ListAPIView):
    serializer_class = SubjectRowSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        study = study_get_for_user(user=self.request.user, pk=self.kwargs["pk"])
        return subject_list_filtered(study=study, query=subject_query_from(self.request.GET))


class PairwiseChoiceRowSerializer(serializers.Serializer):
    """One stored pairwise choice, in the columns of the choices CSV (live export)."""

    class Meta:
        ref_name = "PairwiseChoiceRow"

    subject = serializers.CharField()
    group = serializers.CharField()
    left = serializers.IntegerField(help_text="stimulus id shown on the left")
    right = serializers.IntegerField(help_text="stimulus id shown on the right")
    choice = serializers.ChoiceField(choices=["left", "right", "none"])
    side = serializers.ChoiceField(choices=["left", "right"])
    time = serializers.FloatField(allow_null=True, help_text="response time in seconds")
    dimension = serializers.CharField()
    trial = serializers.IntegerField()
    too_fast = serializers.IntegerField()
    repeat = serializers.IntegerField()

    def to_representation(self, instance):
        return super().to_representation(choice_record(instance))


class PairwiseChoiceListApi(generics.ListAPIView):
    """A pairwise study's stored choices (live, not frozen), paged, in the choices CSV's
    columns and order; empty for a ratings study."""

    serializer_class = PairwiseChoiceRowSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        study = study_get_for_user(user=self.request.user, pk=self.kwargs["pk"])
        return pairwise_choice_rows(study=study)


class InviteCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "InviteCreateInput"

        count = serializers.IntegerField(min_value=1, max_value=MAX_INVITES_PER_REQUEST)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "InviteCreateOutput"

        invites = inline_serializer(
            "Invite",
            many=True,
            fields={"label": serializers.CharField(), "link": serializers.URLField()},
        )
        csv = serializers.CharField(help_text="label,link CSV; tokens are not shown again.")

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request, pk: int) -> Response:
        study = study_get_for_user(user=request.user, pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invites = invites_create(study=study, count=serializer.validated_data["count"])

        def link(token: str) -> str:
            return request.build_absolute_uri(invite_path(token))

        body = {
            "invites": [{"label": s.label, "link": link(t)} for s, t in invites],
            "csv": invites_csv(invites=invites, link_for=link),
        }
        response = Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class StudyProgressApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StudyProgressOutput"

        study = serializers.IntegerField()
        target = serializers.IntegerField()
        stimuli = serializers.IntegerField()
        stimuli_at_target = serializers.IntegerField()
        ratings_per_stimulus = serializers.ListField(
            child=serializers.IntegerField(),
            help_text="Rated trials per stimulus; a pairwise study: answered comparisons per "
            "image (each pair counts for both its images).",
        )
        ratings_missing = serializers.IntegerField(
            help_text="Trials still missing to the target; a pairwise study: comparisons."
        )
        sessions_needed = serializers.IntegerField()
        ratings_per_hour = inline_serializer(
            "RatingsPerHour",
            many=True,
            fields={"hour": serializers.DateTimeField(), "count": serializers.IntegerField()},
            help_text="Rated trials per hour; a pairwise study: choices (answered pairs).",
        )
        subjects = SubjectStatusSerializer(many=True)
        subjects_by_state = serializers.DictField(child=serializers.IntegerField())
        allocation = serializers.JSONField(
            allow_null=True,
            help_text="Adaptive studies: per dimension the stimuli at the precision target "
            "and their CI half-widths, and the sessions still needed; null when balanced.",
        )
        pairs_by_stage = serializers.DictField(
            child=serializers.IntegerField(),
            allow_null=True,
            help_text="Pairwise studies: answered pairs per stage (normal: the choices, "
            "training, gold); null for ratings studies.",
        )

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        study = study_get_for_user(user=request.user, pk=pk)
        return Response(self.OutputSerializer(study_progress(study=study)).data)
