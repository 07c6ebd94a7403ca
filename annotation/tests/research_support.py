"""Helpers shared by the researcher-side tests (imports, pages, API)."""

import csv
import io
from pathlib import Path

from django.conf import settings
from PIL import Image

from annotation.models import ImportJob, LabelRelease, Stimulus, Study, Subject


def write_image(
    path: Path, *, size=(40, 30), colour=(10, 120, 200), mode="RGB", fmt="JPEG"
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new(mode, size, colour if mode != "L" else colour[0])
    image.save(path, format=fmt)
    return path


def write_manifest(path: Path, rows: list[dict], *, encoding: str = "utf-8") -> Path:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def image_set(folder: Path, n: int = 3) -> Path:
    """n distinct images plus a manifest with metadata columns; returns the manifest path."""
    rows = []
    for i in range(n):
        write_image(folder / "img" / f"g{i}.jpg", colour=(20 * i, 100, 50))
        rows.append(
            {
                "image": f"img/g{i}.jpg",
                "generator": "SDXL" if i % 2 else "MJ",
                "prompt": f"a fox number {i}",
                "prompt_group": f"p{i // 2}",
                "cfg": "7.5",
                "steps": "30",
                "seed": str(1000 + i),
            }
        )
    return write_manifest(folder / "manifest.csv", rows)


def media_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def db_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Study, Stimulus, LabelRelease, Subject, ImportJob)
    }
