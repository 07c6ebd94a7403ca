"""Writing a dataset package's files into its zip, in order, remembering what each holds.

Images first, then mos.csv and anchors.csv, ratings.csv and subjects.csv (under
pseudonyms, :mod:`release_pseudonyms`; a pairwise release has scores.csv and choices.csv
instead of mos.csv and ratings.csv), the figures, and last the files that describe the
others: release.json, the datasheet README.md, croissant.json and SHA256SUMS.
"""

from __future__ import annotations

import mimetypes

from annotation.models import LabelRelease, Stimulus
from annotation.services.pair_exports import CHOICE_COLUMNS
from annotation.services.release_contents import PackageContents, PackedStimulus
from annotation.services.release_croissant import CsvDescription, croissant_document
from annotation.services.release_datasheet import (
    datasheet_facts,
    datasheet_markdown,
    histogram_build,
    histogram_png,
    histogram_svg,
)
from annotation.services.release_formats import (
    CHOICE_COLUMN_DOCS,
    RATING_COLUMNS,
    SCORE_COLUMN_DOCS,
    csv_bytes,
    dimension_descriptions,
    package_anchor_columns,
    package_anchor_value,
    package_columns_described,
    package_mos_columns,
    package_mos_value,
    package_pairwise_described,
    package_score_columns,
    package_score_value,
    package_subject_columns_described,
    release_is_pairwise,
    release_sidecar,
)
from annotation.services.release_pseudonyms import choices_chunks, ratings_chunks, subjects_table
from annotation.services.release_zip import PackageZip, json_bytes
from common.progress import Progress


