"""Manifest CSV validation: every row is checked and every problem reported before any write."""

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from annotation.imports.errors import ImportProblem, ImportRejected
from annotation.imports.images import CheckedImage, image_check
from published.readers import PublishedRow

REQUIRED_COLUMNS = ("image",)
KNOWN_COLUMNS = ("image", "reference", "generator", "prompt", "prompt_group")


@dataclass
class ImportRow:
    """One validated stimulus waiting to be written."""

    row: int
    name: str
    image: CheckedImage
    reference: CheckedImage | None = None
    generator: str = ""
    prompt: str = ""
    prompt_group: str = ""
    metadata: dict = field(default_factory=dict)
    # External databases only: published scores per dimension key.
    mos: dict = field(default_factory=dict)
    std: dict = field(default_factory=dict)
    # Stimulus model fields a layout sets itself (a dataset package: role, expected_scores).
    stimulus_fields: dict = field(default_factory=dict)
    # Byte-identical to the file of an earlier row of this import (its row number) or of a
    # stimulus already in the study (its id): stored once, shared. Only when allowed.
    same_file_as_row: int | None = None
    same_file_as_stimulus: int | None = None
    same_file_as_name: str = ""

    @property
    def is_duplicate(self) -> bool:
        return self.same_file_as_row is not None or self.same_file_as_stimulus is not None


@dataclass
class RawRow(PublishedRow):
    """A row as read from a manifest or an external table, before its files are checked.

    The columns are those of :class:`published.readers.PublishedRow` (one concept, defined
    in the bottom layer, which may not import the site).
    """

    # Stimulus model fields a layout sets itself (a dataset package: role, expected_scores).
    stimulus_fields: dict = field(default_factory=dict)


def _number_or_text(value: str):
    """Metadata such as cfg=7.5 or steps=50 is kept as a number so it can be analysed."""
    text = value.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def read_csv_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            [
                ImportProblem(
                    0,
                    path.name,
                    f"the CSV is not UTF-8 (undecodable byte at offset {exc.start}); "
                    "save it as 'CSV UTF-8'",
                )
            ]
        ) from None


def manifest_read(path: Path) -> list[RawRow]:
    """Parse a manifest CSV into raw rows; raise ImportRejected on encoding or column problems."""
    text = read_csv_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportRejected(
            [
                ImportProblem(
                    0,
                    path.name,
                    f"missing column(s) {', '.join(missing)}; columns found: "
                    f"{', '.join(columns) or 'none'}",
                )
            ]
        )
    reader.fieldnames = columns
    rows: list[RawRow] = []
    for number, record in enumerate(reader, start=1):
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        rows.append(
            RawRow(
                row=number,
                image=values.get("image", ""),
                reference=values.get("reference", ""),
                generator=values.get("generator", ""),
                prompt=values.get("prompt", ""),
                prompt_group=values.get("prompt_group", ""),
                metadata={
                    k: _number_or_text(v) for k, v in values.items() if k not in KNOWN_COLUMNS and v
                },
            )
        )
    if not rows:
        raise ImportRejected([ImportProblem(0, path.name, "the manifest has no rows")])
    return rows


def _resolve(root: Path, relative: str) -> tuple[Path | None, str]:
    if not relative:
        return None, "no file name given"
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        return None, "path must be relative to the image folder, without '..'"
    path = (root / pure).resolve()
    if not path.is_relative_to(root.resolve()):
        return None, "path leaves the image folder"
    if not path.is_file():
        return None, "file not found in the image folder"
    return path, ""


@dataclass
class _Seen:
    """What earlier rows (and the study) hold: file contents, and references already checked."""

    existing: dict[str, tuple[int, str]]  # the study's stimuli: sha256 -> (id, original name)
    contents: dict[str, tuple[int, str]] = field(default_factory=dict)  # -> (row, name)
    references: dict[Path, CheckedImage] = field(default_factory=dict)


@dataclass
class _SameFile:
    """The earlier row or stored stimulus whose file a row's image repeats, if any."""

    row: int | None = None
    stimulus: int | None = None
    name: str = ""


