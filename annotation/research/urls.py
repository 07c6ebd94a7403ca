from django.urls import path

from annotation.research import views, views_analysis, views_lists, views_recruitment

app_name = "research"

urlpatterns = [
    path("", views.study_list, name="study_list"),
    path("new/", views.study_new, name="study_new"),
    path("import-external/", views.external_import, name="external_import"),
    path("imports/<int:job_pk>/", views.import_job, name="import_job"),
    path("<int:pk>/", views.study_detail, name="study_detail"),
    path("<int:pk>/edit/", views.study_edit, name="study_edit"),
    path("<int:pk>/status/", views.study_status, name="study_status"),
    path("<int:pk>/stimuli/", views_lists.stimulus_list, name="stimulus_list"),
    path("<int:pk>/stimuli/bulk/", views_lists.stimulus_bulk, name="stimulus_bulk"),
    path("<int:pk>/stimuli/<int:stimulus_pk>/role/", views.stimulus_role, name="stimulus_role"),
    path(
        "<int:pk>/stimuli/<int:stimulus_pk>/thumbnail.jpg",
        views.stimulus_thumbnail,
        name="stimulus_thumbnail",
    ),
    path(
        "<int:pk>/stimuli/<int:stimulus_pk>/image",
        views.stimulus_image,
        name="stimulus_image",
    ),
    path(
        "<int:pk>/stimuli/<int:stimulus_pk>/reference",
        views.stimulus_image,
        {"reference": True},
        name="stimulus_reference",
    ),
    path("<int:pk>/preview/", views.study_preview, name="study_preview"),
    path(
        "<int:pk>/preview/<int:stimulus_pk>/",
        views.study_preview,
        name="study_preview_stimulus",
    ),
    path("<int:pk>/import/", views.study_import, name="study_import"),
    path("<int:pk>/recruitment/", views_recruitment.study_recruitment, name="study_recruitment"),
    path(
        "<int:pk>/subjects/payments.csv",
        views_recruitment.payment_list_csv,
        name="payment_list_csv",
    ),
    path("<int:pk>/subjects/", views_lists.subject_list, name="subject_list"),
    path("<int:pk>/subjects/report/", views_lists.subject_report, name="subject_report"),
    path("<int:pk>/subjects/report.csv", views_lists.subject_report_csv, name="subject_report_csv"),
    path("<int:pk>/progress/", views.study_progress_page, name="study_progress"),
    path("<int:pk>/progress.json", views.study_progress_json, name="study_progress_json"),
    path("<int:pk>/analysis/", views_analysis.analysis_page, name="analysis"),
    path(
        "<int:pk>/analysis/runs/<int:run_pk>.json",
        views_analysis.analysis_run_json,
        name="analysis_run_json",
    ),
    path(
        "<int:pk>/analysis/runs/<int:run_pk>/result.json",
        views_analysis.analysis_run_result,
        name="analysis_run_result",
    ),
    path(
        "<int:pk>/analysis/runs/<int:run_pk>/pairwise/<str:what>",
        views_analysis.analysis_run_pairwise_download,
        name="analysis_run_pairwise_download",
    ),
    path("<int:pk>/releases/", views_analysis.release_list, name="release_list"),
    path("<int:pk>/releases/freeze/", views_analysis.release_freeze, name="release_freeze"),
    path("<int:pk>/releases/package/", views_analysis.release_package, name="release_package"),
    path(
        "<int:pk>/releases/v<int:version>/<str:what>/",
        views_analysis.release_download,
        name="release_download",
    ),
    path("<int:pk>/ratings.csv", views_analysis.ratings_live_csv, name="ratings_live_csv"),
]
