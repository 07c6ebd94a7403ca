"""HTTP downloads shared by the researcher pages and the API, so both answer alike."""

import csv
import io

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, StreamingHttpResponse

from annotation.models import LabelRelease, Study
from annotation.selectors.subject_reports import SubjectReport, too_fast_threshold_ms
from annotation.services.pair_exports import choices_csv_stream
from annotation.services.release_formats import ratings_csv_stream
from annotation.services.releases import release_download_open
from core.storage import stream_response


def release_file_response(*, release: LabelRelease, what: str) -> FileResponse:
    """One stored file of a release, streamed as written with the release; a file the release
    does not have (an unknown name, raw ratings of an imported database) answers 404."""
    try:
        download = release_download_open(release=release, what=what)
    except ValidationError as exc:
        raise Http404(" ".join(exc.messages)) from None
    return stream_response(
        download.handle,
        as_attachment=True,
        filename=download.filename,
        content_type=download.content_type,
    )


def ratings_live_response(*, study: Study) -> StreamingHttpResponse:
    """The current raw ratings, generated now and streamed (not a release: they change);
    a pairwise study's are its choices (`services.pair_exports`)."""
    pairwise = study.scale_type == Study.ScaleType.PAIRWISE
    stream = choices_csv_stream(study=study) if pairwise else ratings_csv_stream(study=study)
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    name = "choices" if pairwise else "ratings"
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-{name}-live.csv"'
    # Never cached: the next request may hold ratings that arrived since.
    response["Cache-Control"] = "no-store"
    return response


SUBJECT_REPORT_COLUMNS = (
    "subject",
    "state",
    "completion_code",
    "started_at",
    "finished_at",
    "trials",
    "median_ms_per_trial",
    "fastest_ms",
    "too_fast_share",
    "too_fast_threshold_ms",
    "repeat_pairs",
    "repeat_mean_abs_diff",
    "gold_answers",
    "gold_mean_abs_error",
    "gold_accuracy",
    "screening",
    "screening_reason",
    # Pairwise studies (added last, so the columns before keep their places): the share of
    # repeated pairs where the same image won; gold_accuracy is the share of gold pairs passed.
    "repeat_agreement",
)


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def subject_report_csv_response(
    *, study: Study, reports: list[SubjectReport]
) -> StreamingHttpResponse:
    """The per-subject report as CSV: one row per subject, columns as on the page."""
    threshold = too_fast_threshold_ms(study=study)

    def blank(value) -> object:
        return "" if value is None else value

    def rows():
        yield _csv_line(SUBJECT_REPORT_COLUMNS)
        for r in reports:
            yield _csv_line(
                [
                    r.subject.label,
                    r.state,
                    r.completion_code,
                    r.started_at.isoformat() if r.started_at else "",
                    r.finished_at.isoformat() if r.finished_at else "",
                    r.trials,
                    blank(r.median_ms),
                    blank(r.fastest_ms),
                    "" if r.too_fast_share is None else round(r.too_fast_share, 4),
                    threshold,
                    r.repeat_pairs,
                    "" if r.repeat_mean_abs_diff is None else round(r.repeat_mean_abs_diff, 3),
                    r.gold_answers,
                    "" if r.gold_mean_abs_error is None else round(r.gold_mean_abs_error, 3),
                    "" if r.gold_accuracy is None else round(r.gold_accuracy, 4),
                    r.screening,
                    r.screening_reason,
                    "" if r.repeat_agreement is None else round(r.repeat_agreement, 4),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-subjects.csv"'
    response["Cache-Control"] = "no-store"
    return response
