"""Reads of a study's ratings, as rows for the analysis and the release exports."""

from django.db.models import CharField, Func, QuerySet

from annotation.models import Rating, Study


class IsoMillis(Func):
    """A UTC timestamp as ISO 8601 text with milliseconds, formatted by the database.

    Parsing 1.26 M timestamps into aware datetimes costs the driver about 6 s, only for the
    export to format them back into text; the database formats them much faster, and both
    backends give the same spelling (``2024-01-31T12:00:05.123Z``).
    """

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        template = (
            "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        )
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite stores Django's datetimes as naive UTC text. A literal % is written %%
        # in SQL handed to Django (and %%%% here, before this template is filled in).
        template = "strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%fZ', %(expressions)s)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sql(self, compiler, connection, template=None, **extra):
        template = template or "CAST(%(expressions)s AS CHAR(40))"
        return super().as_sql(compiler, connection, template=template, **extra)


def ratings_long_format(*, study: Study) -> QuerySet:
    """Every non-training rating of a study, one row each, in id order.

    Rows are tuples of :data:`RATING_ROW_FIELDS`: ids rather than labels, so that a
    1.26 M-rating study streams (``.iterator(chunk_size=...)``) with one join instead of
    four; labels, keys and stimulus facts are looked up once per study
    (``annotation.selectors.analysis``), which turns these rows into the analysis
    library's long-format table and the release's raw ratings CSV.
    """
    return (
        Rating.objects.filter(session__subject__study=study, is_training=False)
        .annotate(created_iso=IsoMillis("created_at"))
        .values_list(*RATING_ROW_FIELDS)
        .order_by("id")
    )


RATING_ROW_FIELDS = (
    "id",
    "stimulus_id",
    "session__subject_id",
    "session_id",
    "dimension_id",
    "score",
    "is_repeat",
    "trial_index",
    "response_time_ms",
    "created_iso",  # created_at as ISO 8601 UTC text with milliseconds
    "too_fast",
)
