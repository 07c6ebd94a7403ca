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

    The columns are those of the training library's published row (one concept, defined
    there, since the library may not import the site).
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
    existing = dict(existing_sha256 or {})
    seen: dict[str, tuple[int, str]] = {}
    checked_refs: dict[Path, CheckedImage] = {}
    valid: list[ImportRow] = []
    for index, raw in enumerate(rows, start=1):
        row_problems: list[str] = []
        image_path, why = _resolve(root, raw.image)
        checked = None
        if image_path is None:
            row_problems.append(f"image: {why}")
        else:
            try:
                checked = image_check(image_path)
            except ValueError as exc:
                row_problems.append(f"image: {exc}")
        same_row, same_stimulus, same_name = None, None, ""
        if checked is not None:
            if checked.sha256 in seen:
                same_row, same_name = seen[checked.sha256]
                if not allow_duplicates:
                    row_problems.append(f"same image content as row {same_row} ({same_name})")
            elif checked.sha256 in existing:
                same_stimulus, same_name = existing[checked.sha256]
                if not allow_duplicates:
                    row_problems.append("the same image is already in this study")
            else:
                seen[checked.sha256] = (raw.row, PurePosixPath(raw.image).name)
        reference = None
        if raw.reference:
            ref_path, why = _resolve(root, raw.reference)
            if ref_path is None:
                row_problems.append(f"reference: {why}")
            elif ref_path in checked_refs:
                reference = checked_refs[ref_path]
            else:
                try:
                    reference = checked_refs[ref_path] = image_check(ref_path)
                except ValueError as exc:
                    row_problems.append(f"reference: {exc}")
        problems.extend(ImportProblem(raw.row, raw.image, msg) for msg in row_problems)
        if not row_problems and checked is not None:
            valid.append(
                ImportRow(
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
                    same_file_as_row=same_row,
                    same_file_as_stimulus=same_stimulus,
                    same_file_as_name=same_name,
                )
            )
        if progress is not None:
            progress(index)
    if problems:
        raise ImportRejected(problems)
    return valid
