"""Published AIGC quality databases as the site imports them: a registry of layouts.

The published databases are read by the shared readers (:mod:`published.readers`), the
same code behind the training library's ``make-manifest``; this module only turns their
rows and errors into the import pipeline's. Another kind of import (a site's own package,
say) registers here by adding an object with the same attributes and ``read`` to
:data:`LAYOUTS`.
"""

from dataclasses import dataclass
from pathlib import Path

from annotation.dimensions import DimensionSpec
from annotation.imports.errors import ImportProblem, ImportRejected
from annotation.imports.manifest import RawRow
from annotation.imports.package_layout import DatasetPackage
from published.errors import LayoutError
from published.readers import LAYOUTS as PUBLISHED_LAYOUTS
from published.readers import PublishedLayout


@dataclass(frozen=True)
class ExternalTable:
    label_file: Path
    image_root: Path
    rows: list[RawRow]


def _dim(key: str, label: str) -> DimensionSpec:
    return DimensionSpec(key, label, f"Published {label.lower()} MOS.", "")


class ExternalLayout:
    """What the import pipeline needs of a layout; ``read`` raises ImportRejected."""

    key: str = ""
    title: str = ""
    expects: str = ""
    scale: tuple[float, float] = (0.0, 5.0)
    dimensions: tuple[DimensionSpec, ...] = ()
    # Published databases may list byte-identical files under different names, each with
    # its own scores: they are imported as separate stimuli sharing one stored file.
    allow_duplicates: bool = True

    def read(self, source: Path) -> ExternalTable:
        raise NotImplementedError


class PublishedDatabase(ExternalLayout):
    """A published database, read by the training library's reader of its layout."""

    def __init__(self, reader: PublishedLayout):
        self.reader = reader
        self.key, self.title, self.expects = reader.key, reader.title, reader.expects
        self.scale = reader.scale
        self.dimensions = tuple(_dim(d.key, d.label) for d in reader.dimensions)

    def read(self, source: Path) -> ExternalTable:
        try:
            table = self.reader.read(source)
        except LayoutError as exc:
            raise ImportRejected(
                [ImportProblem(p.row, p.image, p.message) for p in exc.problems]
            ) from None
        rows = [RawRow(**vars(row)) for row in table.rows]
        return ExternalTable(label_file=table.label_file, image_root=table.root, rows=rows)


LAYOUTS: dict[str, ExternalLayout] = {
    key: PublishedDatabase(reader) for key, reader in PUBLISHED_LAYOUTS.items()
}
# The site reads its own dataset package itself (release.json, anchors.csv, roles): its
# layout replaces the training library's, which only writes a manifest from mos.csv.
LAYOUTS[DatasetPackage.key] = DatasetPackage()  # type: ignore[assignment]


def layout_get(key: str) -> ExternalLayout:
    try:
        return LAYOUTS[key]
    except KeyError:
        raise ImportRejected(
            [ImportProblem(0, "", f"unknown layout {key!r}; known: {', '.join(sorted(LAYOUTS))}")]
        ) from None


def layouts_listed() -> list[dict]:
    """Every layout with what it expects, for the CLI, the import page and the API."""
    return [
        {
            "key": layout.key,
            "title": layout.title,
            "expects": layout.expects,
            "dimensions": [d.key for d in layout.dimensions],
        }
        for layout in LAYOUTS.values()
    ]
