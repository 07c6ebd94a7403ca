"""Dataset package of a frozen release: one zip a colleague loads with pandas and PIL alone.

The package holds the images (``images/``, ``prompt_images/`` for image-to-image) under
names derived from their content, ``mos.csv`` with relative paths and the columns of the
published databases, ``ratings.csv`` and ``subjects.csv`` under random pseudonyms,
``anchors.csv`` (training and gold images without a MOS), the datasheet ``README.md`` with its figures,
``croissant.json``, a sanitised ``release.json`` and ``SHA256SUMS``. It is built from the
release's stored files (never from live ratings), by a Celery task that reports progress
on the release row; every file is copied into the zip in chunks, so a 20,000-image
package is never in memory, and the archive's sha256 is recorded on the release.

Privacy: subject labels become pseudonyms made at random for each package (stable
within it); session ids, rating ids and timestamps are dropped; demographic fields leave
the server only when the researcher ticks them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import mimetypes
import secrets
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.models import LabelRelease, RatingSession, Stimulus, Study, Subject
from annotation.services.release_croissant import CsvDescription, column_type, croissant_document
from annotation.services.release_datasheet import (
    DatasheetFacts,
    datasheet_markdown,
    histogram_build,
    histogram_png,
    histogram_svg,
)
from annotation.services.release_formats import (
    RAW_COLUMN_DOCS,
    RAW_COLUMNS,
    StagedFile,
    columns_documented,
    csv_bytes,
    release_sidecar,
    staging_dir,
)
from common.progress import Progress, progress_fraction, progress_noop, progress_scaled

log = logging.getLogger(__name__)

PACKAGE_FILE = "dataset.zip"
CHUNK = 1 << 20
RATING_ROWS_PER_WRITE = 5000
# ratings.csv: the release's raw columns less those that identify a person or a moment
# (rating_id, session, created_at); subject holds the package's pseudonym.
IDENTIFYING_COLUMNS = ("rating_id", "session", "created_at")
RATING_COLUMNS = tuple(column for column in RAW_COLUMNS if column not in IDENTIFYING_COLUMNS)
PACKAGE_COLUMN_DOCS = {
    "name": "file name of the image inside images/",
    "image": "the image, relative to the package folder",
    "prompt_image": "prompt image for image-to-image, relative to the package folder; empty "
    "for text-to-image",
    "sha256": "sha256 of the image file",
    "settings": "generation settings of the image (JSON object: steps, cfg, seed, ...)",
    "role": "normal, or gold (an image with a known answer, rated like the others)",
    "n": "number of ratings behind mos",
    "expected_<key>": "known answer of a gold or training image on dimension <key>",
    "explanation": "why a training image deserves its expected scores (shown to subjects)",
    "subject": "random pseudonym made for this package (not the site's label)",
    "ratings": "number of this subject's ratings in ratings.csv",
    "rejected": "1 when screening rejected the subject on at least one dimension",
    "rejected_on": "dimensions on which the subject was rejected (;-separated)",
    "reasons": "why (screening method and its numbers)",
}


# --- requests and jobs ---------------------------------------------------------------------


def demographic_fields(*, release: LabelRelease) -> list[str]:
    """Demographic field names the study's subjects have: what the researcher may tick."""
    fields: set[str] = set()
    for demographics in Subject.objects.filter(study_id=release.study_id).values_list(
        "demographics", flat=True
    ):
        if isinstance(demographics, dict):
            fields.update(str(key) for key in demographics)
    return sorted(fields)


