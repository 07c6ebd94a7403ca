"""The files of a label release: raw ratings CSV, MOS CSV and the release.json sidecar,
and the columns of its dataset package's CSVs.

Formats only (columns, their docs, file names, the folder); :mod:`annotation.services.releases`
decides when they are written (once, by ``release_write``, for a freeze and for an external
import alike), :mod:`annotation.services.release_package` when a package is built. The
column texts here are what the sidecar and the README document.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.files import File
from django.core.files.storage import default_storage

from annotation.imports.manifest import ImportRow
from annotation.models import LabelRelease, Stimulus, Study
from annotation.selectors.analysis import CHUNK_SIZE, RatingRows, StudyLookups, study_lookups
from annotation.selectors.ratings import ratings_long_format
from annotation.services.release_croissant import column_type

if TYPE_CHECKING:
    import pandas as pd

    from analysis.pipeline import PipelineResult
    from annotation.services.release_contents import PackedStimulus

RAW_COLUMNS = (
    "rating_id",
    "stimulus",
    "subject",
    "session",
    "dimension",
    "repeat",
    "score",
    "trial_index",
    "is_repeat",
    "response_time_ms",
    "too_fast",
    "role",
    "is_gold",
    "gold_score",
    "generator",
    "created_at",
)
# The analysis library reads stimulus, subject, dimension, repeat, score, session, is_gold,
# gold_score and generator under these names, so `python -m analysis mos raw.csv` with the
# release's options reproduces its MOS.
RAW_COLUMN_DOCS = {
    "rating_id": "id of the rating in this site (ascending in time of storage)",
    "stimulus": "stimulus id (stimulus_id in the MOS CSV)",
    "subject": "subject label (no names are stored)",
    "session": "id of the subject's rating session",
    "dimension": "dimension key",
    "repeat": "0 = first showing, 1 = hidden repeat of the same stimulus",
    "score": "the rating, in the study's scale units",
    "trial_index": "position of the trial in the subject's playlist (0-based)",
    "is_repeat": "1 when this was a repeated showing (same as repeat >= 1)",
    "response_time_ms": "time from the image appearing to the answer, in milliseconds",
    "too_fast": "1 when the answer came faster than the study's too-fast threshold when it "
    "was stored (the per-subject report counts these)",
    "role": "stimulus role when frozen: normal or gold (training ratings are not exported)",
    "is_gold": "1 for a gold stimulus with a known answer on this dimension",
    "gold_score": "the known answer of a gold stimulus; empty otherwise",
    "generator": "model that generated the image",
    "created_at": "when the rating was stored (ISO 8601, UTC, milliseconds)",
}
FILES = {"mos": "mos.csv", "raw": "raw.csv", "sidecar": "release.json"}
# A pairwise study's release keeps its scaled scores where a ratings release keeps its MOS
# (LabelRelease.mos_file, mos_sha256) and its raw choices where one keeps its raw ratings
# (raw_file, raw_sha256), so versions, hashes, downloads and the restore checks are one path.
PAIRWISE_FILES = {"mos": "scores.csv", "raw": "choices.csv", "sidecar": "release.json"}
# The per-stimulus table benchmark retrains read (mos_<key> hold the JOD scores).
TRAINING_MANIFEST = "manifest.csv"
RELEASE_KIND_PAIRWISE = "pairwise"
PACKAGE_FILE = "dataset.zip"

RELEASE_BASE_COLUMNS = (
    "stimulus_id",
    "image",
    "original_name",
    "generator",
    "prompt",
    "prompt_group",
)
# What every column of a release's MOS CSV means (external imports and frozen studies);
# ``<key>`` stands for a dimension key. The release sidecar JSON carries these texts.
RELEASE_COLUMN_DOCS = {
    "stimulus_id": "id of the stimulus in this site (unique)",
    "image": "the stored image, relative to the folder of this CSV",
    "original_name": "the image's file name as imported (or as the database published it)",
    "generator": "model that generated the image",
    "prompt": "text prompt",
    "prompt_group": "id shared by images generated from the same prompt",
    "reference": "prompt image for image-to-image, relative to the folder of this CSV; "
    "empty for text-to-image stimuli",
    "same_file_as": "stimulus_id whose image file this stimulus shares: the database lists "
    "byte-identical files under different names, each with its own scores; empty otherwise",
    "mos": "MOS of the first dimension: the headline score for single-score tools",
    "mos_<key>": "mean opinion score on dimension <key>",
    "std_<key>": "standard deviation of the ratings behind mos_<key> (N-1)",
    "n_<key>": "number of ratings behind mos_<key>",
    "ci95_<key>": "half-width of the confidence interval of mos_<key> (Student t, N-1 degrees "
    "of freedom; the level is method_config.options.confidence, 0.95 by default)",
}


def release_relative_path(*, name: str, release_dir: str) -> str:
    """A stored file's path as seen from a release folder, which the training library reads."""
    return "/".join([".."] * len(Path(release_dir).parts) + [name])


