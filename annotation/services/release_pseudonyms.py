"""ratings.csv (choices.csv for a pairwise release) and subjects.csv of a dataset package:
every subject under a pseudonym.

Pseudonyms are made at random for each package (stable within it, never derived from the
label); session ids, rating ids and timestamps are dropped; demographic fields leave the
server only when the researcher ticks them.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator, Sequence

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from annotation.models import LabelRelease, Subject
from annotation.services.pair_exports import CHOICE_COLUMNS
from annotation.services.release_formats import RATING_COLUMNS
from annotation.services.release_zip import csv_line

RATING_ROWS_PER_WRITE = 5000
SUBJECT_COLUMNS = ["subject", "ratings", "rejected", "rejected_on", "reasons"]


def _pseudonyms() -> Iterator[str]:
    """Random, unique within one package; never derived from the label (no way back)."""
    used: set[str] = set()
    while True:
        candidate = f"S{secrets.token_hex(5)}"
        if candidate not in used:
            used.add(candidate)
            yield candidate


def _positions(header: list[str], columns: Sequence[str]) -> list[int]:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValidationError(f"The release's raw CSV lacks column(s) {', '.join(missing)}.")
    return [header.index(c) for c in columns]


def ratings_chunks(
    release: LabelRelease, pseudonym_of: dict[str, str], rating_counts: dict[str, int]
) -> Iterator[bytes]:
    """The stored raw CSV, row by row, under pseudonyms and without identifying columns;
    fills ``pseudonym_of`` (label -> pseudonym) and ``rating_counts`` as it goes."""
    return pseudonymous_chunks(release, RATING_COLUMNS, pseudonym_of, rating_counts)


def choices_chunks(
    release: LabelRelease, pseudonym_of: dict[str, str], choice_counts: dict[str, int]
) -> Iterator[bytes]:
    """A pairwise release's frozen choices CSV under pseudonyms (its columns carry no
    session, id or timestamp to drop)."""
    return pseudonymous_chunks(release, CHOICE_COLUMNS, pseudonym_of, choice_counts)


def pseudonymous_chunks(
    release: LabelRelease,
    columns: Sequence[str],
    pseudonym_of: dict[str, str],
    row_counts: dict[str, int],
) -> Iterator[bytes]:
    """The stored raw CSV's ``columns``, row by row, the subject under its pseudonym."""
    names = _pseudonyms()
    yield csv_line(columns)
    with default_storage.open(release.raw_file.name, "rb") as handle:
        reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
        positions = _positions(next(reader, []), columns)
        subject_at = list(columns).index("subject")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for count, row in enumerate(reader, start=1):
            values = [row[i] for i in positions]
            label = values[subject_at]
            if label not in pseudonym_of:
                pseudonym_of[label] = next(names)
            values[subject_at] = subject = pseudonym_of[label]
            row_counts[subject] = row_counts.get(subject, 0) + 1
            writer.writerow(values)
            if count % RATING_ROWS_PER_WRITE == 0:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")


def _rejections_by_subject(release: LabelRelease) -> dict[str, dict[str, list]]:
    rejected: dict[str, dict[str, list]] = {}
    for rejection in release.method_config.get("rejections", []):
        entry = rejected.setdefault(rejection["subject"], {"on": [], "reasons": []})
        entry["on"].append(str(rejection["dimension"]))
        entry["reasons"].append(str(rejection.get("reasons", "")))
    return rejected


def subjects_table(
    *,
    release: LabelRelease,
    pseudonym_of: dict[str, str],
    rating_counts: dict[str, int],
    demographics: list[str],
    count_column: str = "ratings",
) -> tuple[list[str], list[list]]:
    """subjects.csv's columns and rows: one per pseudonym, its screening outcome and the
    demographic fields ticked (``count_column``: ratings, or choices of a pairwise one)."""
    rejected = _rejections_by_subject(release)
    given = dict(
        Subject.objects.filter(study_id=release.study_id, label__in=list(pseudonym_of)).values_list(
            "label", "demographics"
        )
    )
    rows = []
    for label, pseudonym in sorted(pseudonym_of.items(), key=lambda item: item[1]):
        entry = rejected.get(label, {"on": [], "reasons": []})
        answers = given.get(label) or {}
        rows.append(
            [
                pseudonym,
                rating_counts.get(pseudonym, 0),
                1 if entry["on"] else 0,
                ";".join(entry["on"]),
                ";".join(entry["reasons"]),
                *(
                    answers.get(field, "") if isinstance(answers, dict) else ""
                    for field in demographics
                ),
            ]
        )
    columns = [count_column if c == "ratings" else c for c in SUBJECT_COLUMNS]
    return [*columns, *demographics], rows
