"""Reads for the subject-facing pages: who the token belongs to, where they are, what to show."""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.core.exceptions import ObjectDoesNotExist

from annotation.models import Dimension, RatingSession, Stimulus, Study, Subject
from annotation.playlist_entries import (
    KIND_PAIR,
    KIND_TRAINING,
    entry_stimulus_ids,
    training_count,
)
from annotation.tokens import token_hash

STAGE_DECLINED = "declined"
STAGE_DONE = "done"
STAGE_NOT_OPEN = "not_open"
STAGE_CONSENT = "consent"
STAGE_INSTRUCTIONS = "instructions"
STAGE_TRIAL = "trial"
# A recruited session released after idling (annotation.services.recruitment).
STAGE_RELEASED = "released"
# Failed the qualification (annotation.services.quality): screened out with its own code.
STAGE_SCREENED_OUT = "screened_out"


# What the subject pages read; the study's free-form metadata (the demo keeps its whole
# simulation there) and other researcher-only columns stay in the database.
_SUBJECT_PAGE_FIELDS = (
    "id",
    "label",
    "consented_at",
    "declined_at",
    "study__id",
    "study__name",
    "study__status",
    "study__consent_text",
    "study__instructions",
    "study__scale_type",
    "study__scale_min",
    "study__scale_max",
    "study__scale_step",
    "study__scale_labels",
    "study__break_interval",
    "study__pairwise_no_preference",
    "study__language",
    "study__surround_grey",
    "study__allow_small_screens",
    "study__viewing_distance_text",
    "study__updated_at",
    "study__recruitment_platform",
    "study__completion_url",
    "study__completion_code_crowd",
    "study__screened_out_code",
    "study__qualification_enabled",
    "study__qualification_attempts",
    "study__qualification_tolerance",
    "study__qualification_failed_code",
    "study__max_duration_minutes",
    "study__timed_out_code",
    "platform",
    "platform_session_id",
    "platform_submit_to",
    "session__id",
    "session__playlist",
    "session__cursor",
    "session__completed_at",
    "session__completion_code",
    "session__display_check",
    "session__released_at",
    "session__ended_reason",
    "session__started_at",
)


def subject_for_token(*, token: str) -> Subject | None:
    """The subject with their study and session (if started), in one query.

    Every subject page runs this first, so it reads only the columns the pages use.
    """
    try:
        return (
            Subject.objects.select_related("study", "session")
            .only(*_SUBJECT_PAGE_FIELDS)
            .get(token_hash=token_hash(token))
        )
    except Subject.DoesNotExist:
        return None


def subject_session(*, subject: Subject) -> RatingSession | None:
    try:
        return subject.session
    except ObjectDoesNotExist:
        return None


def subject_stage(*, subject: Subject) -> str:
    """Which page the subject belongs on now; the order of the checks is the rule."""
    if subject.declined_at is not None:
        return STAGE_DECLINED
    session = subject_session(subject=subject)
    if session is not None and session.is_complete:
        return STAGE_DONE
    if session is not None and session.released_at is not None:
        if session.ended_reason == RatingSession.Ended.QUALIFICATION:
            return STAGE_SCREENED_OUT
        return STAGE_RELEASED
    if subject.study.status != Study.Status.OPEN:
        return STAGE_NOT_OPEN
    if session is None or subject.consented_at is None:
        return STAGE_CONSENT
    if session.cursor == 0:
        return STAGE_INSTRUCTIONS
    return STAGE_TRIAL


@dataclass(frozen=True)
class DimensionView:
    id: int
    key: str
    label: str
    question: str
    anchor_text: str


@lru_cache(maxsize=128)
def _dimensions_of_version(study_id: int, version: datetime) -> tuple[DimensionView, ...]:
    rows = (
        Dimension.objects.filter(study_id=study_id)
        .order_by("order", "id")
        .values_list("id", "key", "label", "question", "anchor_text")
    )
    return tuple(DimensionView(*row) for row in rows)