def release_package_request(
    *,
    release: LabelRelease,
    licence: str = "",
    citation: str = "",
    demographics: Iterable[str] = (),
    inline: bool = False,
) -> LabelRelease:
    """Record the licence, citation and chosen demographics, then build the package on a
    worker (``inline``: now, in this process). Refused while a build is under way."""
    chosen = sorted({str(field).strip() for field in demographics if str(field).strip()})
    unknown = sorted(set(chosen) - set(demographic_fields(release=release)))
    if unknown:
        raise ValidationError(f"No subject has the demographic field(s) {', '.join(unknown)}.")
    with transaction.atomic():
        locked = LabelRelease.objects.select_for_update().get(pk=release.pk)
        busy = (LabelRelease.PackageStatus.PENDING, LabelRelease.PackageStatus.RUNNING)
        if locked.package_status in busy:
            raise ValidationError(
                f"Release v{release.version} is already being packaged; wait until its package is "
                "ready (the releases page shows its progress)."
            )
        locked.licence, locked.citation = licence.strip()[:200], citation.strip()
        locked.package_options = {"demographics": chosen}
        locked.package_status = LabelRelease.PackageStatus.PENDING
        locked.package_step, locked.package_progress, locked.package_error = "queued", 0.0, ""
        locked.save(
            update_fields=[
                "licence",
                "citation",
                "package_options",
                "package_status",
                "package_step",
                "package_progress",
                "package_error",
            ]
        )
        if not inline:
            from annotation.tasks import release_package_task

            transaction.on_commit(lambda: release_package_task.delay(locked.pk))
    if inline:
        return release_package_execute(release=locked)
    return locked


class _ReleaseProgress:
    """Writes the step and fraction to the release row at most twice a second."""

    def __init__(self, release: LabelRelease) -> None:
        self.release = release
        self.last = ("", -1.0)

    def __call__(self, step: str, done: float, total: float) -> None:
        fraction = round(progress_fraction(done, total), 3)
        if step != self.last[0] or fraction - self.last[1] >= 0.01:
            self.last = (step, fraction)
            LabelRelease.objects.filter(pk=self.release.pk).update(
                package_step=step, package_progress=fraction
            )


def release_package_execute(*, release: LabelRelease) -> LabelRelease:
    """Build the package; a failure is recorded on the release, never raised."""
    if release.package_status == LabelRelease.PackageStatus.DONE:
        return release  # a redelivered task after the work was saved
    LabelRelease.objects.filter(pk=release.pk).update(
        package_status=LabelRelease.PackageStatus.RUNNING
    )
    try:
        release_package_build(release=release, progress=_ReleaseProgress(release))
    except ValidationError as exc:
        error = "; ".join(exc.messages)
    except Exception as exc:  # shown on the releases page instead of lost in a worker log
        log.exception("packaging release %s crashed", release.pk)
        error = f"Packaging crashed: {exc!r}"
    else:
        error = ""
    if error:
        LabelRelease.objects.filter(pk=release.pk).update(
            package_status=LabelRelease.PackageStatus.FAILED, package_error=error
        )
    release.refresh_from_db()
    return release


# --- the zip writer ------------------------------------------------------------------------


