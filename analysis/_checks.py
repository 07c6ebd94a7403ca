"""Validation of option values, shared by every options dataclass (``__post_init__``).

Each check raises :class:`~analysis.errors.OptionsError` naming the option, so a bad value
is refused where it enters instead of turning into NaNs several steps later.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from analysis.errors import OptionsError


def check_probability(option: str, value: float) -> None:
    """A level strictly between 0 and 1 (confidence, a threshold on a proportion)."""
    if not _finite(value) or not 0.0 < value < 1.0:
        raise OptionsError(option, f"must be a number strictly between 0 and 1, got {value!r}")


def check_ddof(option: str, value: int) -> None:
    """Delta degrees of freedom of a standard deviation: 0 (population) or 1 (sample)."""
    if isinstance(value, bool) or value not in (0, 1):
        raise OptionsError(option, f"must be 0 (population) or 1 (sample, N-1), got {value!r}")


def check_choice(option: str, value: Any, choices: Iterable[Any]) -> None:
    allowed = tuple(choices)
    if value not in allowed:
        listed = ", ".join(repr(c) for c in allowed)
        raise OptionsError(option, f"must be one of {listed}, got {value!r}")


def check_int_at_least(option: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptionsError(option, f"must be a whole number >= {minimum}, got {value!r}")


def check_number(
    option: str,
    value: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    inclusive: bool = True,
) -> None:
    """A finite number within [minimum, maximum] (or the open interval when not inclusive)."""
    if not _finite(value):
        raise OptionsError(option, f"must be a finite number, got {value!r}")
    low_bad = minimum is not None and (value < minimum if inclusive else value <= minimum)
    high_bad = maximum is not None and (value > maximum if inclusive else value >= maximum)
    if low_bad or high_bad:
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        brackets = ("[", "]") if inclusive else ("(", ")")
        span = f"{brackets[0]}{lo}, {hi}{brackets[1]}"
        raise OptionsError(option, f"must lie in {span}, got {value!r}")


def check_range(option: str, value: tuple[float, float] | None) -> None:
    """An optional (low, high) pair with low < high (a scale range)."""
    if value is None:
        return
    if len(value) != 2 or not all(_finite(v) for v in value) or not value[0] < value[1]:
        raise OptionsError(option, f"must be a pair (low, high) with low < high, got {value!r}")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
