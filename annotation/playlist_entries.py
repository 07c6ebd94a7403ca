"""The shape of a playlist entry, shared by the playlist service and the subject selectors.

Entry shape: {"stimulus": id, "kind": "training" | "rating" | "gold" | "trap",
"repeat": bool}; a training entry of a repeated qualification try also has "attempt": n.
A pairwise trial: {"stimulus": left id, "right": right id, "kind": "pair", "group": name,
"side": "left" | "right", "repeat": bool}, where "side" is where the pair's first stimulus,
as the design served it, is shown (the record of the side randomisation). A training or
gold pair also has "stage": "training" | "gold" and "expected": {dimension key: "left" |
"right" | "none"}, the side (as shown) that should win.
"""

import math
import random
from collections.abc import Mapping, Sequence

KIND_TRAINING = "training"
KIND_RATING = "rating"
KIND_GOLD = "gold"
KIND_TRAP = "trap"
KIND_PAIR = "pair"
# A pair entry's "stage" (absent on a normal pair); the values of PairwiseChoice.Stage.
STAGE_TRAINING = "training"
STAGE_GOLD = "gold"


def playlist_entry(stimulus_id: int, kind: str, *, repeat: bool = False) -> dict:
    return {"stimulus": stimulus_id, "kind": kind, "repeat": repeat}


def training_count(*, playlist: Sequence[Mapping]) -> int:
    """Training trials (training pairs too) come first; this is where rating trials start."""
    return sum(
        1
        for entry in playlist
        if entry["kind"] == KIND_TRAINING or entry.get("stage") == STAGE_TRAINING
    )


def entry_attempt(entry: Mapping) -> int:
    """Which try at the training block a training entry belongs to (the first is 1)."""
    return int(entry.get("attempt", 1))


def is_attempt_end(*, playlist: Sequence[Mapping], trial_index: int) -> bool:
    """The training trial at ``trial_index`` is the last of its try at the training block."""
    entry = playlist[trial_index]
    if entry["kind"] != KIND_TRAINING:
        return False
    following = trial_index + 1
    if following >= len(playlist):
        return True
    after = playlist[following]
    return after["kind"] != KIND_TRAINING or entry_attempt(after) != entry_attempt(entry)


def pair_entry(*, first: int, second: int, group: str, swap: bool, repeat: bool = False) -> dict:
    """A pairwise trial showing the served pair (first, second), sides swapped if `swap`."""
    left, right = (second, first) if swap else (first, second)
    return {
        "stimulus": left,
        "right": right,
        "kind": KIND_PAIR,
        "group": group,
        "side": "right" if swap else "left",
        "repeat": repeat,
    }


def pair_served(entry: Mapping) -> tuple[int, int]:
    """The pair of a pairwise entry in the order the design served it."""
    if entry["side"] == "left":
        return entry["stimulus"], entry["right"]
    return entry["right"], entry["stimulus"]


def entry_stimulus_ids(entry: Mapping) -> tuple[int, ...]:
    """Every stimulus a trial shows: one, or both of a pair."""
    if entry.get("kind") == KIND_PAIR:
        return entry["stimulus"], entry["right"]
    return (entry["stimulus"],)


def checks_insert(
    *, trials: Sequence[dict], checks: Sequence[dict], every: int, rng: random.Random
) -> list[dict]:
    """One of ``checks`` at a random place in each block of ``every`` trials, in order.

    A random place in each block, rather than anywhere, keeps the rate steady through the
    session (the P.910 crowd toolkit's one trap per ten), so a subject who stops attending
    halfway meets a check soon after.
    """
    result = list(trials)
    length = len(trials)
    # Each block's own places (the slot before its first trial up to its last), so two
    # checks never share a place and keep their order.
    places = [
        rng.randint(block * every, min((block + 1) * every - 1, length))
        for block in range(len(checks))
    ]
    # From the last place back, so an insertion never moves a place still to come.
    for place, check in sorted(zip(places, checks, strict=True), key=lambda pair: -pair[0]):
        result.insert(place, check)
    return result


def checks_per_session(*, rating_trials: int, every: int) -> int:
    """One check in every block of ``every`` rating trials, the last partial block included."""
    return math.ceil(rating_trials / every) if every > 0 and rating_trials > 0 else 0
