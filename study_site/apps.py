from django.apps import AppConfig


class StudySiteConfig(AppConfig):
    name = "study_site"
    verbose_name = "Study site"
