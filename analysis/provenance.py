"""Traceability of exported numbers: every result names its method, standard and version."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from analysis._version import LIBRARY_VERSION

__all__ = ["LIBRARY_VERSION", "Provenance", "jsonable", "options_dict"]


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Which routine produced a number, following which standard, with which options.

    ``version`` is the version of the routine's *algorithm*; it is bumped whenever a change
    could alter an exported number, independently of the library version.
    """

    method: str
    standard: str
    version: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "standard": self.standard,
            "version": self.version,
            "library_version": LIBRARY_VERSION,
            "options": jsonable(self.options),
        }


def options_dict(options: Any) -> dict[str, Any]:
    """Options dataclass -> plain dict (nested dataclasses expanded)."""
    if options is None:
        return {}
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        return dataclasses.asdict(options)
    raise TypeError(f"expected an options dataclass, got {type(options).__name__}")


def jsonable(value: Any) -> Any:
    """Convert numpy scalars, tuples and non-finite floats so ``json.dumps`` accepts them.

    NaN and infinities become ``None`` because JSON has no spelling for them and a silent
    ``NaN`` token breaks strict parsers (browsers' ``JSON.parse`` among them).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return f if math.isfinite(f) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    return value