class PackageWriter:
    """Writes the package's parts in order; remembers what each file holds for the README,
    release.json and croissant.json, which come last."""

    def __init__(self, *, release: LabelRelease, contents: PackageContents, package: PackageZip):
        self.release, self.contents, self.package = release, contents, package
        self.files: list[tuple[str, str]] = []  # (name, what it holds) for the README
        self.described: list[CsvDescription] = []  # for croissant.json and release.json
        self.pseudonym_of: dict[str, str] = {}
        self.figures: list[tuple[str, str]] = []

    @property
    def demographics(self) -> list[str]:
        return list(self.release.package_options.get("demographics") or [])

    def _csv(self, name: str, header: list[str], rows, *, what: str, docs: dict) -> None:
        self.package.write_bytes(name, csv_bytes(rows, header))
        self._described(name, what, docs)

    def _described(self, name: str, what: str, docs: dict) -> None:
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
        columns = package_mos_columns(
            stored, keys, has_reference=contents.has_reference, has_gold=has_gold
        )
        rows = (
            [
                package_mos_value(c, row, contents.stimuli[int(row["stimulus_id"])], keys)
                for c in columns
            ]
            for row in contents.stored_rows
        )
        self._csv(
            "mos.csv",
            columns,
            rows,
            what="one row per rated image: paths, prompt, generator, settings, MOS",
            docs=package_columns_described(columns, keys=keys),
        )
        if contents.anchors:
            self._anchors(contents.anchors)

    def _anchors(self, anchors: list[PackedStimulus]) -> None:
        columns = package_anchor_columns(anchors, self.contents.keys)
        self._csv(
            "anchors.csv",
            columns,
            ([package_anchor_value(c, s) for c in columns] for s in anchors),
            what="training and gold images without a MOS, with their expected scores",
            docs=package_columns_described(columns, keys=self.contents.keys),
        )

    def ratings(self) -> None:
        """ratings.csv streamed under pseudonyms, then subjects.csv for the same pseudonyms."""
        if not self.release.raw_file:
            return  # an imported database: no ratings, no subjects
        counts: dict[str, int] = {}
        self.package.write_chunks(
            "ratings.csv", ratings_chunks(self.release, self.pseudonym_of, counts)
        )
        self._described(
            "ratings.csv",
            "every rating (no training ratings), pseudonymous subjects",
            package_columns_described(list(RATING_COLUMNS), keys=self.contents.keys),
        )
        self._subjects(counts, count_column="ratings")

    def scores(self) -> None:
        """A pairwise release's scores.csv: one row per (dimension, group, image)."""
        columns = package_score_columns(has_reference=self.contents.has_reference)
        rows = (
            [
                package_score_value(c, row, self.contents.stimuli[int(row["stimulus_id"])])
                for c in columns
            ]
            for row in self.contents.stored_rows
        )
        self._csv(
            "scores.csv",
            columns,
            rows,
            what="one row per image and comparison group: paths, facts, scaled score (JOD), "
            "standard error and confidence interval",
            docs=package_pairwise_described(columns, SCORE_COLUMN_DOCS),
        )
        if self.contents.anchors:
            self._anchors(self.contents.anchors)

    def choices(self) -> None:
        """choices.csv streamed under pseudonyms, then subjects.csv for the same pseudonyms."""
        counts: dict[str, int] = {}
        self.package.write_chunks(
            "choices.csv", choices_chunks(self.release, self.pseudonym_of, counts)
        )
        self._described(
            "choices.csv",
            "every two-alternative choice, pseudonymous subjects; left and right are "
            "stimulus_id values of scores.csv",
            package_pairwise_described(list(CHOICE_COLUMNS), CHOICE_COLUMN_DOCS),
        )
        self._subjects(counts, count_column="choices")

    def _subjects(self, counts: dict[str, int], *, count_column: str) -> None:
        columns, rows = subjects_table(
            release=self.release,
            pseudonym_of=self.pseudonym_of,
            rating_counts=counts,
            demographics=self.demographics,
            count_column=count_column,
        )
        self._csv(
            "subjects.csv",
            columns,
            rows,
            what="one row per subject: pseudonym, screening outcome",
            docs=package_subject_columns_described(columns),
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
        self.files += [
            ("release.json", "method configuration, counts and column meanings"),
            ("croissant.json", "MLCommons Croissant 1.0 metadata"),
            ("SHA256SUMS", "sha256 of every other file"),
        ]
        sidecar = package_sidecar(
            release=self.release,
            pseudonym_of=self.pseudonym_of,
            files=self.package.checksums,
            described=self.described,
        )
        self.package.write_bytes("release.json", json_bytes(sidecar, sort_keys=True))
        facts = datasheet_facts(
            release=self.release,
            contents=self.contents,
            demographics=self.demographics,
            reliability=reliability,
            figures=self.figures,
            files=self.files,
        )
        self.package.write_bytes("README.md", datasheet_markdown(facts).encode("utf-8"))
        self.package.write_bytes("croissant.json", json_bytes(self._croissant()))
        sums = "".join(f"{sha}  {name}\n" for name, sha in sorted(self.package.checksums.items()))
        self.package.write_bytes("SHA256SUMS", sums.encode())

    def _croissant(self) -> dict:
        release, contents, study = self.release, self.contents, self.release.study
        return croissant_document(
            name=f"{study.slug}-v{release.version}",
            description=(
                f"{study.name}: pairwise (2AFC) human preferences between AI-generated "
                "images and their scaled scores (JOD)."
                if release_is_pairwise(release)
                else f"{study.name}: human quality ratings (MOS) of AI-generated images."
            ),
            version=release.version,
            licence=release.licence,
            citation=release.citation,
            date_published=release.created_at.date().isoformat(),
            csv_files=self.described,
            image_folders=_image_folders(contents.rated, contents.anchors, contents.has_reference),
        )


def _image_folders(
    rated: list[PackedStimulus], anchors: list[PackedStimulus], has_reference: bool
) -> dict[str, str]:
    types = {mimetypes.guess_type(s.name)[0] or "image/jpeg" for s in [*rated, *anchors]}
    folders = {"images": sorted(types)[0] if len(types) == 1 else "image/*"}
    if has_reference:
        folders["prompt_images"] = "image/*"
    return folders


def package_sidecar(
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
    sidecar["study"]["dimensions"] = dimension_descriptions(study, config.get("dimensions", []))
    if release_is_pairwise(release):
        sidecar["study"]["pairwise"] = dict(config.get("pairwise") or {})
    return sidecar