def _float(value) -> object:
    """Full precision (repr round-trips), empty for NaN so CSV readers see a missing value."""
    if value is None:
        return ""
    value = float(value)
    return value if math.isfinite(value) else ""


# --- raw ratings ---------------------------------------------------------------------------


def _raw_formatter(lookups: StudyLookups) -> Callable[[RatingRows], list[tuple]]:
    roles = {pk: facts.role for pk, facts in lookups.stimuli.items()}
    generators = {pk: facts.generator for pk, facts in lookups.stimuli.items()}
    subjects, dimensions = lookups.subjects, lookups.dimensions
    # Known answers of gold stimuli, looked up per row only when the study has any.
    gold = {
        (stim, dim): score
        for stim in lookups.stimuli
        for dim in dimensions
        if (score := lookups.gold_score(stim, dim)) is not None
    }

    def rows(chunk: RatingRows) -> list[tuple]:
        out = []
        for rid, stim, subj, sess, dim, score, is_rep, trial, rt, created, fast in chunk:
            known = gold.get((stim, dim)) if gold else None
            rep = int(is_rep)
            out.append(
                (
                    rid,
                    stim,
                    subjects.get(subj, ""),
                    sess,
                    dimensions.get(dim, ""),
                    rep,
                    score,
                    trial,
                    rep,
                    "" if rt is None else rt,
                    int(fast),
                    roles.get(stim, ""),
                    0 if known is None else 1,
                    "" if known is None else known,
                    generators.get(stim, ""),
                    created,
                )
            )
        return out

    return rows


def csv_bytes(rows: Iterable[Iterable], header: Iterable[str] | None = None) -> bytes:
    """Rows (after ``header`` when given) as UTF-8 CSV with Unix line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


class RawCsvWriter:
    """Appends chunks of ratings to a staged file, hashing the bytes as they are written."""

    def __init__(self, path: Path, lookups: StudyLookups) -> None:
        self.path = path
        self.format = _raw_formatter(lookups)
        self.digest = hashlib.sha256()
        self.handle = path.open("wb")
        self._write(csv_bytes([], RAW_COLUMNS))

    def _write(self, data: bytes) -> None:
        self.digest.update(data)
        self.handle.write(data)

    def __call__(self, chunk: RatingRows) -> None:
        self._write(csv_bytes(self.format(chunk)))

    def close(self) -> str:
        self.handle.close()
        return self.digest.hexdigest()


def ratings_csv_stream(*, study: Study, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The study's current raw ratings as CSV chunks (live, not frozen): for a streaming
    response, so even a 1.26 M-rating study never sits in memory."""
    lookups = study_lookups(study=study)
    fmt = _raw_formatter(lookups)
    yield csv_bytes([], RAW_COLUMNS)
    chunk: RatingRows = []
    for row in ratings_long_format(study=study).iterator(chunk_size=chunk_size):
        chunk.append(row)
        if len(chunk) >= chunk_size:
            yield csv_bytes(fmt(chunk))
            chunk = []
    if chunk:
        yield csv_bytes(fmt(chunk))


def staging_dir() -> Path:
    """Beside the media files when they are local, so the final save is a rename, not a copy."""
    try:
        folder = Path(default_storage.path("releases/.staging"))
    except NotImplementedError:
        folder = Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class StagedFile(File):
    # FileSystemStorage moves a file that has a temporary path instead of copying its bytes.
    def temporary_file_path(self) -> str:
        return self.name


# --- MOS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MosTable:
    columns: list[str]
    rows: list[dict]  # one per stimulus with a MOS on every dimension
    incomplete: list[int]  # stimuli that lost a dimension's every rating to screening