class PackageZip:
    """A zip under one top folder whose every entry is written in chunks and hashed."""

    def __init__(self, path: Path, *, top: str, date_time: tuple) -> None:
        self.zip = zipfile.ZipFile(path, "w", allowZip64=True)
        self.top = top
        self.date_time = date_time
        self.checksums: dict[str, str] = {}

    def write_chunks(self, name: str, chunks: Iterable[bytes], *, compress: bool = True) -> str:
        info = zipfile.ZipInfo(f"{self.top}/{name}", date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        digest = hashlib.sha256()
        # force_zip64: an entry's size is unknown until it is written (a large ratings file).
        with self.zip.open(info, "w", force_zip64=True) as entry:
            for chunk in chunks:
                digest.update(chunk)
                entry.write(chunk)
        self.checksums[name] = digest.hexdigest()
        return self.checksums[name]

    def write_bytes(self, name: str, data: bytes, *, compress: bool = True) -> str:
        return self.write_chunks(name, [data], compress=compress)

    def copy_stored(self, name: str, stored: str) -> str:
        """A file from storage, in 1 MiB chunks; images are already compressed."""
        with default_storage.open(stored, "rb") as handle:
            return self.write_chunks(name, iter(lambda: handle.read(CHUNK), b""), compress=False)

    def close(self) -> None:
        self.zip.close()


def _csv_line(values: Iterable) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(list(values))
    return buffer.getvalue().encode("utf-8")


def _stored_csv(name: str) -> Iterator[dict]:
    with default_storage.open(name, "rb") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        yield from csv.DictReader(text)


# --- what goes in --------------------------------------------------------------------------


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


def _stimuli(*, release: LabelRelease, ids: list[int]) -> dict[int, PackedStimulus]:
    wanted = set(ids)
    found = {}
    names: set[str] = set()
    rows = Stimulus.objects.filter(study_id=release.study_id).values_list(
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
    for (
        pk,
        image,
        reference,
        sha,
        original,
        gen,
        prompt,
        group,
        meta,
        role,
        exp,
        why,
    ) in rows.iterator(chunk_size=2000):
        if pk not in wanted and role == Stimulus.Role.NORMAL:
            continue
        suffix = PurePosixPath(image).suffix.lower()
        # Named by content: stable across packages; the full hash if a prefix is shared.
        name = f"{sha[:16]}{suffix}"
        if name in names:
            name = f"{sha}-{pk}{suffix}"
        names.add(name)
        found[pk] = PackedStimulus(
            pk=pk,
            name=name,
            image=image,
            reference=reference or "",
            sha256=sha,
            original_name=original,
            generator=gen,
            prompt=prompt,
            prompt_group=group,
            settings=meta if isinstance(meta, dict) else {},
            role=role,
            expected=exp if isinstance(exp, dict) else {},
            explanation=why,
        )
    return found


def _pseudonyms() -> Iterator[str]:
    """Random, unique within one package; never derived from the label (no way back)."""
    used: set[str] = set()
    while True:
        candidate = f"S{secrets.token_hex(5)}"
        if candidate not in used:
            used.add(candidate)
            yield candidate


def _mos_columns(stored: list[str], keys: list[str], *, has_reference: bool, has_gold: bool):
    scores = [c for c in stored if c.startswith(("mos_", "std_", "ci95_", "n_"))]
    return [
        "name",
        "image",
        *(["prompt_image"] if has_reference else []),
        "stimulus_id",
        "sha256",
        "original_name",
        "generator",
        "prompt",
        "prompt_group",
        "settings",
        "role",
        "mos",
        *scores,
        *(["n"] if f"n_{keys[0]}" in stored else []),
        *([f"expected_{k}" for k in keys] if has_gold else []),
    ]


def _mos_value(column: str, row: dict, stimulus: PackedStimulus, keys: list[str]):
    if column == "name":
        return stimulus.name
    if column == "image":
        return f"images/{stimulus.name}"
    if column == "prompt_image":
        return stimulus.prompt_image
    if column == "settings":
        return json.dumps(stimulus.settings, sort_keys=True) if stimulus.settings else "{}"
    if column in ("sha256", "original_name", "generator", "prompt", "prompt_group", "role"):
        return getattr(stimulus, column)
    if column == "n":
        return row.get(f"n_{keys[0]}", "")
    if column.startswith("expected_"):
        value = stimulus.expected.get(column.removeprefix("expected_"))
        return "" if value is None else value
    return row.get(column, "")


def _described(columns: list[str], *, keys: list[str]) -> dict[str, tuple[str, str]]:
    docs = columns_documented(columns)
    out = {}
    for column in columns:
        prefix, _, key = column.partition("_")
        meaning = PACKAGE_COLUMN_DOCS.get(column) or (
            PACKAGE_COLUMN_DOCS.get(f"{prefix}_<key>", "").replace("<key>", key)
            if key in keys
            else ""
        )
        out[column] = (column_type(column), meaning or RAW_COLUMN_DOCS.get(column) or docs[column])
    return out


# --- the build -----------------------------------------------------------------------------


@dataclass
class _Contents:
    """What the release holds, read before the zip is opened."""

    keys: list[str]
    stored_rows: list[dict]  # the frozen mos.csv
    stimuli: dict[int, PackedStimulus]
    rated: list[PackedStimulus]  # in mos.csv order
    anchors: list[PackedStimulus]  # training and gold images without a MOS

    @property
    def has_reference(self) -> bool:
        return any(s.reference for s in self.rated)


def _contents_read(release: LabelRelease) -> _Contents:
    keys = list(release.method_config.get("dimensions") or [])
    if not keys:
        raise ValidationError("The release names no dimensions; it cannot be packaged.")
    stored_rows = list(_stored_csv(release.mos_file.name))
    ids = [int(row["stimulus_id"]) for row in stored_rows]
    stimuli = _stimuli(release=release, ids=ids)
    missing = [pk for pk in ids if pk not in stimuli]
    if missing:
        raise ValidationError(f"Stimuli {missing[:5]} of the release are gone from the study.")
    in_mos = set(ids)
    # Training images never have a MOS; gold ones have none when the analysis left them out.
    anchors = [s for s in stimuli.values() if s.role != Stimulus.Role.NORMAL and s.pk not in in_mos]
    return _Contents(keys, stored_rows, stimuli, [stimuli[pk] for pk in ids], anchors)


class _PackageBuild:
    """Writes the package's parts in order; remembers what each file holds for the README,
    release.json and croissant.json, which come last."""

    def __init__(self, *, release: LabelRelease, contents: _Contents, package: PackageZip):
        self.release, self.contents, self.package = release, contents, package
        self.files: list[tuple[str, str]] = []  # (name, what it holds) for the README
        self.described: list[CsvDescription] = []  # for croissant.json and release.json
        self.pseudonym_of: dict[str, str] = {}
        self.figures: list[tuple[str, str]] = []

    def _csv(self, name: str, header: list[str], rows, *, what: str, docs: dict) -> None:
        self.package.write_bytes(name, csv_bytes(rows, header))
        self.files.append((name, what))
        self.described.append(CsvDescription(name, self.package.checksums[name], what, docs))

    def images(self, progress: Progress) -> None:
        everything = [*self.contents.rated, *self.contents.anchors]
        references: set[str] = set()
        for index, stimulus in enumerate(everything, start=1):
            self.package.copy_stored(f"images/{stimulus.name}", stimulus.image)
            if stimulus.reference and stimulus.prompt_image not in references:
                references.add(stimulus.prompt_image)
                self.package.copy_stored(stimulus.prompt_image, stimulus.reference)
            progress("copying images", index, len(everything))
        self.files.append(("images/", f"{len(everything)} generated images, named by content"))
        if references:
            self.files.append(
                ("prompt_images/", f"{len(references)} prompt images (image-to-image)")
            )

    def mos(self) -> None:
        contents, keys = self.contents, self.contents.keys
        stored = list(contents.stored_rows[0]) if contents.stored_rows else []
        has_gold = any(s.role == Stimulus.Role.GOLD for s in contents.rated)
        columns = _mos_columns(
            stored, keys, has_reference=contents.has_reference, has_gold=has_gold
        )
        rows = (
            [_mos_value(c, row, contents.stimuli[int(row["stimulus_id"])], keys) for c in columns]
            for row in contents.stored_rows
        )
        self._csv(
            "mos.csv",
            columns,
            rows,
            what="one row per rated image: paths, prompt, generator, settings, MOS",
            docs=_described(columns, keys=keys),
        )
        anchors = contents.anchors
        if anchors:
            columns = _anchor_columns(anchors, keys)
            self._csv(
                "anchors.csv",
                columns,
                ([_anchor_value(c, s) for c in columns] for s in anchors),
                what="training and gold images without a MOS, with their expected scores",
                docs=_described(columns, keys=keys),
            )

    def ratings(self) -> None:
        """ratings.csv streamed under pseudonyms, then subjects.csv for the same pseudonyms."""
        if not self.release.raw_file:
            return  # an imported database: no ratings, no subjects
        counts: dict[str, int] = {}
        self.package.write_chunks(
            "ratings.csv", _ratings_chunks(self.release, self.pseudonym_of, counts)
        )
        what = "every rating (no training ratings), pseudonymous subjects"
        self.files.append(("ratings.csv", what))
        self.described.append(
            CsvDescription(
                "ratings.csv",
                self.package.checksums["ratings.csv"],
                what,
                _described(list(RATING_COLUMNS), keys=self.contents.keys),
            )
        )
        columns, rows = _subjects_table(
            release=self.release,
            pseudonym_of=self.pseudonym_of,
            rating_counts=counts,
            demographics=list(self.release.package_options.get("demographics") or []),
        )
        docs = {
            c: (column_type(c), PACKAGE_COLUMN_DOCS.get(c, "demographic field")) for c in columns
        }
        self._csv(
            "subjects.csv",
            columns,
            rows,
            what="one row per subject: pseudonym, screening outcome",
            docs=docs,
        )

    def figures_draw(self) -> None:
        scale = self.release.method_config.get("scale") or {}
        study = self.release.study
        low, high = (
            float(scale.get("min", study.scale_min)),
            float(scale.get("max", study.scale_max)),
        )
        for key in self.contents.keys:
            column = f"mos_{key}"
            values = [float(r[column]) for r in self.contents.stored_rows if r.get(column)]
            hist = histogram_build(
                values,
                low=low,
                high=high,
                title=f"MOS distribution: {key} ({len(values)} images)",
                axis=column,
            )
            self.package.write_bytes(f"figures/{column}.svg", histogram_svg(hist))
            self.package.write_bytes(f"figures/{column}.png", histogram_png(hist), compress=False)
            self.figures.append((key, column))
        self.files.append(("figures/", "MOS histograms per dimension (PNG and SVG)"))

    def metadata(self, reliability: dict) -> None:
        """release.json, README.md, croissant.json and, last, SHA256SUMS of all the others."""
        release, contents, package = self.release, self.contents, self.package
        self.files += [
            ("release.json", "method configuration, counts and column meanings"),
            ("croissant.json", "MLCommons Croissant 1.0 metadata"),
            ("SHA256SUMS", "sha256 of every other file"),
        ]
        sidecar = _package_sidecar(
            release=release,
            pseudonym_of=self.pseudonym_of,
            files=package.checksums,
            described=self.described,
        )
        package.write_bytes("release.json", _json_bytes(sidecar, sort_keys=True))
        facts = _datasheet_facts(
            release=release,
            rated=contents.rated,
            anchors=contents.anchors,
            keys=contents.keys,
            demographics=list(release.package_options.get("demographics") or []),
            reliability=reliability,
            figures=self.figures,
            files=self.files,
        )
        package.write_bytes("README.md", datasheet_markdown(facts).encode("utf-8"))
        study = release.study
        croissant = croissant_document(
            name=f"{study.slug}-v{release.version}",
            description=f"{study.name}: human quality ratings (MOS) of AI-generated images.",
            version=release.version,
            licence=release.licence,
            citation=release.citation,
            date_published=release.created_at.date().isoformat(),
            csv_files=self.described,
            image_folders=_image_folders(contents.rated, contents.anchors, contents.has_reference),
        )
        package.write_bytes("croissant.json", _json_bytes(croissant))
        sums = "".join(f"{sha}  {name}\n" for name, sha in sorted(package.checksums.items()))
        package.write_bytes("SHA256SUMS", sums.encode())


def _json_bytes(data: dict, *, sort_keys: bool = False) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=sort_keys) + "\n").encode("utf-8")


