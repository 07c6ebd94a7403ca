"""Pairwise choices as CSV: the raw choices table of :mod:`analysis.pairwise.choices`.

Columns: subject, group, left, right, choice, side, time (seconds), as the library reads
them, then dimension, trial, too_fast and repeat. ``left``/``right`` are stimulus ids as
shown on screen; ``side`` is where the pair's first stimulus, as the design served it, was
shown.
"""

from collections.abc import Iterator

from analysis.pairwise import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from annotation.models import Study
from annotation.selectors.analysis import CHUNK_SIZE
from annotation.selectors.pairwise import pairwise_choice_rows
from annotation.services.release_formats import csv_bytes

CHOICE_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "dimension", "trial", "too_fast", "repeat")


def choice_record(row: tuple) -> dict:
    """A row of :func:`pairwise_choice_rows` under the CHOICE_COLUMNS names (time in s)."""
    subject, dimension, trial, group, left, right, choice, side, ms, too_fast, repeat = row
    return {
        "subject": subject,
        "group": group,
        "left": left,
        "right": right,
        "choice": choice,
        "side": side,
        "time": None if ms is None else ms / 1000,
        "dimension": dimension,
        "trial": trial,
        "too_fast": int(too_fast),
        "repeat": int(repeat),
    }


def _csv_row(row: tuple) -> list:
    record = choice_record(row)
    record["time"] = "" if record["time"] is None else f"{record['time']:.3f}"
    return [record[column] for column in CHOICE_COLUMNS]


def choices_csv_stream(
    *, study: Study, chunk_size: int = CHUNK_SIZE, last_id: int | None = None
) -> Iterator[bytes]:
    """The study's current choices as CSV chunks (live, not frozen), for streaming;
    ``last_id``: only the choices stored up to that id (a freeze's fingerprint)."""
    yield csv_bytes([], CHOICE_COLUMNS)
    chunk: list[list] = []
    rows = pairwise_choice_rows(study=study)
    if last_id is not None:
        rows = rows.filter(id__lte=last_id)
    for row in rows.iterator(chunk_size=chunk_size):
        chunk.append(_csv_row(row))
        if len(chunk) >= chunk_size:
            yield csv_bytes(chunk)
            chunk = []
    if chunk:
        yield csv_bytes(chunk)