def mos_table_build(*, study: Study, result: PipelineResult, keys: list[str]) -> MosTable:
    table = result.mos.table
    cells: dict[int, dict] = {}
    for rec in table[["stimulus", "dimension", "n", "mos", "std", "ci_t"]].itertuples(index=False):
        cell = cells.setdefault(int(rec.stimulus), {})
        cell[f"mos_{rec.dimension}"] = rec.mos
        cell[f"std_{rec.dimension}"] = rec.std
        cell[f"n_{rec.dimension}"] = int(rec.n)
        cell[f"ci95_{rec.dimension}"] = rec.ci_t
    facts = {
        row[0]: row
        for row in study.stimuli.values_list(
            "id",
            "image",
            "original_name",
            "generator",
            "prompt",
            "prompt_group",
            "reference_image",
            "same_file_as",
        )
    }
    with_reference = any(facts[pk][6] for pk in cells if pk in facts)
    with_same_file = any(facts[pk][7] for pk in cells if pk in facts)
    columns = [
        *RELEASE_BASE_COLUMNS,
        *(["reference"] if with_reference else []),
        *(["same_file_as"] if with_same_file else []),
        "mos",
    ]
    for key in keys:
        columns += [f"mos_{key}", f"std_{key}", f"n_{key}", f"ci95_{key}"]
    rows, incomplete = [], []
    for pk in sorted(cells):
        cell = cells[pk]
        if pk not in facts or any(not math.isfinite(cell.get(f"mos_{k}", math.nan)) for k in keys):
            incomplete.append(pk)
            continue
        _, image, original, generator, prompt, group, reference, same_file = facts[pk]
        rows.append(
            {
                "stimulus_id": pk,
                "image": image,
                "original_name": original,
                "generator": generator,
                "prompt": prompt,
                "prompt_group": group,
                "reference": reference,
                "same_file_as": same_file or "",
                "mos": cell[f"mos_{keys[0]}"],
                **cell,
            }
        )
    return MosTable(columns=columns, rows=rows, incomplete=incomplete)


def mos_table_external(
    *, stimuli: list[Stimulus], rows: list[ImportRow], keys: list[str]
) -> MosTable:
    """The MOS table of a published database: its own MOS (and std where it has them).

    Images it published without a MOS (a withheld validation set) are stimuli of the study
    but not rows of the table: they are listed as incomplete.
    """
    has_std = [k for k in keys if any(row.std.get(k) is not None for row in rows)]
    with_reference = any(stimulus.reference_image for stimulus in stimuli)
    with_same_file = any(stimulus.same_file_as_id for stimulus in stimuli)
    columns = [
        *RELEASE_BASE_COLUMNS,
        *(["reference"] if with_reference else []),
        *(["same_file_as"] if with_same_file else []),
        "mos",
        *(f"mos_{k}" for k in keys),
        *(f"std_{k}" for k in has_std),
    ]
    table, unlabelled = [], []
    for stimulus, row in zip(stimuli, rows, strict=True):
        if any(row.mos.get(k) is None for k in keys):
            unlabelled.append(stimulus.pk)
            continue
        table.append(
            {
                "stimulus_id": stimulus.pk,
                "image": stimulus.image.name,
                "original_name": row.name,
                "generator": stimulus.generator,
                "prompt": stimulus.prompt,
                "prompt_group": stimulus.prompt_group,
                "reference": stimulus.reference_image.name if stimulus.reference_image else "",
                "same_file_as": stimulus.same_file_as_id or "",
                "mos": row.mos[keys[0]],
                **{f"mos_{k}": row.mos[k] for k in keys},
                **{f"std_{k}": row.std.get(k) for k in has_std},
            }
        )
    return MosTable(columns=columns, rows=table, incomplete=unlabelled)


def mos_csv(mos: MosTable, folder: str) -> bytes:
    """The MOS CSV read by benchmark/training: image paths are relative to the CSV's folder."""

    def value(row: dict, column: str):
        if column in ("image", "reference"):
            name = row[column]
            return release_relative_path(name=name, release_dir=folder) if name else ""
        if column.startswith(("mos", "std_", "ci95_")):
            return _float(row.get(column))
        return row.get(column, "")

    return csv_bytes([[value(r, c) for c in mos.columns] for r in mos.rows], tuple(mos.columns))


# --- pairwise scores -----------------------------------------------------------------------

