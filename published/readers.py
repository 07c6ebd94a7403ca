"""Readers of the published databases: one layout per database, and their training manifests.

One reader per database, shared by the training library's ``make-manifest`` and the study
site's ``import-external`` (``annotation.imports.external`` wraps these layouts), so the two
can never disagree on what a database's files mean. Django-free: pandas, scipy and openpyxl.

A reader returns every row of the database in the order the authors list them, with the
image path relative to the database folder; checking the image files themselves is the
caller's business (the site decodes every image, the library checks that files exist).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from published.errors import LayoutError, LayoutProblem
from published.package import package_manifest

TRAILING_NUMBER = re.compile(r"_(\d+)\.[A-Za-z0-9]+$")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str


@dataclass
class PublishedRow:
    """One image of a published database; ``mos`` values are None where it has no label."""

    row: int
    image: str
    reference: str = ""
    generator: str = ""
    prompt: str = ""
    prompt_group: str = ""
    metadata: dict = field(default_factory=dict)
    mos: dict[str, float | None] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        return all(value is not None for value in self.mos.values())


@dataclass(frozen=True)
class PublishedTable:
    label_file: Path
    root: Path
    rows: list[PublishedRow]


def _fail(message: str, where: str = "") -> LayoutError:
    return LayoutError([LayoutProblem(0, where, message)])


def _prompt_hash(prompt: str) -> str:
    # Databases without prompt ids: the same prompt text is the same group.
    return hashlib.sha256(prompt.strip().lower().encode()).hexdigest()[:12]


def _number(value, *, row: int, name: str, column: str, problems: list) -> float | None:
    """A published score; None for an empty cell (an unlabelled image)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems.append(LayoutProblem(row, name, f"{column}: {value!r} is not a number"))
        return None
    return None if math.isnan(number) else number


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _read_sheet(path: Path, *, header: bool = True) -> pd.DataFrame:
    """A spreadsheet (.xlsx through openpyxl) or a CSV, every cell as text or NaN."""
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            return pd.read_excel(path, header=0 if header else None, dtype=object)
        return pd.read_csv(
            path, header=0 if header else None, dtype=str, keep_default_na=False,
            encoding="utf-8-sig",
        )  # fmt: skip
    except (ValueError, OSError, UnicodeDecodeError, ImportError) as exc:
        raise _fail(f"cannot read {path.name}: {exc}", path.name) from None


