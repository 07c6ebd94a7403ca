from django.contrib import admin

from annotation.models import (
    AnalysisRun,
    ApiToken,
    Dimension,
    ImportJob,
    LabelRelease,
    QualityCheck,
    Rating,
    RatingSession,
    Stimulus,
    Study,
    Subject,
)
from annotation.selectors.subject_reports import subject_progress_annotate
from core.admin_paging import EstimatedCountPaginator


class ViewOnlyAdmin(admin.ModelAdmin):
    """Listed and viewable, never added, changed or deleted by hand: a service writes these."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class DimensionInline(admin.TabularInline):
    model = Dimension
    extra = 0
    fields = ("order", "key", "label", "question", "anchor_text")


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "status",
        "scale_type",
        "scale_min",
        "scale_max",
        "target_ratings_per_stimulus",
        "owner",
        "created_at",
    )
    list_filter = ("status", "scale_type", "language", "allow_small_screens")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [DimensionInline]


@admin.register(Dimension)
class DimensionAdmin(admin.ModelAdmin):
    list_display = ("key", "label", "study", "order")
    list_filter = ("study",)
    search_fields = ("key", "label", "question")


@admin.register(Stimulus)
class StimulusAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "original_name",
        "study",
        "generator",
        "role",
        "prompt_group",
        "width",
        "height",
        "is_i2i",
    )
    list_filter = ("study", "role", "excluded_from_playlists")
    search_fields = ("original_name", "prompt", "sha256", "prompt_group")
    readonly_fields = ("sha256", "width", "height", "file_size", "created_at")
    # Fast at AIGIQA-20K scale: one join for the study, no exact count of every row.
    list_select_related = ("study",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ("study",)

    @admin.display(boolean=True, description="image-to-image")
    def is_i2i(self, obj: Stimulus) -> bool:
        return obj.is_image_to_image


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ("label", "study", "consented_at", "declined_at", "simulated", "progress")
    list_filter = ("study", "simulated")
    search_fields = ("label", "session__completion_code")
    readonly_fields = ("token_hash", "created_at")
    list_select_related = ("study",)
    show_full_result_count = False
    raw_id_fields = ("study",)

    def get_queryset(self, request):
        # The progress column needs the playlist's length, not the playlist (1 MB each at
        # AIGIQA-20K scale): the database computes it.
        return subject_progress_annotate(super().get_queryset(request)).select_related("study")

    @admin.display(description="progress")
    def progress(self, obj: Subject) -> str:
        if obj.state == "in_progress":
            return f"{obj.trials_done} of {obj.trials_total}"
        return obj.state.replace("_", " ")


# Sessions and ratings are evidence of what a subject did: the subject pages write them and
# nobody edits them by hand. (A study or subject with ratings therefore cannot be deleted
# here either: Django names the ratings the account may not delete.)
@admin.register(RatingSession)
class RatingSessionAdmin(ViewOnlyAdmin):
    list_display = (
        "subject",
        "cursor",
        "started_at",
        "last_activity_at",
        "completed_at",
        "completion_code",
        "ended_reason",
    )
    list_filter = ("subject__study", "ended_reason")
    search_fields = ("subject__label", "=completion_code")
    readonly_fields = ("playlist", "completion_code", "display_check")
    list_select_related = ("subject__study",)
    show_full_result_count = False
    raw_id_fields = ("subject",)

    def get_queryset(self, request):
        # The list never shows the playlist: leave its megabytes in the database.
        return super().get_queryset(request).defer("playlist", "subject__study__metadata")


@admin.register(QualityCheck)
class QualityCheckAdmin(ViewOnlyAdmin):
    """Pass or fail of each qualification, trap and gold trial (annotation.services.quality)."""

    list_display = ("session", "trial_index", "kind", "stimulus", "attempt", "passed")
    list_filter = ("kind", "passed", "session__subject__study")
    list_select_related = ("session__subject__study",)
    raw_id_fields = ("session", "stimulus")
    show_full_result_count = False


@admin.register(Rating)
class RatingAdmin(ViewOnlyAdmin):
    list_display = (
        "id",
        "session",
        "stimulus",
        "dimension",
        "score",
        "trial_index",
        "is_repeat",
        "is_training",
        "response_time_ms",
        "too_fast",
        "created_at",
    )
    list_filter = (
        "session__subject__study",
        "dimension__key",
        "is_repeat",
        "is_training",
        "too_fast",
    )
    search_fields = ("session__subject__label", "stimulus__original_name")
    list_select_related = ("session__subject__study", "stimulus", "dimension__study")
    # 1.26 M rows per AIGIQA-20K-sized study: no exact counts, no date hierarchy, ids
    # instead of select boxes listing every session and stimulus.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ("session", "stimulus", "dimension")
    ordering = ("-id",)
    list_per_page = 50

    def get_queryset(self, request):
        # Rows show labels only: leave each session's playlist and each study's metadata
        # (the demo keeps its whole simulation there) in the database.
        return (
            super()
            .get_queryset(request)
            .defer(
                "session__playlist",
                "session__subject__study__metadata",
                "dimension__study__metadata",
            )
        )


# A release is immutable once written, and only the freeze service writes one (the files
# and their sha256 must agree).
@admin.register(LabelRelease)
class LabelReleaseAdmin(ViewOnlyAdmin):
    list_display = ("study", "version", "source", "mos_sha256", "created_by", "created_at")
    list_filter = ("study", "source")
    search_fields = ("study__name", "mos_sha256")


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "study",
        "kind",
        "status",
        "step",
        "ratings_count",
        "release",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("kind", "status", "study")
    exclude = ("payload",)  # MOS table and figures: megabytes of JSON, shown on the page

    # Runs are a cache written by the analysis service; they may be deleted, never edited.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "study",
        "status",
        "progress",
        "total",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("study__name",)

    # A job is made by the import page with its uploaded files; one saved here would have
    # none and wait for ever. Finished jobs may be deleted to tidy the list.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins may see and revoke tokens (delete); tokens are created by their owners only."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    list_select_related = ("user",)
    exclude = ("token_hash",)
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False