def release_package_build(*, release: LabelRelease, progress: Progress = progress_noop) -> None:
    """Write the package zip into the release folder and record its sha256 and size."""
    progress("reading the release", 0, 1)
    contents = _contents_read(release)
    reliability = _reliability(
        release=release, progress=progress_scaled(progress, start=0, end=0.1)
    )
    staged = staging_dir() / f"package-{uuid.uuid4().hex}.zip"
    top = f"{release.study.slug}-v{release.version}"
    package = PackageZip(staged, top=top, date_time=release.created_at.timetuple()[:6])
    try:
        build = _PackageBuild(release=release, contents=contents, package=package)
        build.images(progress_scaled(progress, start=0.1, end=0.75))
        build.mos()
        progress("pseudonymising ratings", 0.75, 1.0)
        build.ratings()
        progress("datasheet", 0.95, 1.0)
        build.figures_draw()
        build.metadata(reliability)
        package.close()
        progress("recording", 0.99, 1.0)
        _package_store(release=release, staged=staged)
    finally:
        package.close()
        staged.unlink(missing_ok=True)
    progress("done", 1.0, 1.0)


def _anchor_columns(anchors: list[PackedStimulus], keys: list[str]) -> list[str]:
    return [
        "name",
        "image",
        *(["prompt_image"] if any(s.reference for s in anchors) else []),
        "stimulus_id",
        "sha256",
        "role",
        "generator",
        "prompt",
        "prompt_group",
        "settings",
        "explanation",
        *(f"expected_{k}" for k in keys),
    ]


