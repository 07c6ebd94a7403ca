from django.urls import path

from annotation.api import views, views_analysis, views_reports

app_name = "api"

urlpatterns = [
    path("studies/", views.StudyListApi.as_view(), name="study_list"),
    path("studies/create/", views.StudyCreateApi.as_view(), name="study_create"),
    path("studies/import-external/", views.ExternalImportApi.as_view(), name="external_import"),
    path("studies/imports/<int:job_pk>/", views.ImportJobDetailApi.as_view(), name="import_job"),
    path("studies/<int:pk>/", views.StudyDetailApi.as_view(), name="study_detail"),
    path("studies/<int:pk>/update/", views.StudyUpdateApi.as_view(), name="study_update"),
    path("studies/<int:pk>/status/", views.StudyStatusApi.as_view(), name="study_status"),
    path("studies/<int:pk>/stimuli/", views.StimulusListApi.as_view(), name="stimulus_list"),
    path(
        "studies/<int:pk>/stimuli/<int:stimulus_pk>/role/",
        views.StimulusRoleApi.as_view(),
        name="stimulus_role",
    ),
    path("studies/<int:pk>/import/", views.StudyImportApi.as_view(), name="study_import"),
    path("studies/<int:pk>/subjects/", views.SubjectListApi.as_view(), name="subject_list"),
    path("studies/<int:pk>/choices/", views.PairwiseChoiceListApi.as_view(), name="choice_list"),
    path(
        "studies/<int:pk>/subjects/report/",
        views_reports.SubjectReportApi.as_view(),
        name="subject_report",
    ),
    path(
        "completion-codes/<str:code>/",
        views_reports.CompletionCodeApi.as_view(),
        name="completion_code",
    ),
    path(
        "studies/<int:pk>/subjects/invite/", views.InviteCreateApi.as_view(), name="invite_create"
    ),
    path("studies/<int:pk>/progress/", views.StudyProgressApi.as_view(), name="study_progress"),
    path(
        "studies/<int:pk>/analysis/",
        views_analysis.AnalysisRunCreateApi.as_view(),
        name="analysis_run_create",
    ),
    path(
        "studies/<int:pk>/analysis/<int:run_pk>/",
        views_analysis.AnalysisRunDetailApi.as_view(),
        name="analysis_run_detail",
    ),
    path(
        "studies/<int:pk>/analysis/<int:run_pk>/result/",
        views_analysis.AnalysisRunResultApi.as_view(),
        name="analysis_run_result",
    ),
    path(
        "studies/<int:pk>/releases/", views_analysis.ReleaseListApi.as_view(), name="release_list"
    ),
    path(
        "studies/<int:pk>/releases/freeze/",
        views_analysis.ReleaseFreezeApi.as_view(),
        name="release_freeze",
    ),
    path(
        "studies/<int:pk>/releases/<int:version>/",
        views_analysis.ReleaseDetailApi.as_view(),
        name="release_detail",
    ),
    path(
        "studies/<int:pk>/releases/<int:version>/mos.csv",
        views_analysis.ReleaseMosCsvApi.as_view(),
        name="release_mos",
    ),
    path(
        "studies/<int:pk>/releases/<int:version>/raw.csv",
        views_analysis.ReleaseRawCsvApi.as_view(),
        name="release_raw",
    ),
    path(
        "studies/<int:pk>/releases/<int:version>/release.json",
        views_analysis.ReleaseSidecarApi.as_view(),
        name="release_sidecar",
    ),
    path(
        "studies/<int:pk>/releases/<int:version>/package/",
        views_analysis.ReleasePackageApi.as_view(),
        name="release_package",
    ),
    path(
        "studies/<int:pk>/releases/<int:version>/package.zip",
        views_analysis.ReleasePackageZipApi.as_view(),
        name="release_package_zip",
    ),
    path(
        "studies/<int:pk>/ratings.csv",
        views_analysis.LiveRatingsCsvApi.as_view(),
        name="ratings_live_csv",
    ),
]
