from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Studies and ratings"

    def ready(self) -> None:
        # Registers the API token scheme with drf-spectacular (the OpenAPI schema).
        from annotation.api import authentication  # noqa: F401
