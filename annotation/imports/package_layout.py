"""The platform's own dataset package as an external-database layout: the round trip.

A package (``services.release_package``) holds mos.csv (rated images with role, settings
and MOS), anchors.csv (training and gold images without a MOS, with expected scores),
release.json (dimensions and scale) and images/ and prompt_images/. Importing it makes a closed study whose release has
the same MOS, whose stimuli have the same images (same sha256) and roles.
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
        "A dataset package exported by this site (unzipped folder or zip): mos.csv, "
        "anchors.csv, release.json, images/ and prompt_images/."
    )
    # A package of an imported database may hold byte-identical files under different
    # names (see ExternalLayout.allow_duplicates): the round trip keeps them.
    allow_duplicates = True
    # The package's own release.json names them; see PackageTable.
    dimensions: tuple[DimensionSpec, ...] = ()
    scale: tuple[float, float] = (0.0, 100.0)

    def label_file(self, source: Path) -> Path:
        label = source if source.is_file() else source / "mos.csv"
        if not label.is_file() and (source / "choices.csv").is_file():
            # Its study would need subjects, sessions and choices, which this import does
            # not recreate yet: refused before anything is read or stored.
            raise _problem(
                source.name,
                "this is a pairwise dataset package (scores.csv, choices.csv); importing "
                "pairwise packages is not available yet",
            )
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
        keys = [d.key for d in specs]
        problems: list[ImportProblem] = []
        rows = [self._rated(r, n, keys, problems) for n, r in enumerate(_records(label), start=1)]
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
            },
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