def rows_validate(
    *,
    rows: list[RawRow],
    root: Path,
    existing_sha256: Mapping[str, tuple[int, str]] | None = None,
    allow_duplicates: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[ImportRow]:
    """Check every file of every row; return the rows or raise ImportRejected listing all problems.

    Two rows with byte-identical files are a problem unless ``allow_duplicates``: then the
    later row is kept and marked as sharing the earlier row's file. ``existing_sha256`` maps
    the content of the study's stimuli to (id, original name).
    """
    problems: list[ImportProblem] = []
    seen = _Seen(existing=dict(existing_sha256 or {}))
    valid: list[ImportRow] = []
    for index, raw in enumerate(rows, start=1):
        row, row_problems = _row_validate(raw, root, seen, allow_duplicates)
        problems.extend(ImportProblem(raw.row, raw.image, msg) for msg in row_problems)
        if row is not None:
            valid.append(row)
        if progress is not None:
            progress(index)
    if problems:
        raise ImportRejected(problems)
    return valid


def _row_validate(
    raw: RawRow, root: Path, seen: _Seen, allow_duplicates: bool
) -> tuple[ImportRow | None, list[str]]:
    """One row checked: the row to import (None when it has problems) and its problems."""
    problems: list[str] = []
    checked = _image_checked(root, raw, problems)
    same = _SameFile()
    if checked is not None:
        same = _same_file(raw, checked, seen, allow_duplicates, problems)
    reference = _reference_checked(root, raw, seen, problems) if raw.reference else None
    if problems or checked is None:
        return None, problems
    return _import_row(raw, checked, reference, same), problems


def _image_checked(root: Path, raw: RawRow, problems: list[str]) -> CheckedImage | None:
    image_path, why = _resolve(root, raw.image)
    if image_path is None:
        problems.append(f"image: {why}")
        return None
    try:
        return image_check(image_path)
    except ValueError as exc:
        problems.append(f"image: {exc}")
        return None


def _same_file(
    raw: RawRow, checked: CheckedImage, seen: _Seen, allow_duplicates: bool, problems: list[str]
) -> _SameFile:
    """The earlier row or stored stimulus with this content; a problem unless duplicates are
    allowed. A first occurrence is remembered for the rows after it."""
    if checked.sha256 in seen.contents:
        same_row, same_name = seen.contents[checked.sha256]
        if not allow_duplicates:
            problems.append(f"same image content as row {same_row} ({same_name})")
        return _SameFile(row=same_row, name=same_name)
    if checked.sha256 in seen.existing:
        same_stimulus, same_name = seen.existing[checked.sha256]
        if not allow_duplicates:
            problems.append("the same image is already in this study")
        return _SameFile(stimulus=same_stimulus, name=same_name)
    seen.contents[checked.sha256] = (raw.row, PurePosixPath(raw.image).name)
    return _SameFile()


def _reference_checked(
    root: Path, raw: RawRow, seen: _Seen, problems: list[str]
) -> CheckedImage | None:
    """The row's reference image, checked once however many rows share it."""
    ref_path, why = _resolve(root, raw.reference)
    if ref_path is None:
        problems.append(f"reference: {why}")
        return None
    if ref_path in seen.references:
        return seen.references[ref_path]
    try:
        reference = seen.references[ref_path] = image_check(ref_path)
    except ValueError as exc:
        problems.append(f"reference: {exc}")
        return None
    return reference


def _import_row(
    raw: RawRow, checked: CheckedImage, reference: CheckedImage | None, same: _SameFile
) -> ImportRow:
    return ImportRow(
        row=raw.row,
        name=PurePosixPath(raw.image).name,
        image=checked,
        reference=reference,
        generator=raw.generator,
        prompt=raw.prompt,
        prompt_group=raw.prompt_group,
        metadata=raw.metadata,
        mos=raw.mos,
        std=raw.std,
        stimulus_fields=raw.stimulus_fields,
        same_file_as_row=same.row,
        same_file_as_stimulus=same.stimulus,
        same_file_as_name=same.name,
    )
