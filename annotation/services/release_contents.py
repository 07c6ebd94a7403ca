"""What a dataset package holds, read from the release's stored files before the zip opens.

The rated images come in the frozen mos.csv's order; the anchors are the training and gold
images without a MOS. Each image is named inside the package by its content.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from annotation.models import LabelRelease, Stimulus

STIMULUS_FIELDS = (
    "id",
    "image",
    "reference_image",
    "sha256",
    "original_name",
    "generator",
    "prompt",
    "prompt_group",
    "metadata",
    "role",
    "expected_scores",
    "explanation",
)


@dataclass(frozen=True)
class PackedStimulus:
    pk: int
    name: str  # inside images/
    image: str  # stored name
    reference: str  # stored name, or ""
    sha256: str
    original_name: str
    generator: str
    prompt: str
    prompt_group: str
    settings: dict
    role: str
    expected: dict
    explanation: str

    @property
    def prompt_image(self) -> str:
        return f"prompt_images/{PurePosixPath(self.reference).name}" if self.reference else ""


@dataclass
class PackageContents:
    """What the release holds, read before the zip is opened."""

    keys: list[str]
    stored_rows: list[dict]  # the frozen mos.csv
    stimuli: dict[int, PackedStimulus]
    rated: list[PackedStimulus]  # in mos.csv order
    anchors: list[PackedStimulus]  # training and gold images without a MOS

    @property
    def has_reference(self) -> bool:
        return any(s.reference for s in self.rated)


def stored_csv_rows(name: str) -> Iterator[dict]:
    """The rows of a CSV in storage, read as it streams."""
    with default_storage.open(name, "rb") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        yield from csv.DictReader(text)


def _content_name(row: dict, names: set[str]) -> str:
    """Named by content: stable across packages; the full hash if a prefix is shared."""
    suffix = PurePosixPath(row["image"]).suffix.lower()
    name = f"{row['sha256'][:16]}{suffix}"
    if name in names:
        name = f"{row['sha256']}-{row['id']}{suffix}"
    names.add(name)
    return name


def _packed(row: dict, name: str) -> PackedStimulus:
    meta, expected = row["metadata"], row["expected_scores"]
    return PackedStimulus(
        pk=row["id"],
        name=name,
        image=row["image"],
        reference=row["reference_image"] or "",
        sha256=row["sha256"],
        original_name=row["original_name"],
        generator=row["generator"],
        prompt=row["prompt"],
        prompt_group=row["prompt_group"],
        settings=meta if isinstance(meta, dict) else {},
        role=row["role"],
        expected=expected if isinstance(expected, dict) else {},
        explanation=row["explanation"],
    )


# Attention-check (trap) images state the answer to give: they are no quality stimuli.
ANCHOR_ROLES = (Stimulus.Role.TRAINING, Stimulus.Role.GOLD)


def packed_stimuli(*, release: LabelRelease, ids: list[int]) -> dict[int, PackedStimulus]:
    """The study's stimuli in the package: those rated in the release, and every anchor."""
    wanted = set(ids)
    found: dict[int, PackedStimulus] = {}
    names: set[str] = set()
    rows = Stimulus.objects.filter(study_id=release.study_id).values(*STIMULUS_FIELDS)
    for row in rows.iterator(chunk_size=2000):
        if row["id"] not in wanted and row["role"] not in ANCHOR_ROLES:
            continue
        found[row["id"]] = _packed(row, _content_name(row, names))
    return found


def contents_read(release: LabelRelease) -> PackageContents:
    keys = list(release.method_config.get("dimensions") or [])
    if not keys:
        raise ValidationError("The release names no dimensions; it cannot be packaged.")
    stored_rows = list(stored_csv_rows(release.mos_file.name))
    # A pairwise scores.csv has one row per (dimension, group): each image is packed once.
    ids = list(dict.fromkeys(int(row["stimulus_id"]) for row in stored_rows))
    stimuli = packed_stimuli(release=release, ids=ids)
    missing = [pk for pk in ids if pk not in stimuli]
    if missing:
        raise ValidationError(f"Stimuli {missing[:5]} of the release are gone from the study.")
    in_mos = set(ids)
    # Training images never have a MOS; gold ones have none when the analysis left them out.
    anchors = [s for s in stimuli.values() if s.role in ANCHOR_ROLES and s.pk not in in_mos]
    return PackageContents(keys, stored_rows, stimuli, [stimuli[pk] for pk in ids], anchors)
