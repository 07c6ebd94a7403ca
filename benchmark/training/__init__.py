"""Pure-PyTorch training library for AIGC image-quality models (NR, FR, PSCR).

Importing the package is cheap and torch-free so web processes can validate
configurations; ``train`` and its result types load torch on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmark.training.config import ConfigError, PscrConfig, SplitConfig, TrainConfig

if TYPE_CHECKING:
    from benchmark.training.runner import EpochReport, RepeatResult, TrainResult, prepare, train

_LAZY = {"train", "prepare", "EpochReport", "RepeatResult", "TrainResult"}

__all__ = [
    "ConfigError",
    "EpochReport",
    "PscrConfig",
    "RepeatResult",
    "SplitConfig",
    "TrainConfig",
    "TrainResult",
    "prepare",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from benchmark.training import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
