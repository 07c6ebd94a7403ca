"""Decode-once image cache: uint8 ``(3, H, W)`` ``.npy`` files reused across epochs and runs.

JPEG decoding and resizing dominate data loading for small backbones, and they give
the same pixels every epoch, so each (file, target size) is decoded once and stored
under a key of the file's absolute path, modification time and byte size plus the
target; an edited image gets a new key. Files are written atomically so concurrent
runs can share one cache directory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

FORMAT_VERSION = 1


@dataclass(frozen=True)
class CacheSpec:
    """``resize``: square ``size`` x ``size`` (the whole image, aspect not kept).
    ``native``: original resolution, upscaled only when the short side is below
    ``size`` so that a patch of that size fits."""

    mode: str
    size: int

    def tag(self) -> str:
        return f"{self.mode}{self.size}"


def decode_image(path: str, spec: CacheSpec) -> np.ndarray:
    """Decode ``path`` to a ``(3, H, W)`` uint8 array as ``spec`` asks."""
    with Image.open(path) as opened:
        img: Image.Image = opened
        if spec.mode == "resize":
            # JPEG draft mode decodes at 1/2..1/8 scale directly: much faster downscaling.
            opened.draft("RGB", (spec.size, spec.size))
            img = opened.convert("RGB").resize(
                (spec.size, spec.size), Image.Resampling.BICUBIC, reducing_gap=3.0
            )
        elif spec.mode == "native":
            img = opened.convert("RGB")
            short = min(img.size)
            if short < spec.size:
                scale = spec.size / short
                new = (
                    max(spec.size, round(img.width * scale)),
                    max(spec.size, round(img.height * scale)),
                )
                img = img.resize(new, Image.Resampling.BICUBIC)
        else:
            raise ValueError(f"unknown cache mode {spec.mode!r}")
        arr = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


class ImageCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.decodes = 0
        self.hits = 0
        self._lock = threading.Lock()

    def path_for(self, image: str, spec: CacheSpec) -> Path:
        st = os.stat(image)
        ident = f"{os.path.realpath(image)}|{st.st_mtime_ns}|{st.st_size}|{spec.tag()}|v{FORMAT_VERSION}"
        key = hashlib.sha1(ident.encode()).hexdigest()
        return self.root / spec.tag() / key[:2] / f"{key}.npy"

    def _fill(self, image: str, spec: CacheSpec) -> Path:
        target = self.path_for(image, spec)
        if target.is_file():
            with self._lock:
                self.hits += 1
            return target
        arr = decode_image(image, spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, arr)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self.decodes += 1
        return target

    def ensure(
        self, images: Sequence[str], spec: CacheSpec, *, threads: int = 1, progress: bool = False
    ) -> list[Path]:
        """Cache files for ``images`` (decoding only those not yet cached), in order."""
        unique = list(dict.fromkeys(images))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(unique), desc=f"cache {spec.tag()}", unit="img", leave=False)

        def fill(image: str) -> Path:
            out = self._fill(image, spec)
            if bar is not None:
                bar.update(1)
            return out

        try:
            # Pillow releases the GIL while decoding, so threads scale without pickling.
            if threads > 1:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    files = list(pool.map(fill, unique))
            else:
                files = [fill(i) for i in unique]
        finally:
            if bar is not None:
                bar.close()
        by_image = dict(zip(unique, files, strict=True))
        return [by_image[i] for i in images]


def load_cached(path: Path | str) -> np.ndarray:
    """Memory-mapped view: only the pages a crop or patch touches are read."""
    return np.load(path, mmap_mode="r")