SCORE_COLUMNS = (
    "dimension",
    "group",
    "stimulus_id",
    "name",
    "image",
    "generator",
    "prompt",
    "prompt_group",
    "score",
    "se",
    "ci_low",
    "ci_high",
    "comparisons",
    "wins",
)
SCORE_COLUMN_DOCS = {
    "dimension": "dimension key",
    "group": "comparison group: only stimuli of one group were compared with each other",
    "stimulus_id": "id of the stimulus in this site (left/right in the choices CSV)",
    "name": "the image's file name as imported",
    "image": "the stored image, relative to the folder of this CSV",
    "generator": "model that generated the image",
    "prompt": "text prompt",
    "prompt_group": "id shared by images generated from the same prompt",
    "score": "scaled score in method_config.unit (JOD: a difference of 1 means 75 % of "
    "answers prefer the better stimulus); comparable within a group",
    "se": "standard error of score (bootstrap over subjects; empty without a bootstrap)",
    "ci_low": "lower end of the confidence interval of score (level: "
    "method_config.options.confidence)",
    "ci_high": "upper end of the confidence interval of score",
    "comparisons": "number of scaled answers that showed this stimulus",
    "wins": "answers preferring this stimulus (a 'no preference' counts half)",
}
CHOICE_COLUMN_DOCS = {
    "subject": "subject label (no names are stored)",
    "group": "comparison group the pair was drawn from",
    "left": "stimulus id shown on the left (stimulus_id in the scores CSV)",
    "right": "stimulus id shown on the right",
    "choice": "left, right or none (no preference)",
    "side": "where the pair's first stimulus, as the design served it, was shown",
    "time": "response time in seconds",
    "dimension": "dimension key",
    "trial": "position of the trial in the subject's playlist (0-based)",
    "too_fast": "1 when the answer came faster than the study's too-fast threshold",
    "repeat": "1 for a repeated pair (sides swapped), the subject's consistency check",
}


@dataclass(frozen=True)
class PairwiseScoresTable:
    rows: list[dict]  # one per (dimension, group, stimulus), SCORE_COLUMNS
    keys: list[str]  # dimensions, in the study's order


def pairwise_scores_build(
    *, study: Study, scores: pd.DataFrame, keys: list[str]
) -> PairwiseScoresTable:
    """The pipeline's scores joined to the stimuli's facts, in dimension, group, id order."""
    facts = {
        str(row[0]): row
        for row in study.stimuli.values_list(
            "id", "original_name", "image", "generator", "prompt", "prompt_group"
        )
    }
    order = {key: index for index, key in enumerate(keys)}
    rows = []
    for rec in scores.itertuples(index=False):
        pk, name, image, generator, prompt, group = facts[str(rec.stimulus)]
        rows.append(
            {
                "dimension": rec.dimension,
                "group": rec.group,
                "stimulus_id": pk,
                "name": name,
                "image": image,
                "generator": generator,
                "prompt": prompt,
                "prompt_group": group,
                "score": rec.score,
                "se": rec.se,
                "ci_low": rec.ci_low,
                "ci_high": rec.ci_high,
                "comparisons": int(rec.comparisons),
                "wins": rec.wins,
            }
        )
    rows.sort(key=lambda r: (order.get(r["dimension"], len(order)), r["group"], r["stimulus_id"]))
    return PairwiseScoresTable(rows=rows, keys=keys)


def _score_value(row: dict, column: str, folder: str):
    if column == "image":
        return release_relative_path(name=row["image"], release_dir=folder)
    if column in ("score", "se", "ci_low", "ci_high", "wins"):
        return _float(row[column])
    return row[column]


def pairwise_scores_csv(table: PairwiseScoresTable, folder: str) -> bytes:
    return csv_bytes(
        ([_score_value(r, c, folder) for c in SCORE_COLUMNS] for r in table.rows), SCORE_COLUMNS
    )


