"""HTTP downloads shared by the researcher pages and the API, so both answer alike."""

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, StreamingHttpResponse

from annotation.models import LabelRelease, Study
from annotation.services.release_formats import ratings_csv_stream
from annotation.services.releases import release_download_open


def release_file_response(*, release: LabelRelease, what: str) -> FileResponse:
    """One stored file of a release, streamed as written with the release; a file the release
    does not have (an unknown name, raw ratings of an imported database) answers 404."""
    try:
        download = release_download_open(release=release, what=what)
    except ValidationError as exc:
        raise Http404(" ".join(exc.messages)) from None
    return FileResponse(
        download.handle,
        as_attachment=True,
        filename=download.filename,
        content_type=download.content_type,
    )


def ratings_live_response(*, study: Study) -> StreamingHttpResponse:
    """The current raw ratings, generated now and streamed (not a release: they change)."""
    response = StreamingHttpResponse(
        ratings_csv_stream(study=study), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-ratings-live.csv"'
    # Never cached: the next request may hold ratings that arrived since.
    response["Cache-Control"] = "no-store"
    return response
