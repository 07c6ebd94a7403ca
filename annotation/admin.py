from django.contrib import admin

from annotation.models import (
    AnalysisRun,
    Dimension,
    ImportJob,
    LabelRelease,
    Rating,
    RatingSession,
    Stimulus,
    Study,
    Subject,
)


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
    list_filter = ("status", "scale_type")
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
    list_filter = ("study", "role", "generator")
    search_fields = ("original_name", "prompt", "sha256", "prompt_group")
    readonly_fields = ("sha256", "width", "height", "file_size", "created_at")

    @admin.display(boolean=True, description="image-to-image")
    def is_i2i(self, obj: Stimulus) -> bool:
        return obj.is_image_to_image


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ("label", "study", "consented_at", "declined_at", "simulated", "progress")
    list_filter = ("study", "simulated")
    search_fields = ("label",)
    readonly_fields = ("token_hash", "created_at")

    @admin.display(description="progress")
    def progress(self, obj: Subject) -> str:
        session = getattr(obj, "session", None)
        if session is None:
            return "not started"
        if session.is_complete:
            return "completed"
        return f"{session.cursor} of {len(session.playlist)}"


# Sessions and ratings are evidence of what a subject did: the subject pages write them and
# nobody edits them by hand. (A study or subject with ratings therefore cannot be deleted
# here either: Django names the ratings the account may not delete.)
@admin.register(RatingSession)
class RatingSessionAdmin(ViewOnlyAdmin):
    list_display = ("subject", "cursor", "started_at", "last_activity_at", "completed_at")
    list_filter = ("subject__study",)
    search_fields = ("subject__label",)
    readonly_fields = ("playlist", "completion_code")


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
        "created_at",
    )
    list_filter = ("session__subject__study", "dimension__key", "is_repeat", "is_training")
    search_fields = ("session__subject__label", "stimulus__original_name")
    list_select_related = ("session__subject", "stimulus", "dimension")


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
