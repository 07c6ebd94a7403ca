"""The platform's own dataset package as an external-database layout: the round trip.

A package (``services.release_package``) holds mos.csv (rated images with role, settings
and MOS), anchors.csv (training and gold images without a MOS, with expected scores),
release.json (dimensions and scale) and images/ and prompt_images/. Importing it makes a closed study whose release has
the same MOS, whose stimuli have the same images (same sha256) and roles.

A pairwise release's package holds scores.csv and choices.csv instead of mos.csv: its
import makes a closed pairwise study (design fields from release.json's study.pairwise)
with the images once each and every choice under the package's pseudonyms, and no
release: a freeze of the new study scales the same choices to the same scores.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from annotation.dimensions import DimensionSpec
from annotation.imports.errors import ImportProblem, ImportRejected
from annotation.imports.manifest import RawRow, read_csv_text

ROLES = ("normal", "gold", "training")


@dataclass(frozen=True)
class PackageTable:
    """What external_import needs; dimensions and scale come from the package itself."""

    label_file: Path
    image_root: Path
    rows: list[RawRow]
    dimensions: tuple[DimensionSpec, ...]
    scale: tuple[float, float]
    study_fields: dict = field(default_factory=dict)
    # A pairwise package: its choices (rows of choices.csv, checked) and, per row of
    # ``rows``, the package's stimulus_id that the choices' left and right name.
    choices: list[dict] = field(default_factory=list)
    stimulus_ids: list[str] = field(default_factory=list)


def _problem(name: str, message: str) -> ImportRejected:
    return ImportRejected([ImportProblem(0, name, message)])


def _records(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(read_csv_text(path), newline="")))


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


class DatasetPackage:
    """This platform's dataset package, unzipped: mos.csv, anchors.csv, release.json,
    images/ and prompt_images/ (a zip is unpacked by the import job first)."""

    key = "dataset-package"
    title = "Dataset package (this platform)"
    expects = (
        "A dataset package exported by this site (unzipped folder or zip): mos.csv (or "
        "scores.csv and choices.csv of a pairwise release), anchors.csv, release.json, "
        "images/ and prompt_images/."
    )
    # A package of an imported database may hold byte-identical files under different
    # names (see ExternalLayout.allow_duplicates): the round trip keeps them.
    allow_duplicates = True
    # The package's own release.json names them; see PackageTable.
    dimensions: tuple[DimensionSpec, ...] = ()
    scale: tuple[float, float] = (0.0, 100.0)

    def label_file(self, source: Path) -> Path:
        label = source if source.is_file() else source / "mos.csv"
        if not label.is_file() and (source / "scores.csv").is_file():
            label = source / "scores.csv"  # a pairwise release's package
        if not label.is_file():
            raise _problem(source.name, f"no mos.csv in {source}: is this a dataset package?")
        return label

    def _sidecar(self, folder: Path) -> dict:
        path = folder / "release.json"
        if not path.is_file():
            raise _problem(folder.name, "release.json not found: is this a dataset package?")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _problem("release.json", f"not valid JSON ({exc})") from None

    def read(self, source: Path) -> PackageTable:
        label = self.label_file(source)
        folder = label.parent
        sidecar = self._sidecar(folder)
        study = sidecar.get("study", {})
        specs = _dimension_specs(study)
        keys = [d.key for d in specs]
        problems: list[ImportProblem] = []
        pairwise = label.name == "scores.csv"
        records = _records(label)
        if pairwise:
            # One row per image (scores.csv has one per dimension and group): the scores
            # are the imported study's to freeze again, from its choices.
            records = list({r.get("stimulus_id", ""): r for r in reversed(records)}.values())
            records.reverse()
            rows = [self._common(r, n) for n, r in enumerate(records, start=1)]
            for row, record in zip(rows, records, strict=True):
                row.stimulus_fields.update(role=(record.get("role") or "normal").strip())
        else:
            rows = [self._rated(r, n, keys, problems) for n, r in enumerate(records, start=1)]
        ids = [(r.get("stimulus_id") or "").strip() for r in records]
        anchors = folder / "anchors.csv"
        if anchors.is_file():
            start = len(rows) + 1
            rows += [
                self._anchor(r, n, keys, problems)
                for n, r in enumerate(_records(anchors), start=start)
            ]
        if problems:
            raise ImportRejected(problems)
        scale = study.get("scale") or {}
        pairwise_fields: dict = {}
        choices: list[dict] = []
        if pairwise:
            choices = pairwise_choices_read(folder / "choices.csv", ids=set(ids), keys=keys)
            pairwise_fields = _pairwise_study_fields(study)
        return PackageTable(
            label_file=label,
            image_root=folder,
            rows=rows,
            dimensions=specs,
            scale=(float(scale.get("min", 0.0)), float(scale.get("max", 100.0))),
            study_fields={
                "scale_type": scale.get("type") or "continuous",
                "scale_step": float(scale.get("step") or 0),
                "scale_labels": list(scale.get("labels") or []),
                **pairwise_fields,
            },
            choices=choices,
            stimulus_ids=ids + [""] * (len(rows) - len(ids)),
        )

    def _common(self, record: dict, number: int) -> RawRow:
        try:
            settings = json.loads(record.get("settings") or "{}")
        except json.JSONDecodeError:
            settings = {}
        name = (record.get("name") or "").strip()
        return RawRow(
            row=number,
            image=(record.get("image") or "").strip(),
            reference=(record.get("prompt_image") or "").strip(),
            generator=(record.get("generator") or "").strip(),
            prompt=(record.get("prompt") or "").strip(),
            prompt_group=(record.get("prompt_group") or "").strip(),
            metadata={**(settings if isinstance(settings, dict) else {}), "source_name": name},
        )

    def _rated(self, record: dict, number: int, keys: list[str], problems: list) -> RawRow:
        row = self._common(record, number)
        for key in keys:
            value = _number(record.get(f"mos_{key}"))
            if value is None:
                problems.append(
                    ImportProblem(number, row.image, f"mos_{key}: missing or not a number")
                )
            row.mos[key] = value
            if (std := _number(record.get(f"std_{key}"))) is not None:
                row.std[key] = std
        role = (record.get("role") or "normal").strip()
        if role not in ROLES[:2]:
            problems.append(
                ImportProblem(number, row.image, f"role {role!r} is not normal or gold")
            )
        expected = {k: v for k in keys if (v := _number(record.get(f"expected_{k}"))) is not None}
        row.stimulus_fields.update(role=role, expected_scores=expected)
        return row

    def _anchor(self, record: dict, number: int, keys: list[str], problems: list) -> RawRow:
        """A training or gold image without a MOS: it joins the study, not the release."""
        row = self._common(record, number)
        role = (record.get("role") or "").strip()
        if role not in ROLES[1:]:
            problems.append(
                ImportProblem(number, row.image, f"role {role!r} is not training or gold")
            )
        expected = {k: v for k in keys if (v := _number(record.get(f"expected_{k}"))) is not None}
        row.stimulus_fields.update(
            role=role, expected_scores=expected, explanation=record.get("explanation") or ""
        )
        return row


# choices.csv of a pairwise package: the columns of the site's choices export.
CHOICE_FIELDS = ("subject", "group", "left", "right", "choice", "side", "time", "dimension")
CHOICE_FLAGS = ("trial", "too_fast", "repeat")


def _choice_problem(number: int, record: dict, ids: set[str], keys: list[str]) -> str:
    for side in ("left", "right"):
        if record[side] not in ids:
            return f"{side} names stimulus {record[side]!r}, which is not in scores.csv"
    if record["choice"] not in ("left", "right", "none"):
        return f"choice {record['choice']!r} is not left, right or none"
    if record["side"] not in ("left", "right"):
        return f"side {record['side']!r} is not left or right"
    if record["dimension"] not in keys:
        return f"dimension {record['dimension']!r} is not one of {', '.join(keys)}"
    if not record["subject"].strip():
        return "subject is empty"
    if record["time"] not in ("", None) and _number(record["time"]) is None:
        return f"time {record['time']!r} is not a number"
    if any(not (record[c] or "0").isdigit() for c in CHOICE_FLAGS):
        return "trial, too_fast and repeat must be whole numbers"
    return ""


def pairwise_choices_read(path: Path, *, ids: set[str], keys: list[str]) -> list[dict]:
    """The package's choices, every row checked; the first bad one rejects the import."""
    if not path.is_file():
        raise _problem("choices.csv", "not found: a pairwise package holds its choices")
    records = _records(path)
    header = set(records[0]) if records else set()
    missing = [c for c in (*CHOICE_FIELDS, *CHOICE_FLAGS) if c not in header]
    if missing:
        raise _problem("choices.csv", f"lacks column(s) {', '.join(missing)}")
    for number, record in enumerate(records, start=1):
        if problem := _choice_problem(number, record, ids, keys):
            raise ImportRejected([ImportProblem(number, "choices.csv", problem)])
    return records


def _dimension_specs(study: dict) -> tuple[DimensionSpec, ...]:
    specs = tuple(
        DimensionSpec(
            d["key"],
            d.get("label") or d["key"],
            d.get("question") or "",
            d.get("anchor_text") or "",
        )
        for d in study.get("dimensions", [])
    )
    if not specs:
        raise _problem("release.json", "the package names no dimensions (study.dimensions)")
    return specs


def _pairwise_study_fields(study: dict) -> dict:
    """A pairwise package's design fields for the imported study (those it states)."""
    design = study.get("pairwise") or {}
    fields = {
        "pairwise_design": design.get("design") or "",
        "pairwise_grouping": design.get("grouping") or "",
        "pairwise_group_column": design.get("group_column") or "",
        "pairwise_no_preference": bool(design.get("no_preference")),
    }
    return {key: value for key, value in fields.items() if value != ""}
