"""API for the per-subject report and the completion-code lookup (staff only; another
researcher's study or subject answers 404, as everywhere in the API)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api.views import SUBJECT_LIST_PARAMETERS
from annotation.selectors.research import study_get_for_user, subject_by_completion_code
from annotation.selectors.subject_reports import (
    SUBJECT_STATES,
    SubjectReport,
    subject_list_filtered,
    subject_query_from,
    subject_reports,
    too_fast_threshold_ms,
)
from core.pagination import ApiPagination


class SubjectReportSerializer(serializers.Serializer):
    class Meta:
        ref_name = "SubjectReport"

    study = serializers.IntegerField(source="subject.study_id")
    label = serializers.CharField(source="subject.label")
    state = serializers.ChoiceField(choices=SUBJECT_STATES)
    completion_code = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    trials = serializers.IntegerField(help_text="Rated trials (non-training).")
    median_ms = serializers.FloatField(allow_null=True, help_text="Median response time per trial.")
    fastest_ms = serializers.IntegerField(allow_null=True)
    too_fast_share = serializers.FloatField(
        allow_null=True, help_text="Share of trials answered faster than too_fast_threshold_ms."
    )
    too_fast_threshold_ms = serializers.SerializerMethodField()
    repeat_pairs = serializers.IntegerField(
        help_text="Repeated trials answered (a pairwise study: pairs shown again, sides swapped)."
    )
    repeat_mean_abs_diff = serializers.FloatField(
        allow_null=True, help_text="Mean |repeat - first showing| (ratings studies; else null)."
    )
    repeat_agreement = serializers.FloatField(
        allow_null=True,
        help_text="Pairwise studies: share of repeated pairs where the same image won both "
        "times (null for ratings studies or without repeats).",
    )
    gold_answers = serializers.IntegerField()
    gold_mean_abs_error = serializers.FloatField(
        allow_null=True, help_text="Mean |error| on gold stimuli (ratings studies; else null)."
    )
    gold_accuracy = serializers.FloatField(
        allow_null=True,
        help_text="Share of gold answers within 15 % of the scale of the answer (a pairwise "
        "study: share of gold pairs passed).",
    )
    screening = serializers.CharField(help_text="kept, rejected, or empty (not analysed yet).")
    screening_reason = serializers.CharField()

    def get_too_fast_threshold_ms(self, report: SubjectReport) -> int:
        return too_fast_threshold_ms(study=report.subject.study)


@extend_schema_view(get=extend_schema(parameters=SUBJECT_LIST_PARAMETERS))
class SubjectReportApi(generics.ListAPIView):
    """Per-subject report: status, completion code, times per trial, screening; paged."""

    serializer_class = SubjectReportSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        self.study = study_get_for_user(user=self.request.user, pk=self.kwargs["pk"])
        return subject_list_filtered(study=self.study, query=subject_query_from(self.request.GET))

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        for subject in page:
            subject.study = self.study  # one study row for every line, not one query each
        reports = subject_reports(study=self.study, subjects=list(page))
        return self.get_paginated_response(self.get_serializer(reports, many=True).data)


class CompletionCodeApi(APIView):
    @extend_schema(
        responses=SubjectReportSerializer,
        description="Who finished with this completion code (to pay them): the subject's "
        "report line, in any of your studies; 404 when no subject of yours has it.",
    )
    def get(self, request: Request, code: str) -> Response:
        subject = subject_by_completion_code(user=request.user, code=code)
        (report,) = subject_reports(study=subject.study, subjects=[subject])
        return Response(SubjectReportSerializer(report).data)
