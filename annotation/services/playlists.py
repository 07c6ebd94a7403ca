"""Per-subject playlists: which stimuli a subject rates, and in which order.

The pure functions build a playlist from assignment counts and a seeded random
generator, so a playlist can be rebuilt and tested without a database.
`playlist_session_start` stores one under a lock on the study row, so that two
subjects starting at the same moment see each other's assignments and the balance
across subjects holds on PostgreSQL too. In an adaptive study the rating trials are the
stimuli whose MOS is least precise (`annotation.services.allocation`), chosen under the
same lock from the ratings and the trials still ahead in unfinished sessions.

Entry shape: see `annotation.playlist_entries`.
"""

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.models import RatingSession, Stimulus, Study, Subject
from annotation.playlist_entries import (
    KIND_GOLD,
    KIND_RATING,
    KIND_TRAINING,
    KIND_TRAP,
    checks_insert,
    checks_per_session,
    playlist_entry,
)
from annotation.services.allocation import adaptive_rating_ids
from annotation.services.pairwise import pairwise_playlist


class PlaylistError(Exception):
    """The study cannot give this subject a playlist; the message is for the subject."""


def playlist_rng(*, study_id: int, subject_id: int) -> random.Random:
    # A string seed is hashed with SHA-512 by `random`, so it is stable across runs
    # and interpreters (unlike hash()), which makes every playlist reproducible.
    return random.Random(f"playlist:{study_id}:{subject_id}")


def assignment_counts(*, playlists: Iterable[Sequence[Mapping]], kind: str) -> Counter:
    """How often each stimulus was given as a first showing of `kind`.

    Repeats are left out: a second showing to the same subject adds no new rater.
    """
    counts: Counter = Counter()
    for playlist in playlists:
        for entry in playlist:
            if entry.get("kind") == kind and not entry.get("repeat"):
                counts[entry["stimulus"]] += 1
    return counts


def stimuli_pick_least_assigned(
    *, stimulus_ids: Sequence[int], counts: Mapping[int, int], n: int, rng: random.Random
) -> list[int]:
    """The `n` stimuli with the fewest assignments so far, ties broken at random.

    Giving every new subject the least-rated stimuli keeps all counts within one of
    each other, so each stimulus reaches the target after ceil(N * target / n)
    subjects and the surplus is below one session.
    """
    # Sorting the ids first makes the tie-break depend on the seed alone.
    ordered = sorted(stimulus_ids)
    tie_break = {stimulus_id: rng.random() for stimulus_id in ordered}
    ordered.sort(key=lambda stimulus_id: (counts.get(stimulus_id, 0), tie_break[stimulus_id]))
    return ordered[: max(n, 0)]


def repeats_insert(*, trials: Sequence[dict], repeats: int, rng: random.Random) -> list[dict]:
    """Show `repeats` rating stimuli a second time, at least half a session after the first.

    Sources come from the early part of the list and each copy goes into a random
    slot at least `(len + repeats) // 2` trials later; where the session is too short
    for that, the earliest stimuli are repeated at the very end, as far apart as
    the session allows.
    """
    rating_positions = [i for i, entry in enumerate(trials) if entry["kind"] == KIND_RATING]
    count = min(repeats, len(rating_positions))
    if count <= 0:
        return list(trials)
    length = len(trials)
    gap = (length + count) // 2
    candidates = [i for i in rating_positions if i + gap <= length]
    if len(candidates) >= count:
        sources = rng.sample(candidates, count)
        # Every slot lies at or after `gap`, past every candidate source, so inserting
        # copies never moves a source and each copy stays >= gap trials after it.
        slots = {source: rng.randint(source + gap, length) for source in sources}
    else:
        sources = rating_positions[:count]
        slots = {source: length for source in sources}
    copies_at: dict[int, list[dict]] = defaultdict(list)
    for source in sorted(sources):
        copies_at[slots[source]].append({**trials[source], "repeat": True})
    result: list[dict] = []
    for slot in range(length + 1):
        group = copies_at.get(slot, [])
        rng.shuffle(group)
        result.extend(group)
        if slot < length:
            result.append(trials[slot])
    return result


def playlist_build(
    *,
    training_ids: Sequence[int],
    rating_ids: Sequence[int],
    gold_ids: Sequence[int],
    repeats: int,
    rng: random.Random,
    trap_ids: Sequence[int] = (),
    gold_every: int = 0,
    trap_every: int = 0,
) -> list[dict]:
    """Training first (in the researcher's order), then rating and gold trials shuffled.

    With ``gold_every``, gold trials are spread one per block of that many trials instead
    of shuffled in; traps (``trap_ids``, in order) are spread one per ``trap_every``.
    """
    main = [playlist_entry(s, KIND_RATING) for s in rating_ids]
    golds = [playlist_entry(s, KIND_GOLD) for s in gold_ids]
    if gold_every:
        rng.shuffle(main)
        main = checks_insert(trials=main, checks=golds, every=gold_every, rng=rng)
    else:
        main += golds
        rng.shuffle(main)
    if trap_ids:
        traps = [playlist_entry(s, KIND_TRAP) for s in trap_ids]
        main = checks_insert(trials=main, checks=traps, every=max(trap_every, 1), rng=rng)
    main = repeats_insert(trials=main, repeats=repeats, rng=rng)
    return [playlist_entry(s, KIND_TRAINING) for s in training_ids] + main