def training_manifest_csv(table: PairwiseScoresTable, folder: str) -> bytes:
    """One row per stimulus scored on every dimension, as a MOS CSV: ``mos_<key>`` is its
    score (JOD) on <key> and ``mos`` the first dimension's, so benchmark retrains read a
    pairwise release exactly as a ratings one."""
    cells: dict[int, dict] = {}
    for row in table.rows:
        cell = cells.setdefault(row["stimulus_id"], {"facts": row})
        cell[f"mos_{row['dimension']}"] = row["score"]
    columns = [
        *RELEASE_BASE_COLUMNS,
        "mos",
        *(f"mos_{key}" for key in table.keys),
    ]
    out = []
    for pk in sorted(cells):
        cell, facts = cells[pk], cells[pk]["facts"]
        scores = [cell.get(f"mos_{key}") for key in table.keys]
        if any(s is None or not math.isfinite(float(s)) for s in scores):
            continue
        out.append(
            [
                pk,
                release_relative_path(name=facts["image"], release_dir=folder),
                facts["name"],
                facts["generator"],
                facts["prompt"],
                facts["prompt_group"],
                _float(scores[0]),
                *(_float(s) for s in scores),
            ]
        )
    return csv_bytes(out, columns)


def release_tables(table: MosTable | PairwiseScoresTable, folder: str) -> dict[str, bytes]:
    """The release's table files by name: first the one kept in mos_file (and hashed in
    mos_sha256), then files derived from it (hashed in method_config.derived_files)."""
    if isinstance(table, PairwiseScoresTable):
        return {
            PAIRWISE_FILES["mos"]: pairwise_scores_csv(table, folder),
            TRAINING_MANIFEST: training_manifest_csv(table, folder),
        }
    return {FILES["mos"]: mos_csv(table, folder)}


# --- sidecar ------------------------------------------------------------------------------


def columns_documented(columns: list[str]) -> dict[str, str]:
    docs = {}
    for column in columns:
        prefix, _, key = column.partition("_")
        pattern = f"{prefix}_<key>"
        if column in RELEASE_COLUMN_DOCS:
            docs[column] = RELEASE_COLUMN_DOCS[column]
        elif key and pattern in RELEASE_COLUMN_DOCS:
            docs[column] = RELEASE_COLUMN_DOCS[pattern].replace("<key>", key)
        else:
            docs[column] = "kept from the imported label file"
    return docs


def _header(name: str) -> list[str]:
    with default_storage.open(name, "rb") as handle:
        line = handle.readline().decode("utf-8-sig").strip()
    return next(csv.reader([line])) if line else []


def release_is_pairwise(release: LabelRelease) -> bool:
    return release.method_config.get("kind") == RELEASE_KIND_PAIRWISE


def release_file_labels(release: LabelRelease) -> dict[str, str]:
    """What release.json calls the files in mos_file and raw_file: scores and choices for
    a pairwise release."""
    if release_is_pairwise(release):
        return {"mos": "scores", "raw": "choices"}
    return {"mos": "mos", "raw": "raw"}


def release_sidecar(*, release: LabelRelease) -> dict:
    """Everything needed to trace and check a release, derived from its immutable row."""
    label = release_file_labels(release)
    files = {label["mos"]: {"name": release.mos_file.name, "sha256": release.mos_sha256}}
    if release.raw_file:
        files[label["raw"]] = {"name": release.raw_file.name, "sha256": release.raw_sha256}
    for name, digest in (release.method_config.get("derived_files") or {}).items():
        files[name.removesuffix(".csv")] = {
            "name": f"{release_folder(release)}/{name}",
            "sha256": digest,
        }
    if release_is_pairwise(release):
        columns = {"scores": dict(SCORE_COLUMN_DOCS), "choices": dict(CHOICE_COLUMN_DOCS)}
    else:
        columns = {"mos": columns_documented(_header(release.mos_file.name))}
        if release.raw_file:
            columns["raw"] = dict(RAW_COLUMN_DOCS)
    return {
        "release": {
            "id": release.pk,
            "version": release.version,
            "source": release.source,
            "created_at": release.created_at.isoformat(),
            "created_by": release.created_by.get_username() if release.created_by else None,
        },
        "study": {"id": release.study_id, "slug": release.study.slug, "name": release.study.name},
        "files": files,
        "method_config": release.method_config,
        "counts": release.counts,
        "columns": columns,
    }


def sidecar_bytes(release: LabelRelease) -> bytes:
    text = json.dumps(release_sidecar(release=release), indent=2, sort_keys=True)
    return (text + "\n").encode("utf-8")


# --- storage names ---------------------------------------------------------------------------


def release_folder(release: LabelRelease) -> str:
    """The release's folder in storage, where its MOS CSV and every other file of it lie."""
    return Path(release.mos_file.name).parent.as_posix()


