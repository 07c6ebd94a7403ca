from django.urls import path

from annotation.api import views

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
    path(
        "studies/<int:pk>/subjects/invite/", views.InviteCreateApi.as_view(), name="invite_create"
    ),
    path("studies/<int:pk>/progress/", views.StudyProgressApi.as_view(), name="study_progress"),
]