def trap_ids_pick(
    *, trap_ids: Sequence[int], counts: Mapping[int, int], n: int, rng: random.Random
) -> list[int]:
    """``n`` traps, the least shown first; a study with fewer traps shows them again."""
    if not trap_ids or n <= 0:
        return []
    order = stimuli_pick_least_assigned(
        stimulus_ids=trap_ids, counts=counts, n=len(trap_ids), rng=rng
    )
    return [order[i % len(order)] for i in range(n)]


def playlist_for_study(
    *,
    study: Study,
    stimuli: Sequence[tuple[int, str]],
    playlists: Iterable[Sequence[Mapping]],
    rng: random.Random,
    rating_ids: Sequence[int] | None = None,
) -> list[dict]:
    """The playlist a new subject gets, from the study's (id, role) pairs and the
    playlists already handed out; `rating_ids`, when given, are the rating trials already
    chosen (adaptive allocation), else the least-assigned stimuli are taken."""
    playlists = list(playlists)
    by_role: dict[str, list[int]] = defaultdict(list)
    for stimulus_id, role in sorted(stimuli):
        by_role[role].append(stimulus_id)
    if rating_ids is None:
        rating_ids = stimuli_pick_least_assigned(
            stimulus_ids=by_role[Stimulus.Role.NORMAL],
            counts=assignment_counts(playlists=playlists, kind=KIND_RATING),
            n=study.session_size,
            rng=rng,
        )
    gold_count = study.gold_per_session
    if study.gold_every:
        gold_count = checks_per_session(rating_trials=len(rating_ids), every=study.gold_every)
    gold_ids = stimuli_pick_least_assigned(
        stimulus_ids=by_role[Stimulus.Role.GOLD],
        counts=assignment_counts(playlists=playlists, kind=KIND_GOLD),
        n=gold_count,
        rng=rng,
    )
    trap_ids = trap_ids_pick(
        trap_ids=by_role[Stimulus.Role.TRAP],
        counts=assignment_counts(playlists=playlists, kind=KIND_TRAP),
        n=checks_per_session(rating_trials=len(rating_ids), every=study.trap_every),
        rng=rng,
    )
    return playlist_build(
        training_ids=by_role[Stimulus.Role.TRAINING],
        rating_ids=rating_ids,
        gold_ids=gold_ids,
        repeats=study.repeats_per_session,
        rng=rng,
        trap_ids=trap_ids,
        gold_every=study.gold_every,
        trap_every=study.trap_every,
    )


def playlist_session_start(*, subject: Subject) -> RatingSession:
    """Give a consented subject their session; a second call returns the same one."""
    with transaction.atomic():
        # The study row is the lock: session starts of one study run one at a time, so
        # each sees every playlist handed out before it. Ratings never take this lock.
        study = Study.objects.select_for_update().get(pk=subject.study_id)
        existing = RatingSession.objects.filter(subject=subject).first()
        if existing is not None:
            return existing
        rng = playlist_rng(study_id=study.pk, subject_id=subject.pk)
        if study.scale_type == Study.ScaleType.PAIRWISE:
            return _pairwise_session_create(study=study, subject=subject, rng=rng)
        stimuli = list(
            Stimulus.objects.filter(study=study, excluded_from_playlists=False)
            .order_by()
            .values_list("id", "role")
        )
        if not any(role == Stimulus.Role.NORMAL for _, role in stimuli):
            raise PlaylistError(
                "This study has no images to rate yet. Please contact the researcher "
                "who sent you the link."
            )
        rating_ids = None
        if study.allocation == Study.Allocation.ADAPTIVE:
            rating_ids = adaptive_rating_ids(study=study, count=study.session_size, rng=rng)
            if not rating_ids:
                raise PlaylistError(
                    "Every image of this study already has all the ratings it needs. "
                    "Thank you for your interest; there is nothing left to rate."
                )
        playlists = (
            RatingSession.objects.filter(subject__study=study, subject__declined_at__isnull=True)
            .order_by()
            .values_list("playlist", flat=True)
        )
        playlist = playlist_for_study(
            study=study,
            stimuli=stimuli,
            playlists=playlists.iterator(chunk_size=500),
            rng=rng,
            rating_ids=rating_ids,
        )
        return RatingSession.objects.create(
            subject=subject, playlist=playlist, last_activity_at=timezone.now()
        )


def _pairwise_session_create(
    *, study: Study, subject: Subject, rng: random.Random
) -> RatingSession:
    try:
        playlist = pairwise_playlist(study=study, rng=rng)
    except ValidationError as error:
        # A design problem (a group of one image): the subject cannot fix it, but the
        # message tells the researcher they contact what to fix.
        raise PlaylistError(
            "This study cannot show pairs yet: " + " ".join(error.messages)
        ) from None
    return RatingSession.objects.create(
        subject=subject, playlist=playlist, last_activity_at=timezone.now()
    )
