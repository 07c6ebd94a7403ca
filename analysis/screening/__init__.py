"""Subject (observer) screening: BT.500, correlation, repeat consistency, gold and
too-fast (response time) checks.

Every method returns a :class:`ScreeningResult` with one row per decision and the numbers
behind it; :func:`apply_rejections` removes the union of rejections from a ratings table.
"""

from analysis.screening.base import (
    ALL_DIMENSIONS,
    ScreeningResult,
    apply_rejections,
    rejection_mask,
    screening_summary,
)
from analysis.screening.bt500 import BT500Options, screen_bt500
from analysis.screening.consistency import (
    GoldOptions,
    RepeatConsistencyOptions,
    screen_gold,
    screen_repeat_consistency,
)
from analysis.screening.correlation import CorrelationOptions, screen_correlation
from analysis.screening.response_time import ResponseTimeOptions, screen_response_time

__all__ = [
    "ALL_DIMENSIONS",
    "BT500Options",
    "CorrelationOptions",
    "GoldOptions",
    "RepeatConsistencyOptions",
    "ResponseTimeOptions",
    "ScreeningResult",
    "apply_rejections",
    "rejection_mask",
    "screen_bt500",
    "screen_correlation",
    "screen_gold",
    "screen_repeat_consistency",
    "screen_response_time",
    "screening_summary",
]
