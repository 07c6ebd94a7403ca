"""The shape of a playlist entry, shared by the playlist service and the subject selectors.

Entry shape: {"stimulus": id, "kind": "training" | "rating" | "gold", "repeat": bool}.
"""

from collections.abc import Mapping, Sequence

KIND_TRAINING = "training"
KIND_RATING = "rating"
KIND_GOLD = "gold"


def playlist_entry(stimulus_id: int, kind: str, *, repeat: bool = False) -> dict:
    return {"stimulus": stimulus_id, "kind": kind, "repeat": repeat}


def training_count(*, playlist: Sequence[Mapping]) -> int:
    """Training trials come first; this is where rating trials start."""
    return sum(1 for entry in playlist if entry["kind"] == KIND_TRAINING)