def _anchor_value(column: str, stimulus: PackedStimulus):
    if column == "stimulus_id":
        return stimulus.pk
    if column == "explanation":
        return stimulus.explanation
    return _mos_value(column, {}, stimulus, [])


def _image_folders(rated, anchors, has_reference: bool) -> dict[str, str]:
    types = {mimetypes.guess_type(s.name)[0] or "image/jpeg" for s in [*rated, *anchors]}
    folders = {"images": sorted(types)[0] if len(types) == 1 else "image/*"}
    if has_reference:
        folders["prompt_images"] = "image/*"
    return folders


def _ratings_chunks(
    release: LabelRelease, pseudonym_of: dict[str, str], rating_counts: dict[str, int]
) -> Iterator[bytes]:
    """The stored raw CSV, row by row, under pseudonyms and without identifying columns."""
    names = _pseudonyms()
    yield _csv_line(RATING_COLUMNS)
    with default_storage.open(release.raw_file.name, "rb") as handle:
        reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
        header = next(reader, [])
        missing = [c for c in RATING_COLUMNS if c not in header]
        if missing:
            raise ValidationError(f"The release's raw CSV lacks column(s) {', '.join(missing)}.")
        positions = [header.index(c) for c in RATING_COLUMNS]
        subject_at = RATING_COLUMNS.index("subject")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for count, row in enumerate(reader, start=1):
            values = [row[i] for i in positions]
            label = values[subject_at]
            if label not in pseudonym_of:
                pseudonym_of[label] = next(names)
            values[subject_at] = subject = pseudonym_of[label]
            rating_counts[subject] = rating_counts.get(subject, 0) + 1
            writer.writerow(values)
            if count % RATING_ROWS_PER_WRITE == 0:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")


