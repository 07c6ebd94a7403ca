"""HTTP downloads shared by the researcher pages and the API, so both answer alike."""

from django.http import StreamingHttpResponse

from annotation.models import Study
from annotation.services.release_files import ratings_csv_stream


def ratings_live_response(*, study: Study) -> StreamingHttpResponse:
    """The current raw ratings, generated now and streamed (not a release: they change)."""
    response = StreamingHttpResponse(
        ratings_csv_stream(study=study), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-ratings-live.csv"'
    # Never cached: the next request may hold ratings that arrived since.
    response["Cache-Control"] = "no-store"
    return response
