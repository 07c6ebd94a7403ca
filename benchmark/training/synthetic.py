"""Synthetic image databases with a learnable score, for tests and benchmarks.

Each image is textured noise whose mean brightness is an increasing function of its
MOS, so any working model must rank images correctly, and a constant predictor
cannot. Layout mirrors a real database: prompt groups with one image per generator,
and one reference image per prompt group for full-reference models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def make_synthetic_database(
    root: str | Path,
    *,
    groups: int = 12,
    generators: tuple[str, ...] = ("genA", "genB", "genC"),
    size: int = 40,
    seed: int = 0,
    fmt: str = "png",
) -> Path:
    """Write images and ``manifest.csv`` under ``root``; return the manifest path.

    Columns: image, reference, stimulus_id, generator, prompt_group, mos,
    mos_quality, mos_authenticity (the last two a second and third learnable
    dimension: brightness of the left half, contrast).
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "references").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for group in range(groups):
        ref = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        ref_name = f"references/prompt_{group:03d}.{fmt}"
        Image.fromarray(ref).save(root / ref_name)
        for gen in generators:
            mos = float(rng.uniform(1.0, 5.0))
            contrast = float(rng.uniform(10.0, 60.0))
            level = 30.0 + 45.0 * mos  # 75..255 over MOS 1..5
            noise = rng.normal(0.0, contrast, size=(size, size, 3))
            img = np.clip(level + noise, 0, 255).astype(np.uint8)
            name = f"images/{gen}_{group:03d}.{fmt}"
            Image.fromarray(img).save(root / name)
            rows.append(
                {
                    "image": name,
                    "reference": ref_name,
                    "stimulus_id": f"{gen}_{group:03d}",
                    "generator": gen,
                    "prompt_group": f"p{group:03d}",
                    "mos": round(mos, 4),
                    "mos_quality": round(mos, 4),
                    "mos_authenticity": round(contrast / 12.0, 4),
                }
            )
    path = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# --- published databases, laid out as their authors publish them ---------------------------

AGIQA3K_SUBSETS = (
    "AttnGAN_normal", "DALLE2_normal", "glide_normal", "midjourney_lowstep",
    "midjourney_normal", "sd1.5_highcorr", "sd1.5_lowcorr", "sd1.5_lowstep",
    "sd1.5_normal", "xl2.2_normal",
)  # fmt: skip


@dataclass
class PublishedDatabase:
    """What a generated published database holds, for checking what an import made of it."""

    root: Path
    names: list[str] = field(default_factory=list)  # image file names, in published order
    mos: dict[str, dict[str, float]] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)  # copy -> the file it copies
    unlabelled: list[str] = field(default_factory=list)


