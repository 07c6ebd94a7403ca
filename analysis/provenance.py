"""Traceability of exported numbers: every result names its method, standard and version."""

from __future__ import annotations

import dataclasses
from typing import Any

from analysis._version import LIBRARY_VERSION
from common.jsonable import jsonable

# ``jsonable`` stays importable from here for the site's older imports (annotation.services);
# it lives in ``common.jsonable``, which new code imports directly.
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