def sidecar_name(*, release: LabelRelease) -> str:
    return f"{release_folder(release)}/{FILES['sidecar']}"


def package_name(*, release: LabelRelease) -> str:
    """Where the release's dataset package (the zip) is stored."""
    return f"{release_folder(release)}/{PACKAGE_FILE}"


# --- dataset package columns ------------------------------------------------------------------

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
    "choices": "number of this subject's choices in choices.csv",
    "rejected": "1 when screening rejected the subject on at least one dimension",
    "rejected_on": "dimensions on which the subject was rejected (;-separated)",
    "reasons": "why (screening method and its numbers)",
}
STIMULUS_TEXT_COLUMNS = ("sha256", "original_name", "generator", "prompt", "prompt_group", "role")


def package_mos_columns(
    stored: list[str], keys: list[str], *, has_reference: bool, has_gold: bool
) -> list[str]:
    """The package's mos.csv: paths and facts of each image, then the frozen scores."""
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


def package_mos_value(column: str, row: dict, stimulus: PackedStimulus, keys: list[str]):
    """One cell of the package's mos.csv (``row``: the frozen mos.csv's row)."""
    if column == "name":
        return stimulus.name
    if column == "image":
        return f"images/{stimulus.name}"
    if column == "prompt_image":
        return stimulus.prompt_image
    if column == "settings":
        return json.dumps(stimulus.settings, sort_keys=True) if stimulus.settings else "{}"
    if column in STIMULUS_TEXT_COLUMNS:
        return getattr(stimulus, column)
    if column == "n":
        return row.get(f"n_{keys[0]}", "")
    if column.startswith("expected_"):
        value = stimulus.expected.get(column.removeprefix("expected_"))
        return "" if value is None else value
    return row.get(column, "")


# scores.csv of a pairwise package: the frozen scores.csv with the package's image paths
# and the stimulus facts an import needs to recreate the study.
PACKAGE_SCORE_FACTS = ("sha256", "original_name", "settings", "role")


def package_score_columns(*, has_reference: bool) -> list[str]:
    scores = [c for c in SCORE_COLUMNS if c not in ("name", "image", "stimulus_id")]
    return [
        "name",
        "image",
        *(["prompt_image"] if has_reference else []),
        "stimulus_id",
        *PACKAGE_SCORE_FACTS,
        *scores,
    ]


def package_score_value(column: str, row: dict, stimulus: PackedStimulus):
    """One cell of a pairwise package's scores.csv (``row``: the frozen scores.csv's)."""
    if column in ("name", "image", "prompt_image", "settings", *STIMULUS_TEXT_COLUMNS):
        return package_mos_value(column, row, stimulus, [])
    return row.get(column, "")


def package_pairwise_described(columns: list[str], docs: dict[str, str]) -> dict:
    """Croissant type and meaning of a pairwise package's scores.csv or choices.csv."""
    return {
        c: (column_type(c), PACKAGE_COLUMN_DOCS.get(c) or docs.get(c) or RAW_COLUMN_DOCS.get(c, ""))
        for c in columns
    }


def package_anchor_columns(anchors: list[PackedStimulus], keys: list[str]) -> list[str]:
    """anchors.csv: training and gold images without a MOS, with their expected scores."""
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


def package_anchor_value(column: str, stimulus: PackedStimulus):
    if column == "stimulus_id":
        return stimulus.pk
    if column == "explanation":
        return stimulus.explanation
    return package_mos_value(column, {}, stimulus, [])


def package_columns_described(columns: list[str], *, keys: list[str]) -> dict[str, tuple[str, str]]:
    """Each column's Croissant type and meaning, for croissant.json and release.json."""
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


def package_subject_columns_described(columns: list[str]) -> dict[str, tuple[str, str]]:
    """subjects.csv: the screening outcome's columns, then the demographic fields ticked."""
    return {c: (column_type(c), PACKAGE_COLUMN_DOCS.get(c, "demographic field")) for c in columns}


def dimension_descriptions(study: Study, keys: list[str]) -> list[dict]:
    """The study's dimensions among ``keys``, in the study's order: what each one asked."""
    return [
        {"key": d.key, "label": d.label, "question": d.question, "anchor_text": d.anchor_text}
        for d in study.dimensions.order_by("order", "id")
        if d.key in keys
    ]
