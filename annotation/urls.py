from django.urls import path

from annotation import views_recruitment, views_subject

app_name = "annotation"

# Subject pages: the invite token in the path is the only credential a subject has.
urlpatterns = [
    # A study's public recruitment link for crowd platforms (makes the subject, then /s/).
    path("r/<str:key>/", views_recruitment.recruitment_entry, name="recruitment-entry"),
    path("s/<str:token>/", views_subject.subject_entry, name="subject-entry"),
    path("s/<str:token>/consent/", views_subject.subject_consent, name="subject-consent"),
    path(
        "s/<str:token>/instructions/",
        views_subject.subject_instructions,
        name="subject-instructions",
    ),
    path(
        "s/<str:token>/display-check/",
        views_subject.subject_display_check,
        name="subject-display-check",
    ),
    path(
        "s/<str:token>/trials/<int:trial_index>/",
        views_subject.subject_trial,
        name="subject-trial",
    ),
    path(
        "s/<str:token>/qualification/",
        views_subject.subject_qualification,
        name="subject-qualification",
    ),
    path("s/<str:token>/break/", views_subject.subject_break, name="subject-break"),
    path("s/<str:token>/done/", views_subject.subject_done, name="subject-done"),
    path(
        "s/<str:token>/images/<int:stimulus_id>/",
        views_subject.subject_image,
        name="subject-image",
    ),
    path(
        "s/<str:token>/images/<int:stimulus_id>/reference/",
        views_subject.subject_image,
        {"reference": True},
        name="subject-reference",
    ),
]