def _subjects_table(
    *,
    release: LabelRelease,
    pseudonym_of: dict[str, str],
    rating_counts: dict[str, int],
    demographics: list[str],
) -> tuple[list[str], list[list]]:
    rejected: dict[str, dict[str, list]] = {}
    for rejection in release.method_config.get("rejections", []):
        entry = rejected.setdefault(rejection["subject"], {"on": [], "reasons": []})
        entry["on"].append(str(rejection["dimension"]))
        entry["reasons"].append(str(rejection.get("reasons", "")))
    given = dict(
        Subject.objects.filter(study_id=release.study_id, label__in=list(pseudonym_of)).values_list(
            "label", "demographics"
        )
    )
    columns = ["subject", "ratings", "rejected", "rejected_on", "reasons", *demographics]
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
    return columns, rows


def _package_sidecar(
    *,
    release: LabelRelease,
    pseudonym_of: dict[str, str],
    files: dict[str, str],
    described: list[CsvDescription],
) -> dict:
    """release.json as the package ships it: no user names, rejections under pseudonyms."""
    sidecar = release_sidecar(release=release)
    sidecar["release"].pop("created_by", None)
    config = dict(sidecar["method_config"])
    config["rejections"] = [
        {**r, "subject": pseudonym_of.get(r["subject"], "")} for r in config.get("rejections", [])
    ]
    sidecar["method_config"] = config
    sidecar["files"] = {name: {"name": name, "sha256": sha} for name, sha in sorted(files.items())}
    sidecar["columns"] = {
        csv_file.name.removesuffix(".csv"): {c: m for c, (_, m) in csv_file.columns.items()}
        for csv_file in described
    }
    sidecar["licence"], sidecar["citation"] = release.licence, release.citation
    # What the import of this package (annotation.imports.package_layout) recreates.
    study = release.study
    sidecar["study"]["scale"] = {
        "type": study.scale_type,
        "min": study.scale_min,
        "max": study.scale_max,
        "step": study.scale_step,
        "labels": study.scale_labels,
    }
    sidecar["study"]["dimensions"] = [
        {"key": d.key, "label": d.label, "question": d.question, "anchor_text": d.anchor_text}
        for d in study.dimensions.order_by("order", "id")
        if d.key in config.get("dimensions", [])
    ]
    return sidecar


def _reliability(*, release: LabelRelease, progress: Progress) -> dict:
    """Reliability of the release's ratings (split-half, ICC, alpha): recorded by the freeze;
    for a release frozen before that, the analysis re-run on the stored raw CSV with the
    release's options (which reproduces its MOS)."""
    if "reliability" in release.method_config:  # frozen with it (every release since issue 20)
        return release.method_config["reliability"]
    options = release.method_config.get("options")
    if not release.raw_file or not options:
        return {}
    from analysis.io import load_ratings
    from annotation.services.analysis_digest import reliability_table
    from annotation.services.analysis_options import pipeline_run

    progress("reliability", 0, 1)
    try:
        frame = load_ratings(default_storage.path(release.raw_file.name))
        result = pipeline_run(study=release.study, options=options, snapshot_frame=frame)
    except (NotImplementedError, ValidationError) as exc:
        log.warning("no reliability for release %s: %s", release.pk, exc)
        return {}
    progress("reliability", 1, 1)
    return reliability_table(result)


