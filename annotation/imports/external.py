"""Adapters for published AIGC quality databases: one small class per layout, in a registry.

An adapter reads the database's own label file and says where each image is; the shared
pipeline then checks every image exactly as for a manifest import.
"""

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from annotation.imports.errors import ImportProblem, ImportRejected
from annotation.imports.manifest import RawRow, read_csv_text
from annotation.imports.package_layout import DatasetPackage
from annotation.services.studies import DimensionSpec

TRAILING_NUMBER = re.compile(r"_(\d+)\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class ExternalTable:
    label_file: Path
    image_root: Path
    rows: list[RawRow]


def _dim(key: str, label: str) -> DimensionSpec:
    return DimensionSpec(key, label, f"Published {label.lower()} MOS.", "")


def _float(value: str, *, row: int, name: str, column: str, problems: list) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems.append(ImportProblem(row, name, f"{column}: {value!r} is not a number"))
        return None
    if number != number:  # NaN
        problems.append(ImportProblem(row, name, f"{column}: missing value"))
        return None
    return number


def _prompt_group(prompt: str) -> str:
    # Databases without prompt ids: the same prompt text is the same group.
    return hashlib.sha256(prompt.strip().lower().encode()).hexdigest()[:12]


class ExternalLayout:
    key: str = ""
    title: str = ""
    label_glob: str = ""
    scale: tuple[float, float] = (0.0, 5.0)
    dimensions: tuple[DimensionSpec, ...] = ()
    # Column of the label file per dimension key, and of its std where published.
    mos_columns: dict[str, str] = {}
    std_columns: dict[str, str] = {}
    name_column: str = "name"
    header: tuple[str, ...] | None = None  # for files published without a header row

    def label_file(self, source: Path) -> Path:
        if source.is_file():
            return source
        found = sorted(source.glob(self.label_glob))
        if not found:
            raise ImportRejected(
                [
                    ImportProblem(
                        0, source.name, f"no label file matching {self.label_glob!r} in {source}"
                    )
                ]
            )
        return found[0]

    def image_root(self, source: Path) -> Path:
        folder = source if source.is_dir() else source.parent
        return folder / "images" if (folder / "images").is_dir() else folder

    def generator(self, name: str) -> str:
        return PurePosixPath(name).name.split("_")[0]

    def prompt_group(self, name: str, record: dict) -> str:
        return _prompt_group(record.get("prompt", ""))

    def image_path(self, name: str, root: Path) -> str:
        return name

    def metadata(self, name: str, record: dict) -> dict:
        return {}

    def read(self, source: Path) -> ExternalTable:
        label = self.label_file(source)
        root = self.image_root(source)
        text = read_csv_text(label)
        if self.header:
            first = text.splitlines()[0] if text else ""
            has_header = first.split(",")[0].strip().lower() == self.header[0]
            reader = csv.DictReader(
                io.StringIO(text), fieldnames=None if has_header else list(self.header)
            )
        else:
            reader = csv.DictReader(io.StringIO(text))
        columns = reader.fieldnames or []
        needed = [self.name_column, *self.mos_columns.values()]
        missing = [c for c in needed if c not in columns]
        if missing:
            raise ImportRejected(
                [
                    ImportProblem(
                        0,
                        label.name,
                        f"missing column(s) {', '.join(missing)} for the {self.title} layout",
                    )
                ]
            )
        problems: list[ImportProblem] = []
        rows = []
        for number, record in enumerate(reader, start=1):
            name = (record.get(self.name_column) or "").strip()
            mos = {
                k: _float(record.get(c), row=number, name=name, column=c, problems=problems)
                for k, c in self.mos_columns.items()
            }
            std = {
                k: _float(record.get(c), row=number, name=name, column=c, problems=problems)
                for k, c in self.std_columns.items()
                if c in columns
            }
            rows.append(
                RawRow(
                    row=number,
                    image=self.image_path(name, root),
                    generator=(record.get("generator") or "").strip() or self.generator(name),
                    prompt=(record.get("prompt") or "").strip(),
                    prompt_group=self.prompt_group(name, record),
                    metadata={"source_name": name, **self.metadata(name, record)},
                    mos=mos,
                    std=std,
                )
            )
        if problems:
            raise ImportRejected(problems)
        return ExternalTable(label_file=label, image_root=root, rows=rows)


class Agiqa3k(ExternalLayout):
    """AGIQA-3K: data.csv (name, prompt, adj1, adj2, style, mos_quality, std_quality,
    mos_align, std_align, mos) beside an images/ folder; the trailing number of a name
    is its prompt, shared across generator subsets."""

    key = "agiqa3k"
    title = "AGIQA-3K"
    label_glob = "data.csv"
    dimensions = (_dim("quality", "Quality"), _dim("align", "Alignment"))
    mos_columns = {"quality": "mos_quality", "align": "mos_align"}
    std_columns = {"quality": "std_quality", "align": "std_align"}

    def prompt_group(self, name, record):
        match = TRAILING_NUMBER.search(name)
        return match.group(1) if match else _prompt_group(record.get("prompt", ""))

    def metadata(self, name, record):
        subset = TRAILING_NUMBER.sub("", name)
        extra = {
            k: record[k].strip() for k in ("adj1", "adj2", "style") if (record.get(k) or "").strip()
        }
        return {"subset": subset, **extra}


class PkuI2iqa(ExternalLayout):
    """PKU-I2IQA: mos.csv (image, mos_quality, mos_authenticity, mos_correspondence, prompt);
    `image` is e.g. Generated_image/All/MJ_000_00.jpg. Images are looked up at that path
    under the folder, else by file name alone."""

    key = "pku-i2iqa"
    title = "PKU-I2IQA"
    label_glob = "mos.csv"
    scale = (0.0, 5.0)
    name_column = "image"
    dimensions = (
        _dim("quality", "Quality"),
        _dim("authenticity", "Authenticity"),
        _dim("correspondence", "Correspondence"),
    )
    mos_columns = {k: f"mos_{k}" for k in ("quality", "authenticity", "correspondence")}

    def image_root(self, source):
        return source if source.is_dir() else source.parent

    def image_path(self, name, root):
        if (root / name).is_file():
            return name
        return PurePosixPath(name).name

    def prompt_group(self, name, record):
        parts = PurePosixPath(name).stem.split("_")
        return parts[1] if len(parts) > 1 else _prompt_group(record.get("prompt", ""))


class Aigiqa20k(ExternalLayout):
    """AIGIQA-20K: info_*.csv (name, prompt, mos; published without a header row) and the
    images in the same folder or images/; the generator is the prefix of the name."""

    key = "aigiqa20k"
    title = "AIGIQA-20K"
    label_glob = "info_*.csv"
    dimensions = (_dim("quality", "Overall quality"),)
    mos_columns = {"quality": "mos"}
    header = ("name", "prompt", "mos")


class Aigciqa2023(ExternalLayout):
    """AIGCIQA2023, as a CSV converted from its .mat/.xlsx files (assumed layout):
    mos.csv with name, prompt, generator (optional; else the prefix of name),
    mos_quality, mos_authenticity, mos_correspondence, and optional std_<key>."""

    key = "aigciqa2023"
    title = "AIGCIQA2023"
    label_glob = "mos*.csv"
    scale = (0.0, 100.0)
    dimensions = (
        _dim("quality", "Quality"),
        _dim("authenticity", "Authenticity"),
        _dim("correspondence", "Correspondence"),
    )
    mos_columns = {k: f"mos_{k}" for k in ("quality", "authenticity", "correspondence")}
    std_columns = {k: f"std_{k}" for k in ("quality", "authenticity", "correspondence")}


LAYOUTS: dict[str, ExternalLayout] = {
    layout.key: layout for layout in (Agiqa3k(), PkuI2iqa(), Aigiqa20k(), Aigciqa2023())
}
LAYOUTS[DatasetPackage.key] = DatasetPackage()  # type: ignore[assignment]


def layout_get(key: str) -> ExternalLayout:
    try:
        return LAYOUTS[key]
    except KeyError:
        raise ImportRejected(
            [ImportProblem(0, "", f"unknown layout {key!r}; known: {', '.join(sorted(LAYOUTS))}")]
        ) from None