def _columns_needed(frame: pd.DataFrame, needed: Iterable[str], path: Path, title: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        found = ", ".join(str(c) for c in frame.columns) or "none"
        raise _fail(
            f"{path.name}: missing column(s) {', '.join(missing)} for the {title} layout; "
            f"columns found: {found}",
            path.name,
        )


def _first_existing(folder: Path, candidates: Iterable[str]) -> Path | None:
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    return None


def _image_folder(source: Path, names: Iterable[str]) -> Path:
    """The first of the given sub-folders that exists, else the database folder itself."""
    for name in names:
        if (source / name).is_dir():
            return source / name
    return source


def _relative(path: Path, root: Path) -> str:
    return PurePosixPath(os.path.relpath(path, root)).as_posix()


class PublishedLayout:
    """One published database: what its folder holds and how to read it."""

    key: str = ""
    title: str = ""
    expects: str = ""  # one line for the CLI, the import page and the API
    scale: tuple[float, float] = (0.0, 5.0)
    dimensions: tuple[Dimension, ...] = ()
    # Only a database that withholds some MOS (a validation set) may list images without.
    unlabelled_ok: bool = False

    def read(self, source: Path) -> PublishedTable:
        raise NotImplementedError

    def manifest(self, data_dir: str | Path, out: str | Path) -> pd.DataFrame:
        """Write the training manifest of the database at ``data_dir`` to ``out``."""
        return _rows_manifest(self, data_dir, out)

    def folder(self, source: Path) -> Path:
        source = Path(source)
        if not source.is_dir():
            raise _fail(f"{source} is not a folder; give the {self.title} database folder")
        return source

    def _finish(
        self, label: Path, root: Path, rows: list[PublishedRow], problems
    ) -> PublishedTable:
        if not self.unlabelled_ok:
            reported = {p.row for p in problems}  # a score that is not a number, say
            problems = problems + [
                LayoutProblem(row.row, PurePosixPath(row.image).name, "missing MOS")
                for row in rows
                if not row.labelled and row.row not in reported
            ]
            problems.sort(key=lambda p: p.row)
        if problems:
            raise LayoutError(problems)
        if not rows:
            raise _fail(f"{label.name} lists no images", label.name)
        return PublishedTable(label_file=label, root=root, rows=rows)

    def missing(self, source: Path, looked_for: str) -> LayoutError:
        return _fail(
            f"no {looked_for} in {source}; the {self.title} layout expects {self.expects}",
            source.name,
        )

    def label_sheet(
        self, source: Path, candidates: list[str], needed: list[str]
    ) -> tuple[Path, pd.DataFrame]:
        """The first of `candidates` in `source`, read, with the `needed` columns checked."""
        label = _first_existing(source, candidates)
        if label is None:
            raise self.missing(source, candidates[0])
        frame = _read_sheet(label)
        _columns_needed(frame, needed, label, self.title)
        return label, frame


class Agiqa3k(PublishedLayout):
    key = "agiqa3k"
    title = "AGIQA-3K"
    expects = (
        "data.csv (name, prompt, adj1, adj2, style, mos_quality, std_quality, mos_align, "
        "std_align) and the images beside it or in images/"
    )
    dimensions = (Dimension("quality", "Quality"), Dimension("align", "Alignment"))

    def read(self, source: Path) -> PublishedTable:
        source = self.folder(source)
        label, frame = self.label_sheet(source, ["data.csv"], ["name", "mos_quality", "mos_align"])
        images = _image_folder(source, ["images", "file"])
        problems: list[LayoutProblem] = []
        rows = []
        for number, record in enumerate(frame.to_dict("records"), start=1):
            name = _text(record.get("name"))
            match = TRAILING_NUMBER.search(name)
            prompt = _text(record.get("prompt"))
            extra = {k: _text(record.get(k)) for k in ("adj1", "adj2", "style")}
            rows.append(
                PublishedRow(
                    row=number,
                    image=_relative(images / name, source),
                    generator=name.split("_")[0],
                    prompt=prompt,
                    # The trailing number is the prompt, shared across generator subsets.
                    prompt_group=match.group(1) if match else _prompt_hash(prompt),
                    metadata={
                        "source_name": name,
                        "subset": TRAILING_NUMBER.sub("", name),
                        **{k: v for k, v in extra.items() if v},
                    },
                    mos={
                        key: _number(
                            record.get(f"mos_{key}"),
                            row=number,
                            name=name,
                            column=f"mos_{key}",
                            problems=problems,
                        )
                        for key in ("quality", "align")
                    },  # fmt: skip
                    std={
                        key: value
                        for key in ("quality", "align")
                        if f"std_{key}" in frame.columns
                        and (
                            value := _number(
                                record.get(f"std_{key}"),
                                row=number,
                                name=name,
                                column=f"std_{key}",
                                problems=problems,
                            )
                        )
                        is not None
                    },  # fmt: skip
                )
            )
        return self._finish(label, source, rows, problems)


class Agiqa1k(PublishedLayout):
    key = "agiqa1k"
    title = "AGIQA-1K"
    expects = (
        "AIGC_MOS_Zscore.xlsx (Image, Prompt, MOS), optionally AIGC_all.csv (Image, Score), "
        "and the images in file/, images/ or beside the spreadsheet"
    )
    dimensions = (Dimension("quality", "Quality"),)

    def read(self, source: Path) -> PublishedTable:
        source = self.folder(source)
        label, frame = self.label_sheet(
            source, ["AIGC_MOS_Zscore.xlsx", "AIGC_MOS_Zscore.csv"], ["Image", "MOS"]
        )
        raw_means = self._raw_means(source)
        images = _image_folder(source, ["file", "images"])
        problems: list[LayoutProblem] = []
        rows = []
        for number, record in enumerate(frame.to_dict("records"), start=1):
            name = _text(record.get("Image"))
            stem = PurePosixPath(name).stem
            # {deepai|dreamStudio}_{mainObj}_{secondObj}_{place}_{style}: the same
            # object/place/style is the same prompt for both generators.
            generator, _, prompt_key = stem.partition("_")
            prompt = _text(record.get("Prompt"))
            metadata: dict[str, object] = {"source_name": name}
            if name in raw_means:
                metadata["raw_mean_score"] = raw_means[name]
            rows.append(
                PublishedRow(
                    row=number,
                    image=_relative(images / name, source),
                    generator=generator,
                    prompt=prompt,
                    prompt_group=prompt_key or _prompt_hash(prompt),
                    metadata=metadata,
                    mos={
                        "quality": _number(
                            record.get("MOS"),
                            row=number,
                            name=name,
                            column="MOS",
                            problems=problems,
                        )
                    },  # fmt: skip
                )
            )
        return self._finish(label, source, rows, problems)

    def _raw_means(self, source: Path) -> dict[str, float]:
        path = source / "AIGC_all.csv"
        if not path.is_file():
            return {}
        frame = _read_sheet(path)
        if not {"Image", "Score"} <= set(frame.columns):
            return {}
        means = {}
        for image, score in zip(frame["Image"], frame["Score"], strict=True):
            try:
                means[_text(image)] = float(score)
            except (TypeError, ValueError):
                continue
        return means


PKU_DIMENSIONS = (
    Dimension("quality", "Quality"),
    Dimension("authenticity", "Authenticity"),
    Dimension("correspondence", "Correspondence"),
)


class PkuI2iqa(PublishedLayout):
    key = "pku-i2iqa"
    title = "PKU-I2IQA"
    expects = (
        "annotation.xlsx (Generated_image, Image_prompt, MOS_q, MOS_a, MOS_c) with the folders "
        "Generated_image/All/ and Image_prompt/, or the split files 1/train.txt + 1/test.txt "
        "(tab-separated: path, MOS_q, MOS_a, MOS_c, text prompt)"
    )
    dimensions = PKU_DIMENSIONS
    KEYS = ("quality", "authenticity", "correspondence")
    COLUMNS = ("MOS_q", "MOS_a", "MOS_c")

    def read(self, source: Path) -> PublishedTable:
        source = self.folder(source)
        index = _ImageIndex(source)
        label = _first_existing(source, ["annotation.xlsx", "annotation.csv"])
        if label is not None:
            return self._read_annotation(label, source, index)
        splits = sorted(
            (p for p in source.iterdir() if p.is_dir() and p.name.isdigit()),
            key=lambda p: int(p.name),
        )
        for split in splits:
            files = [split / f"{part}.txt" for part in ("train", "test")]
            if all(f.is_file() for f in files):
                return self._read_split_files(files, source, index)
        legacy = _first_existing(source, ["mos.csv"])
        if legacy is not None:
            return self._read_converted_csv(legacy, source, index)
        raise self.missing(source, "annotation.xlsx (nor 1/train.txt and 1/test.txt)")

    def _row(self, number, path, reference, prompt, scores, source, index, problems):
        image = index.generated(path)
        name = PurePosixPath(image).name
        parts = PurePosixPath(name).stem.split("_")
        group = parts[1] if len(parts) > 2 else _prompt_hash(prompt)
        if not reference:
            reference = index.prompt_image(group)
        else:
            reference = index.prompt_image_path(reference)
        return PublishedRow(
            row=number,
            image=image,
            reference=reference,
            generator=parts[0] if len(parts) > 1 else "",
            prompt=prompt,
            prompt_group=group,
            metadata={"source_name": name},
            mos={
                key: _number(value, row=number, name=name, column=column, problems=problems)
                for key, column, value in zip(self.KEYS, self.COLUMNS, scores, strict=True)
            },
        )

    def _read_annotation(self, label, source, index) -> PublishedTable:
        frame = _read_sheet(label)
        _columns_needed(frame, ["Generated_image", *self.COLUMNS], label, self.title)
        prompt_column = next(
            (c for c in ("Text_prompt", "Prompt", "prompt", "text_prompt") if c in frame), None
        )
        problems: list[LayoutProblem] = []
        rows = [
            self._row(
                number,
                _text(record["Generated_image"]),
                _text(record.get("Image_prompt")),
                _text(record.get(prompt_column)) if prompt_column else "",
                [record[c] for c in self.COLUMNS],
                source,
                index,
                problems,
            )
            for number, record in enumerate(frame.to_dict("records"), start=1)
        ]
        return self._finish(label, source, rows, problems)

    def _read_split_files(self, files, source, index) -> PublishedTable:
        problems: list[LayoutProblem] = []
        rows, seen = [], set()
        number = 0
        for path in files:
            text = path.read_text(encoding="utf-8-sig")
            for line_number, fields in enumerate(csv.reader(io.StringIO(text), delimiter="\t"), 1):
                if not any(f.strip() for f in fields):
                    continue
                if len(fields) < 4:
                    problems.append(LayoutProblem(
                        line_number, path.name,
                        f"{path.parent.name}/{path.name} line {line_number}: expected path, "
                        "MOS_q, MOS_a, MOS_c and the text prompt separated by tabs",
                    ))  # fmt: skip
                    continue
                if fields[0] in seen:
                    continue  # train and test of one split never share an image; be safe
                seen.add(fields[0])
                number += 1
                prompt = "\t".join(fields[4:]).strip()
                rows.append(
                    self._row(
                        number, fields[0].strip(), "", prompt, fields[1:4], source, index, problems
                    )  # fmt: skip
                )
        label = files[0]
        return self._finish(label, source, rows, problems)

    def _read_converted_csv(self, label, source, index) -> PublishedTable:
        frame = _read_sheet(label)
        columns = [f"mos_{k}" for k in self.KEYS]
        _columns_needed(frame, ["image", *columns], label, self.title)
        problems: list[LayoutProblem] = []
        rows = [
            self._row(
                number,
                _text(record["image"]),
                "",
                _text(record.get("prompt")),
                [record[c] for c in columns],
                source,
                index,
                problems,
            )  # fmt: skip
            for number, record in enumerate(frame.to_dict("records"), start=1)
        ]
        return self._finish(label, source, rows, problems)


class _ImageIndex:
    """Where PKU-I2IQA's generated images and image prompts lie in the database folder."""

    def __init__(self, source: Path):
        self.source = source
        self.generated_dir = _image_folder(
            source, ["Generated_image/All", "Generated_image", "images"]
        )
        self.prompt_dir = _image_folder(source, ["Image_prompt", "Image_prompts", "image_prompt"])
        self._prompts: dict[str, str] | None = None

    def generated(self, path: str) -> str:
        clean = path.replace("\\", "/").lstrip("./")
        if (self.source / clean).is_file():
            return clean
        return _relative(self.generated_dir / PurePosixPath(clean).name, self.source)

    def prompt_image_path(self, path: str) -> str:
        clean = path.replace("\\", "/").lstrip("./")
        if (self.source / clean).is_file():
            return clean
        return _relative(self.prompt_dir / PurePosixPath(clean).name, self.source)

    def prompt_image(self, group: str) -> str:
        """The image prompt of prompt number ``group`` (``000.jpg``, ``0.png`` ...), or ''."""
        if self.prompt_dir == self.source:
            return ""
        if self._prompts is None:
            self._prompts = {}
            for path in sorted(self.prompt_dir.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    self._prompts.setdefault(path.stem, _relative(path, self.source))
                    if path.stem.isdigit():
                        self._prompts.setdefault(str(int(path.stem)), _relative(path, self.source))
        return self._prompts.get(group) or (
            self._prompts.get(str(int(group)), "") if group.isdigit() else ""
        )


class Aigciqa2023(PublishedLayout):
    key = "aigciqa2023"
    title = "AIGCIQA2023"
    expects = (
        "Image/allimg/<n>.png (n = 0..2399), DATA/MOS/mosz1.mat, mosz2.mat, mosz3.mat "
        "(variable MOSz), optionally DATA/STD/SD1..3.mat (variable SD), a prompts spreadsheet "
        "(*prompt*.xlsx or .csv, column prompt: 100 rows) and an index spreadsheet "
        "(*index*.xlsx or .csv: generator per image or per block of 400)"
    )
    scale = (0.0, 100.0)
    dimensions = PKU_DIMENSIONS
    KEYS = ("quality", "authenticity", "correspondence")
    IMAGES_PER_GENERATOR = 400
    IMAGES_PER_PROMPT = 4

    def read(self, source: Path) -> PublishedTable:
        from scipy.io import loadmat

        source = self.folder(source)
        mos_dir = source / "DATA" / "MOS"
        mats = [mos_dir / f"mosz{i}.mat" for i in (1, 2, 3)]
        if not all(m.is_file() for m in mats):
            raise self.missing(source, "DATA/MOS/mosz1.mat, mosz2.mat and mosz3.mat")
        mos = [self._vector(loadmat, path, "MOSz") for path in mats]
        std_paths = [source / "DATA" / "STD" / f"SD{i}.mat" for i in (1, 2, 3)]
        std = [self._vector(loadmat, p, "SD") if p.is_file() else None for p in std_paths]
        images = self._images(source)
        if len(images) != len(mos[0]) or any(len(v) != len(mos[0]) for v in mos):
            raise _fail(
                f"{len(images)} images in {_relative(self._image_dir(source), source)} but "
                f"{', '.join(str(len(v)) for v in mos)} scores in mosz1..3.mat; the images are "
                "matched to the scores by their integer names, so the counts must agree",
                "mosz1.mat",
            )
        prompts = self._prompts(source)
        generators = self._generators(source, len(images))
        rows = []
        for position, (number, path) in enumerate(images):
            prompt_number = (number % self.IMAGES_PER_GENERATOR) // self.IMAGES_PER_PROMPT
            rows.append(
                PublishedRow(
                    row=position + 1,
                    image=_relative(path, source),
                    generator=generators[position],
                    prompt=prompts[prompt_number] if prompt_number < len(prompts) else "",
                    prompt_group=str(prompt_number),
                    metadata={"source_name": path.name, "index": number},
                    mos={k: float(v[position]) for k, v in zip(self.KEYS, mos, strict=True)},
                    std={
                        k: float(v[position])
                        for k, v in zip(self.KEYS, std, strict=True)
                        if v is not None and len(v) == len(images)
                    },
                )
            )
        return PublishedTable(label_file=mats[0], root=source, rows=rows)

    @staticmethod
    def _vector(loadmat, path: Path, variable: str) -> list[float]:
        try:
            data = loadmat(str(path))
        except (ValueError, OSError, NotImplementedError) as exc:
            raise _fail(f"cannot read {path.name}: {exc}", path.name) from None
        if variable not in data:
            found = ", ".join(k for k in data if not k.startswith("__")) or "none"
            raise _fail(f"{path.name} has no variable {variable!r}; found: {found}", path.name)
        return [float(v) for v in data[variable].reshape(-1)]

    def _image_dir(self, source: Path) -> Path:
        return _image_folder(source, ["Image/allimg", "Image", "allimg"])

    def _images(self, source: Path) -> list[tuple[int, Path]]:
        folder = self._image_dir(source)
        found = [
            (int(p.stem), p)
            for p in folder.iterdir()
            if p.is_file() and p.stem.isdigit() and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not found:
            raise self.missing(source, "Image/allimg/<n>.png")
        # Ordered by the integer, not the text: 10.png comes after 9.png, as in MOSz.
        return sorted(found)

    def _spreadsheets(self, source: Path, word: str) -> list[Path]:
        folders = [source, source / "DATA", source / "DATA" / "MOS"]
        return [
            p
            for folder in folders
            if folder.is_dir()
            for p in sorted(folder.iterdir())
            if word in p.name.lower() and p.suffix.lower() in (".xlsx", ".csv")
        ]

    def _prompts(self, source: Path) -> list[str]:
        for path in self._spreadsheets(source, "prompt"):
            frame = _read_sheet(path)
            column = next((c for c in frame.columns if str(c).strip().lower() == "prompt"), None)
            if column is None:
                raise _fail(
                    f"{path.name}: no 'prompt' column; columns found: "
                    f"{', '.join(str(c) for c in frame.columns)}",
                    path.name,
                )
            return [_text(v) for v in frame[column]]
        return []

    def _generators(self, source: Path, count: int) -> list[str]:
        blocks = math.ceil(count / self.IMAGES_PER_GENERATOR)
        for path in self._spreadsheets(source, "index"):
            frame = _read_sheet(path)
            lowered = {str(c).strip().lower(): c for c in frame.columns}
            column = lowered.get("generator") or lowered.get("model")
            if column is None:
                raise _fail(
                    f"{path.name}: no 'generator' (or 'model') column; columns found: "
                    f"{', '.join(str(c) for c in frame.columns)}",
                    path.name,
                )
            names = [_text(v) for v in frame[column]]
            if len(names) == count:
                return names
            if len(names) == blocks:
                return [names[i // self.IMAGES_PER_GENERATOR] for i in range(count)]
            raise _fail(
                f"{path.name}: {len(names)} rows; expected one per image ({count}) or one per "
                f"block of {self.IMAGES_PER_GENERATOR} images ({blocks})",
                path.name,
            )
        return [f"model{i // self.IMAGES_PER_GENERATOR + 1}" for i in range(count)]


class Aigiqa20k(PublishedLayout):
    key = "aigiqa20k"
    title = "AIGIQA-20K"
    expects = (
        "info_train and info_val (and any other info_*) as .xlsx or .csv (name, prompt, mos; "
        "CSV copies without a header row; rows without a MOS are imported unlabelled) and the "
        "images beside them or in images/"
    )
    dimensions = (Dimension("quality", "Overall quality"),)
    unlabelled_ok = True
    HEADER = ("name", "prompt", "mos")

    def read(self, source: Path) -> PublishedTable:
        source = self.folder(source)
        chosen: dict[str, Path] = {}
        for path in sorted(source.glob("info_*")):
            suffix = path.suffix.lower()
            # The spreadsheet and its CSV copy hold the same rows: read one of them.
            if suffix in (".xlsx", ".csv") and (path.stem not in chosen or suffix == ".xlsx"):
                chosen[path.stem] = path
        if not chosen:
            raise self.missing(source, "info_train.xlsx or info_train.csv (info_*)")
        images = _image_folder(source, ["images", "all"])
        problems: list[LayoutProblem] = []
        rows: list[PublishedRow] = []
        for stem, path in sorted(chosen.items(), key=lambda item: (item[0] != "info_train", item)):
            frame = self._frame(path)
            split = stem.removeprefix("info_")
            for record in frame.to_dict("records"):
                name = _text(record.get("name"))
                prompt = _text(record.get("prompt"))
                number = len(rows) + 1
                rows.append(
                    PublishedRow(
                        row=number,
                        image=_relative(images / name, source),
                        generator=name.split("_")[0],
                        prompt=prompt,
                        prompt_group=_prompt_hash(prompt),
                        metadata={"source_name": name, "split": split},
                        mos={
                            "quality": _number(
                                record.get("mos"),
                                row=number,
                                name=name,
                                column=f"{path.name} mos",
                                problems=problems,
                            )
                        },
                    )  # fmt: skip
                )
        return self._finish(next(iter(sorted(chosen.values()))), source, rows, problems)

    def _frame(self, path: Path) -> pd.DataFrame:
        frame = _read_sheet(path, header=False)
        if frame.empty:
            return pd.DataFrame(columns=list(self.HEADER))
        first = [_text(v).lower() for v in frame.iloc[0].tolist()]
        if first[: len(self.HEADER)] == list(self.HEADER) or "name" in first:
            frame.columns = [_text(v).lower() or f"column{i}" for i, v in enumerate(frame.iloc[0])]
            frame = frame.iloc[1:]
        else:
            names = list(self.HEADER) + [f"column{i}" for i in range(3, frame.shape[1])]
            frame.columns = names[: frame.shape[1]]
        _columns_needed(frame, ["name"], path, self.title)
        if "mos" not in frame.columns:
            frame["mos"] = None  # a validation file published without its MOS column
        return frame


class DatasetPackage(PublishedLayout):
    """This platform's own dataset package (unzipped): its mos.csv names the dimensions
    (``mos_<key>`` columns), so the manifest is that table with its paths rewritten
    (:func:`published.package.package_manifest`). The study site reads a
    package with its own layout (release.json, anchors.csv, roles)."""

    key = "dataset-package"
    title = "Dataset package (this platform)"
    expects = "mos.csv (image, generator, prompt_group, mos, mos_<dimension>...) and images/"

    def read(self, source: Path) -> PublishedTable:
        source = self.folder(source)
        label, frame = self.label_sheet(source, ["mos.csv"], ["image", "mos"])
        keys = [str(c)[4:] for c in frame.columns if str(c).startswith("mos_")] or ["mos"]
        problems: list[LayoutProblem] = []
        rows = []
        for number, record in enumerate(frame.to_dict("records"), start=1):
            image = _text(record.get("image"))
            name = PurePosixPath(image).name
            rows.append(
                PublishedRow(
                    row=number,
                    image=image,
                    reference=_text(record.get("prompt_image")),
                    generator=_text(record.get("generator")),
                    prompt=_text(record.get("prompt")),
                    prompt_group=_text(record.get("prompt_group")),
                    metadata={"role": _text(record.get("role")) or "normal"},
                    mos={
                        key: _number(
                            record.get("mos" if key == "mos" else f"mos_{key}"),
                            row=number,
                            name=name,
                            column=f"mos_{key}",
                            problems=problems,
                        )
                        for key in keys
                    },
                )
            )
        return self._finish(label, source, rows, problems)

    def manifest(self, data_dir: str | Path, out: str | Path) -> pd.DataFrame:
        try:
            return package_manifest(data_dir, out)
        except ValueError as exc:  # reported like every layout's problems
            raise _fail(str(exc)) from None


LAYOUTS: dict[str, PublishedLayout] = {
    layout.key: layout
    for layout in (
        Agiqa3k(), Agiqa1k(), PkuI2iqa(), Aigciqa2023(), Aigiqa20k(), DatasetPackage()
    )
}  # fmt: skip


def layout_describe() -> str:
    """Every layout with what it expects: for --help texts."""
    return "\n".join(
        f"  {layout.key}: {layout.title}: {layout.expects}" for layout in LAYOUTS.values()
    )


# --- manifests for the training library ---------------------------------------------------


def published_manifest(layout: str, data_dir: str | Path, out: str | Path) -> pd.DataFrame:
    """Write a training manifest for a database in its layout (``make-manifest``)."""
    return LAYOUTS[layout].manifest(data_dir, out)


def _rows_manifest(reader: PublishedLayout, data_dir: str | Path, out: str | Path) -> pd.DataFrame:
    """Write a training manifest for a database in its published layout.

    Image (and reference) paths are relative to the manifest's folder; MOS columns are
    ``mos_<key>`` per dimension plus ``mos`` (the first dimension), as in the site's releases.
    Rows the authors published without a MOS (AIGIQA-20K's validation set) are left out:
    the manifest is for training and testing, which needs every label.
    """
    table = reader.read(Path(data_dir))
    out = Path(out)
    base = out.resolve().parent
    keys = [d.key for d in reader.dimensions]
    labelled = [r for r in table.rows if r.labelled]
    missing = [r for r in labelled if not (table.root / r.image).is_file()]
    if missing:
        shown = ", ".join(f"row {r.row} ({r.image})" for r in missing[:10])
        raise LayoutError(
            [
                LayoutProblem(
                    0, "", f"{len(missing)} image file(s) not found under {table.root}: {shown}"
                )
            ]  # fmt: skip
        )
    with_reference = any(r.reference for r in labelled)

    def path(relative: str) -> str:
        return os.path.relpath((table.root / relative).resolve(), base) if relative else ""

    records = []
    for row in labelled:
        record: dict[str, object] = {
            "image": path(row.image),
            "stimulus_id": PurePosixPath(row.image).stem,
            "generator": row.generator,
            "prompt_group": row.prompt_group,
            "prompt": row.prompt,
        }
        if with_reference:
            record["reference"] = path(row.reference)
        record["mos"] = row.mos[keys[0]]
        record.update({f"mos_{k}": row.mos[k] for k in keys})
        record.update({f"std_{k}": v for k, v in row.std.items()})
        record.update({k: v for k, v in row.metadata.items() if k not in record})
        records.append(record)
    manifest = pd.DataFrame.from_records(records)
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out, index=False)
    manifest.attrs["unlabelled"] = len(table.rows) - len(labelled)
    return manifest


def agiqa3k_manifest(data_dir: str | Path, out: str | Path) -> pd.DataFrame:
    return published_manifest("agiqa3k", data_dir, out)