def _datasheet_facts(
    *, release, rated, anchors, keys, demographics, reliability, figures, files
) -> DatasheetFacts:
    study = release.study
    generators: dict[str, int] = {}
    for stimulus in rated:
        generators[stimulus.generator or "(unknown)"] = (
            generators.get(stimulus.generator or "(unknown)", 0) + 1
        )
    settings_keys = sorted({k for s in rated for k in s.settings})
    dimensions = [
        {"key": d.key, "label": d.label, "question": d.question, "anchor_text": d.anchor_text}
        for d in study.dimensions.order_by("order", "id")
        if d.key in keys
    ]
    scale = {
        "type": study.get_scale_type_display(),
        "min": study.scale_min,
        "max": study.scale_max,
        "step": study.scale_step,
        "labels": study.scale_labels,
    }
    return DatasheetFacts(
        title=study.name,
        slug=study.slug,
        version=release.version,
        description=study.description,
        licence=release.licence,
        citation=release.citation,
        created_at=release.created_at.date().isoformat(),
        scale=scale,
        dimensions=dimensions,
        generators=generators,
        settings_keys=settings_keys,
        prompts=len({s.prompt for s in rated}),
        prompt_groups=len({s.prompt_group for s in rated}),
        stimuli=len(rated),
        image_to_image=sum(1 for s in rated if s.reference),
        training=sum(1 for s in anchors if s.role == Stimulus.Role.TRAINING),
        gold=sum(1 for s in [*rated, *anchors] if s.role == Stimulus.Role.GOLD),
        session_size=study.session_size,
        break_interval=study.break_interval,
        repeats_per_session=study.repeats_per_session,
        gold_per_session=study.gold_per_session,
        target_ratings=study.target_ratings_per_stimulus,
        instructions=study.instructions,
        counts=release.counts,
        options=release.method_config.get("options") or {},
        methods=list(release.method_config.get("methods") or []),
        demographics=demographics,
        reliability=reliability,
        figures=figures,
        files=files,
        display=_display_conditions(study),
    )


def _display_conditions(study: Study) -> list[str]:
    """What the sessions' display checks recorded, summarised without any one subject."""
    checks = [
        check
        for check in RatingSession.objects.filter(subject__study=study).values_list(
            "display_check", flat=True
        )
        if check
    ]
    if not checks:
        return []
    by_area = sorted(checks, key=lambda check: check["window_width"] * check["window_height"])
    windows = [f"{check['window_width']}x{check['window_height']}" for check in by_area]
    ratios = sorted({float(c["device_pixel_ratio"]) for c in checks})
    fullscreen = sum(1 for c in checks if c.get("fullscreen"))
    return [
        f"{len(checks)} sessions checked",
        f"window sizes {windows[0]} to {windows[-1]} CSS px",
        "device pixel ratios " + ", ".join(f"{ratio:g}" for ratio in ratios),
        f"{fullscreen} of {len(checks)} in full screen",
        "every subject confirmed the grey steps were distinguishable",
        f"surround grey level {study.surround_grey} of 255",
    ]


def _package_store(*, release: LabelRelease, staged: Path) -> None:
    """Move the zip into the release folder (replacing an earlier package) and record it."""
    digest = hashlib.sha256()
    with staged.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    size = staged.stat().st_size
    old = release.package_file.name if release.package_file else ""
    if old:
        default_storage.delete(old)
    name = f"{Path(release.mos_file.name).parent.as_posix()}/{PACKAGE_FILE}"
    default_storage.delete(name)  # a file left by a crashed build
    with StagedFile(staged.open("rb"), name=str(staged)) as handle:
        stored = default_storage.save(name, handle)
    LabelRelease.objects.filter(pk=release.pk).update(
        package_file=stored,
        package_sha256=digest.hexdigest(),
        package_size=size,
        package_status=LabelRelease.PackageStatus.DONE,
        package_step="done",
        package_progress=1.0,
        package_error="",
        packaged_at=timezone.now(),
    )