def study_dimensions(*, study: Study) -> tuple[DimensionView, ...]:
    """The study's dimensions, read once per version of the study in each process.

    Every page and submission of a running study needs them, and they change only
    through the study's own edit (`study_update` and the admin both save the study,
    moving `updated_at`), so the study row's version is a safe cache key.
    """
    return _dimensions_of_version(study.pk, study.updated_at)


@dataclass(frozen=True)
class TrialPage:
    index: int
    total: int
    kind: str
    repeat: bool
    stimulus: Stimulus
    next_stimulus: Stimulus | None
    training_total: int

    @property
    def is_training(self) -> bool:
        return self.kind == KIND_TRAINING

    @property
    def number(self) -> int:
        """1-based position within its part: training trials, then rating trials."""
        if self.is_training:
            return self.index + 1
        return self.index - self.training_total + 1

    @property
    def part_total(self) -> int:
        return self.training_total if self.is_training else self.total - self.training_total


def trial_page_get(*, playlist: list[dict], trial_index: int) -> TrialPage:
    """The trial at `trial_index` of a session's playlist, with the next one (to preload)."""
    entry = playlist[trial_index]
    wanted = [entry["stimulus"]]
    following = playlist[trial_index + 1]["stimulus"] if trial_index + 1 < len(playlist) else None
    if following is not None:
        wanted.append(following)
    # Only what the page and its preload show; a training trial's anchor is read by the
    # submission that answers it (`sessions._feedback`), not here.
    stimuli = {
        stimulus.pk: stimulus
        for stimulus in Stimulus.objects.filter(pk__in=wanted)
        .order_by()
        .only("id", "image", "width", "height", "prompt", "reference_image")
    }
    return TrialPage(
        index=trial_index,
        total=len(playlist),
        kind=entry["kind"],
        repeat=bool(entry.get("repeat")),
        stimulus=stimuli[entry["stimulus"]],
        next_stimulus=stimuli.get(following) if following is not None else None,
        training_total=training_count(playlist=playlist),
    )


def is_pair_trial(*, playlist: list[dict], trial_index: int) -> bool:
    return 0 <= trial_index < len(playlist) and playlist[trial_index]["kind"] == KIND_PAIR


@dataclass(frozen=True)
class PairTrialPage:
    """A pairwise trial: the two images as shown (left, right), and the next trial's."""

    index: int
    total: int
    repeat: bool
    left: Stimulus
    right: Stimulus
    preload: tuple[Stimulus, ...]
    # A training pair: the answer is followed by the expected one.
    training: bool = False


def pair_trial_page_get(*, playlist: list[dict], trial_index: int) -> PairTrialPage:
    entry = playlist[trial_index]
    following = (
        entry_stimulus_ids(playlist[trial_index + 1]) if trial_index + 1 < len(playlist) else ()
    )
    stimuli = {
        stimulus.pk: stimulus
        for stimulus in Stimulus.objects.filter(pk__in=[*entry_stimulus_ids(entry), *following])
        .order_by()
        .only("id", "image", "width", "height", "prompt")
    }
    return PairTrialPage(
        index=trial_index,
        total=len(playlist),
        repeat=bool(entry.get("repeat")),
        left=stimuli[entry["stimulus"]],
        right=stimuli[entry["right"]],
        preload=tuple(stimuli[stimulus_id] for stimulus_id in following),
        training=entry.get("stage") == "training",
    )


def display_check_needed(*, session: RatingSession) -> bool:
    """The display check comes before the first trial; sessions already under way skip it."""
    return session.cursor == 0 and not session.display_check


def session_stimulus_for_image(*, session: RatingSession, stimulus_id: int) -> Stimulus | None:
    """The stimulus if it is in this session's playlist; anything else stays unseen."""
    if not any(stimulus_id in entry_stimulus_ids(entry) for entry in session.playlist):
        return None
    return (
        Stimulus.objects.filter(pk=stimulus_id)
        .only("id", "image", "reference_image")
        .order_by()
        .first()
    )


@dataclass(frozen=True)
class BreakInfo:
    done: int
    total: int


def break_info(*, session: RatingSession) -> BreakInfo:
    trained = training_count(playlist=session.playlist)
    return BreakInfo(done=session.cursor - trained, total=len(session.playlist) - trained)