def _published_image(index: int, *, size: int, seed: int) -> Image.Image:
    """A smooth gradient with a noise patch seeded by ``index``: every image's bytes differ,
    and a 512 px JPEG weighs about what a real generated image does."""
    rng = np.random.default_rng(seed * 1_000_003 + index)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    base = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (size, 1)),
                     np.full((size, size), float(index % 256))], axis=-1)  # fmt: skip
    patch = max(4, size // 8)
    base[:patch, :patch] = rng.integers(0, 256, size=(patch, patch, 3))
    return Image.fromarray(base.astype(np.uint8))


def _write_images(db: PublishedDatabase, paths: list[Path], *, size: int, seed: int,
                  duplicates: int) -> None:  # fmt: skip
    """Write one image per path; the last ``duplicates`` are byte copies of the first ones."""
    originals = len(paths) - duplicates
    for index, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        if index >= originals:
            source = paths[index - originals]
            path.write_bytes(source.read_bytes())
            db.duplicates[path.name] = source.name
            continue
        image = _published_image(index, size=size, seed=seed)
        if path.suffix == ".jpg":
            image.save(path, quality=90)
        else:
            image.save(path)


def _scores(rng: np.random.Generator, keys: tuple[str, ...], low: float, high: float) -> dict:
    return {key: round(float(rng.uniform(low, high)), 6) for key in keys}


def make_published_database(
    layout: str,
    root: str | Path,
    *,
    count: int = 12,
    size: int = 32,
    fmt: str = "",
    duplicates: int = 0,
    unlabelled: int = 0,
    variant: str = "",
    seed: int = 0,
) -> PublishedDatabase:
    """Write a database of ``count`` images in ``layout``'s published shape under ``root``.

    Label files are written in the published formats: .xlsx through openpyxl, header-less
    CSV, tab-separated split files, MATLAB .mat through scipy. ``duplicates`` of the images
    are byte copies of others (each with its own scores, as in AGIQA-3K); ``unlabelled``
    images have no MOS (AIGIQA-20K's validation set; that layout only). ``variant`` is
    ``split`` for PKU-I2IQA's split files instead of its spreadsheet.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    db = PublishedDatabase(root=root)
    writers: dict[str, Callable[..., list[Path]]] = {
        "agiqa3k": _agiqa3k,
        "agiqa1k": _agiqa1k,
        "pku-i2iqa": _pku_i2iqa,
        "aigciqa2023": _aigciqa2023,
        "aigiqa20k": _aigiqa20k,
    }
    writer = writers[layout]
    paths = writer(db, rng, count=count, fmt=fmt, unlabelled=unlabelled, variant=variant)
    _write_images(db, paths, size=size, seed=seed, duplicates=duplicates)
    return db


def _agiqa3k(db, rng, *, count, fmt, **_) -> list[Path]:
    rows = []
    for index in range(count):
        name = f"{AGIQA3K_SUBSETS[index % 10]}_{index // 10:03d}.{fmt or 'jpg'}"
        scores = _scores(rng, ("quality", "align"), 0.0, 5.0)
        db.names.append(name)
        db.mos[name] = scores
        rows.append({
            "name": name, "prompt": f"prompt number {index // 10}", "adj1": "", "adj2": "",
            "style": "", "mos_quality": scores["quality"], "std_quality": 0.5,
            "mos_align": scores["align"], "std_align": 0.4, "mos": scores["quality"],
        })  # fmt: skip
    pd.DataFrame(rows).to_csv(db.root / "data.csv", index=False)
    return [db.root / "images" / n for n in db.names]


def _agiqa1k(db, rng, *, count, fmt, **_) -> list[Path]:
    rows = []
    for index in range(count):
        generator = ("deepai", "dreamStudio")[index % 2]
        k = index // 2
        name = f"{generator}_{k % 12}_{k // 12 % 10}_{k // 120 % 10}_{k // 1200}.{fmt or 'jpg'}"
        scores = _scores(rng, ("quality",), 0.0, 5.0)
        db.names.append(name)
        db.mos[name] = scores
        rows.append({"Image": name, "Prompt": f"a thing number {k}", "MOS": scores["quality"]})
    pd.DataFrame(rows).to_excel(db.root / "AIGC_MOS_Zscore.xlsx", index=False)
    return [db.root / "file" / n for n in db.names]


def _pku_i2iqa(db, rng, *, count, fmt, variant, **_) -> list[Path]:
    ext = fmt or "jpg"
    rows, prompts = [], set()
    for index in range(count):
        prompt, rest = divmod(index, 8)
        generator = ("MJ", "SD")[rest // 4]
        name = f"{generator}_{prompt:03d}_{rest % 4:02d}.{ext}"
        scores = _scores(rng, ("quality", "authenticity", "correspondence"), 1.0, 5.0)
        db.names.append(name)
        db.mos[name] = scores
        prompts.add(prompt)
        rows.append((name, prompt, scores))
    if variant == "split":
        for split in (1, 2):
            for part, chunk in (("train", rows[::2]), ("test", rows[1::2])):
                folder = db.root / str(split)
                folder.mkdir(parents=True, exist_ok=True)
                lines = [
                    f"Generated_image/All/{name}\t{s['quality']}\t{s['authenticity']}\t"
                    f"{s['correspondence']}\ta prompt for image {prompt}\n"
                    for name, prompt, s in chunk
                ]
                (folder / f"{part}.txt").write_text("".join(lines))
    else:
        pd.DataFrame([
            {"Generated_image": f"Generated_image/All/{name}",
             "Image_prompt": f"Image_prompt/{prompt:03d}.{ext}",
             "MOS_q": s["quality"], "MOS_a": s["authenticity"], "MOS_c": s["correspondence"]}
            for name, prompt, s in rows
        ]).to_excel(db.root / "annotation.xlsx", index=False)  # fmt: skip
    for prompt in sorted(prompts):
        image = _published_image(10_000_000 + prompt, size=24, seed=7)
        path = db.root / "Image_prompt" / f"{prompt:03d}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    return [db.root / "Generated_image" / "All" / n for n in db.names]


def _aigciqa2023(db, rng, *, count, fmt, **_) -> list[Path]:
    from scipy.io import savemat

    keys = ("quality", "authenticity", "correspondence")
    scores = [_scores(rng, keys, 20.0, 80.0) for _ in range(count)]
    db.names = [f"{index}.{fmt or 'png'}" for index in range(count)]
    db.mos = dict(zip(db.names, scores, strict=True))
    for number, key in enumerate(keys, start=1):
        values = np.array([[s[key]] for s in scores])
        (db.root / "DATA" / "MOS").mkdir(parents=True, exist_ok=True)
        (db.root / "DATA" / "STD").mkdir(parents=True, exist_ok=True)
        savemat(db.root / "DATA" / "MOS" / f"mosz{number}.mat", {"MOSz": values})
        savemat(db.root / "DATA" / "STD" / f"SD{number}.mat", {"SD": np.full_like(values, 9.5)})
    prompts = min(100, max(1, -(-count // 4)))
    pd.DataFrame(
        {"prompt": [f"prompt {p}" for p in range(prompts)], "style": "photo", "class": "animal"}
    ).to_excel(db.root / "AIGCIQA2023_Prompts.xlsx", index=False)
    blocks = -(-count // 400)
    pd.DataFrame({"generator": [f"gen{b + 1}" for b in range(blocks)]}).to_excel(
        db.root / "AIGCIQA2023_index.xlsx", index=False
    )
    return [db.root / "Image" / "allimg" / n for n in db.names]


def _aigiqa20k(db, rng, *, count, fmt, unlabelled, **_) -> list[Path]:
    generators = ("DALLE2", "SD15", "SDXL", "MJ")
    train = []
    val = []
    for index in range(count):
        name = f"{generators[index % 4]}_{index:05d}.{fmt or 'png'}"
        prompt = f"prompt {index // 4}"
        db.names.append(name)
        if index >= count - unlabelled:
            db.unlabelled.append(name)
            val.append((name, prompt))
        else:
            db.mos[name] = _scores(rng, ("quality",), 0.0, 5.0)
            train.append({"name": name, "prompt": prompt, "mos": db.mos[name]["quality"]})
    pd.DataFrame(train, columns=["name", "prompt", "mos"]).to_excel(
        db.root / "info_train.xlsx", index=False
    )
    if val:
        # The CSV copy of the validation set: no header row, and its MOS withheld.
        pd.DataFrame(val).to_csv(db.root / "info_val.csv", index=False, header=False)
    return [db.root / n for n in db.names]
