"""A subject's way through a rating session: consent, trials, breaks and completion.

`trial_submit` is the hot path of a running study. It locks the subject's session
row, checks the submission against the server-side playlist, stores all dimensions
of the trial in one INSERT and advances the cursor in the same transaction, so a
rating is committed before it is acknowledged and a retry is answered from what
was stored instead of writing a second row.
"""

import functools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.errors import ScoreOutOfRange, SessionRejected
from annotation.models import Rating, RatingSession, Stimulus, Study, Subject
from annotation.playlist_entries import KIND_PAIR, KIND_TRAINING, KIND_TRAP, training_count
from annotation.selectors.subject import DimensionView, study_dimensions
from annotation.services.playlists import PlaylistError, playlist_session_start
from annotation.services.quality import (
    OUTCOME_FAILED,
    attempt_conclude,
    check_record,
    is_past_max_duration,
    is_qualification_end,
    qualification_tolerance,
    session_end_early,
)
from annotation.services.scores import score_validate
from annotation.tokens import token_hash

# The columns a submission reads: the playlist and cursor, and the study's scale.
_SUBMIT_FIELDS = (
    "id",
    "playlist",
    "cursor",
    "subject__id",
    "subject__study__id",
    "subject__study__status",
    "subject__study__scale_min",
    "subject__study__scale_max",
    "subject__study__scale_step",
    "subject__study__break_interval",
    "subject__study__too_fast_ms",
    "subject__study__pairwise_no_preference",
    "subject__study__updated_at",
    "subject__study__qualification_enabled",
    "subject__study__qualification_attempts",
    "subject__study__qualification_tolerance",
    "subject__study__max_duration_minutes",
    "started_at",
    "completed_at",
    "released_at",
)


@dataclass(frozen=True)
class NextStep:
    """Where the subject goes after a trial: "trial", "break" (then that trial), "done",
    "qualification" (the result of a try at the qualification, then that trial) or "ended"
    (the session was ended early: past its maximum duration)."""

    kind: str
    trial_index: int | None = None


@dataclass(frozen=True)
class TrialAck:
    """What a stored trial answers; rebuilt from stored state, so a retry gets the same."""

    trial_index: int
    ratings: int
    next_step: NextStep
    feedback: dict | None = None
    # The session's playlist as read under the lock, so the caller can describe the next
    # trial without reading the session again.
    playlist: list[dict] = field(default_factory=list, compare=False, repr=False)

    @property
    def complete(self) -> bool:
        return self.next_step.kind == "done"


def is_break_before(*, playlist: list[dict], trial_index: int, break_interval: int) -> bool:
    """A break comes after every `break_interval` rating trials (training not counted)."""
    if break_interval <= 0 or trial_index >= len(playlist):
        return False
    done = trial_index - training_count(playlist=playlist)
    return done > 0 and done % break_interval == 0


def is_too_fast(*, response_time_ms: int | None, threshold_ms: int) -> bool:
    """An answer quicker than the study's threshold (0 switches the flag off)."""
    return threshold_ms > 0 and response_time_ms is not None and response_time_ms < threshold_ms


def next_step_after(*, playlist: list[dict], trial_index: int, break_interval: int) -> NextStep:
    following = trial_index + 1
    if following >= len(playlist):
        return NextStep("done")
    if is_break_before(playlist=playlist, trial_index=following, break_interval=break_interval):
        return NextStep("break", following)
    return NextStep("trial", following)


def _step_after(*, study: Study, playlist: list[dict], trial_index: int) -> NextStep:
    if is_qualification_end(study=study, playlist=playlist, trial_index=trial_index):
        return NextStep("qualification", trial_index + 1)
    return next_step_after(
        playlist=playlist, trial_index=trial_index, break_interval=study.break_interval
    )


def completion_code_new() -> str:
    raw = secrets.token_hex(4).upper()
    return f"{raw[:4]}-{raw[4:]}"


def _rejected_for_missing_session(token: str) -> SessionRejected:
    subject = Subject.objects.filter(token_hash=token_hash(token)).first()
    if subject is None:
        return SessionRejected(
            _("This invite link is not valid. Check that you copied the whole link."),
            code="unknown_invite",
        )
    if subject.declined_at is not None:
        return SessionRejected(
            _("You declined to take part in this study, so nothing can be rated."), code="declined"
        )
    return SessionRejected(
        _("Please read and accept the consent form before rating."), code="not_consented"
    )


def subject_consent_accept(*, subject: Subject) -> RatingSession:
    """Record consent (once) and start the session with its playlist."""
    study_open_required(subject.study)
    with transaction.atomic():
        now = timezone.now()
        # Conditional updates: a decline in another tab can never be overwritten.
        Subject.objects.filter(
            pk=subject.pk, consented_at__isnull=True, declined_at__isnull=True
        ).update(consented_at=now)
        current = Subject.objects.get(pk=subject.pk)
        if current.declined_at is not None:
            raise SessionRejected(
                _("You declined to take part in this study, so it cannot be started."),
                code="declined",
            )
        try:
            return playlist_session_start(subject=current)
        except PlaylistError as error:
            raise SessionRejected(str(error), code="empty_study") from None


def subject_consent_decline(*, subject: Subject) -> Subject:
    """Record a decline; a subject who already consented keeps their session."""
    Subject.objects.filter(
        pk=subject.pk, consented_at__isnull=True, declined_at__isnull=True
    ).update(declined_at=timezone.now())
    return Subject.objects.get(pk=subject.pk)


# The display check's fields: name -> (type, smallest, largest).
_DISPLAY_CHECK_NUMBERS = {
    "window_width": (int, 1, 100_000),
    "window_height": (int, 1, 100_000),
    "screen_width": (int, 1, 100_000),
    "screen_height": (int, 1, 100_000),
    "device_pixel_ratio": (float, 0.1, 16.0),
}
_DISPLAY_CHECK_FLAGS = ("fullscreen", "grey_steps_distinguishable")


def _display_check_clean(raw: Mapping[str, object]) -> dict:
    clean: dict = {}
    for name, (kind, low, high) in _DISPLAY_CHECK_NUMBERS.items():
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SessionRejected(f"{name} must be a number.", code="bad_display_check")
        if not low <= value <= high:
            raise SessionRejected(
                f"{name}={value!r} is outside {low}..{high}.", code="bad_display_check"
            )
        clean[name] = kind(round(value) if kind is int else round(float(value), 4))
    for name in _DISPLAY_CHECK_FLAGS:
        if not isinstance(raw.get(name), bool):
            raise SessionRejected(f"{name} must be true or false.", code="bad_display_check")
        clean[name] = raw[name]
    if not clean["grey_steps_distinguishable"]:
        raise SessionRejected(
            _("Please confirm that you can tell every grey step apart."), code="grey_steps"
        )
    return clean


def display_check_record(*, subject: Subject, check: Mapping[str, object]) -> RatingSession:
    """Store the display check of a started session, with the viewing text the subject saw.

    It may be repeated before the first trial (a subject who changed the window); once
    rating has started the stored check stays as it was.
    """
    clean = _display_check_clean(check)
    study = subject.study
    clean.update(
        viewing_distance_text=study.viewing_distance_text,
        surround_grey=study.surround_grey,
        language=study.language,
        checked_at=timezone.now().isoformat(),
    )
    updated = RatingSession.objects.filter(subject_id=subject.pk, cursor=0).update(
        display_check=clean
    )
    session = RatingSession.objects.filter(subject_id=subject.pk).first()
    if session is None:
        raise SessionRejected(
            _("Please read and accept the consent form first."), code="not_consented"
        )
    if not updated:
        raise SessionRejected(
            _("Rating has already started; the display check was kept as it was."),
            code="display_check_closed",
        )
    return session


def _scores_validate(
    *, study: Study, dimensions: tuple[DimensionView, ...], scores: Mapping[str, object]
) -> dict[int, float]:
    """Scores keyed by dimension id; every dimension of the study must be rated at once."""
    keys = [dimension.key for dimension in dimensions]
    missing = [key for key in keys if key not in scores]
    unknown = sorted(str(key) for key in scores if key not in keys)
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown))
        raise SessionRejected(
            f"Rate every question of this study ({', '.join(keys)}): {'; '.join(parts)}.",
            code="dimension_keys",
        )
    values = {}
    for dimension in dimensions:
        try:
            values[dimension.id] = score_validate(study=study, score=scores[dimension.key])
        except ScoreOutOfRange as error:
            raise SessionRejected(f"{dimension.key}: {error.message}", code=error.code) from None
    return values


def _feedback(
    *, study: Study, entry: dict, stimulus_id: int, dimensions: tuple[DimensionView, ...]
) -> dict | None:
    """Training trials answer with the anchor: why the image deserves its scores (and, in a
    qualification, how far from them an answer may lie)."""
    if entry["kind"] != KIND_TRAINING:
        return None
    anchor = (
        Stimulus.objects.filter(pk=stimulus_id)
        .order_by()
        .values("explanation", "expected_scores")[0]
    )
    expected = anchor["expected_scores"] or {}
    feedback = {
        "explanation": anchor["explanation"],
        "expected": {d.key: expected[d.key] for d in dimensions if d.key in expected},
    }
    if study.qualification_enabled:
        feedback["tolerance"] = qualification_tolerance(study)
    return feedback


def _replay_ack_or_conflict(
    *, session: RatingSession, trial_index: int, stimulus_id: int, values: dict[int, float]
) -> None:
    stored = {
        dimension_id: (score, stored_stimulus)
        for dimension_id, score, stored_stimulus in Rating.objects.filter(
            session=session, trial_index=trial_index
        )
        .order_by()
        .values_list("dimension_id", "score", "stimulus_id")
    }
    wanted = {dimension_id: (score, stimulus_id) for dimension_id, score in values.items()}
    if stored != wanted:
        raise SessionRejected(
            f"Trial {trial_index} was already rated with other scores; "
            "a stored rating cannot be changed.",
            code="rating_conflict",
        )


def session_locked(token: str) -> RatingSession:
    # Locks only this subject's session row (not the subject or study), so
    # subjects never wait for each other and a double submit waits for the first.
    try:
        return (
            RatingSession.objects.select_related("subject__study")
            .only(*_SUBMIT_FIELDS)
            .select_for_update(of=("self",), no_key=True)
            .get(subject__token_hash=token_hash(token))
        )
    except RatingSession.DoesNotExist:
        raise _rejected_for_missing_session(token) from None


def _playlist_entry(*, playlist: list[dict], trial_index: int, stimulus_id: int) -> dict:
    """The session's trial at `trial_index`, which must show the submitted image."""
    if not 0 <= trial_index < len(playlist):
        raise SessionRejected(
            f"This session has no trial {trial_index} (it has {len(playlist)}).",
            code="no_such_trial",
        )
    entry = playlist[trial_index]
    if entry["kind"] == KIND_PAIR:
        raise SessionRejected(
            f"Trial {trial_index} compares two images: answer it with a choice, not a score.",
            code="pair_not_served",
        )
    if entry["stimulus"] != stimulus_id:
        raise SessionRejected(
            f"Trial {trial_index} of this session shows another image; "
            "this answer belongs to a different session.",
            code="foreign_trial",
        )
    return entry


def cursor_reached(*, session: RatingSession, trial_index: int) -> None:
    if trial_index > session.cursor:
        raise SessionRejected(
            f"Trial {trial_index} is not open yet; the current trial is {session.cursor}.",
            code="out_of_order",
            current_trial=session.cursor,
        )


def study_open_required(study: Study) -> None:
    if study.status != Study.Status.OPEN:
        raise SessionRejected(_("This study is not open for ratings."), code="study_not_open")


def _ratings_create(
    *,
    session: RatingSession,
    entry: dict,
    trial_index: int,
    stimulus_id: int,
    values: dict[int, float],
    response_time_ms: int,
) -> None:
    """All dimensions of the trial in one INSERT."""
    too_fast = is_too_fast(
        response_time_ms=response_time_ms, threshold_ms=session.subject.study.too_fast_ms
    )
    Rating.objects.bulk_create(
        Rating(
            session_id=session.pk,
            stimulus_id=stimulus_id,
            dimension_id=dimension_id,
            score=score,
            trial_index=trial_index,
            is_repeat=bool(entry.get("repeat")),
            is_training=entry["kind"] in (KIND_TRAINING, KIND_TRAP),
            response_time_ms=response_time_ms,
            too_fast=too_fast,
        )
        for dimension_id, score in values.items()
    )


def cursor_advance(
    *, session: RatingSession, trial_index: int, complete: bool, extra: dict | None = None
) -> None:
    now = timezone.now()
    fields: dict = {"cursor": trial_index + 1, "last_activity_at": now, **(extra or {})}
    if complete:
        fields.update(completed_at=now, completion_code=completion_code_new())
    # "Still at this trial" is part of the update, so the cursor can only ever move
    # one step past a trial whose rows were written in this transaction.
    if not RatingSession.objects.filter(pk=session.pk, cursor=trial_index).update(**fields):
        raise SessionRejected(
            _("This trial was answered at the same time elsewhere; reload the page."),
            code="out_of_order",
        )


def _quality_after_trial(
    *,
    session: RatingSession,
    study: Study,
    entry: dict,
    trial_index: int,
    scores_by_key: dict[str, float],
    record: bool,
) -> dict:
    """Record the trial's check; at the end of a qualification try, what the session's row
    must change to (a new playlist for another try, or the end of a failed subject)."""
    if record:
        check_record(
            session=session, study=study, entry=entry, trial_index=trial_index, scores=scores_by_key
        )
    playlist = session.playlist
    if not is_qualification_end(study=study, playlist=playlist, trial_index=trial_index):
        return {}
    result = attempt_conclude(
        session=session, study=study, playlist=playlist, trial_index=trial_index
    )
    changes: dict = {}
    if result.playlist != playlist:
        changes["playlist"] = result.playlist
    if result.outcome == OUTCOME_FAILED:
        changes.update(released_at=timezone.now(), ended_reason=RatingSession.Ended.QUALIFICATION)
    return changes


def ended_ack(session: RatingSession, trial_index: int) -> TrialAck:
    """Past the maximum duration: the session ends now and this answer is not stored."""
    session_end_early(session_id=session.pk, reason=RatingSession.Ended.MAX_DURATION)
    return TrialAck(trial_index=trial_index, ratings=0, next_step=NextStep("ended"))


def _submit_once(
    *,
    token: str,
    trial_index: int,
    stimulus_id: int,
    scores: Mapping[str, object],
    response_time_ms: int,
    rows_may_exist: bool,
) -> TrialAck:
    with transaction.atomic():
        session = session_locked(token)
        study = session.subject.study
        playlist = session.playlist
        entry = _playlist_entry(playlist=playlist, trial_index=trial_index, stimulus_id=stimulus_id)
        dimensions = study_dimensions(study=study)
        values = _scores_validate(study=study, dimensions=dimensions, scores=scores)
        ack = TrialAck(
            trial_index=trial_index,
            ratings=len(values),
            next_step=_step_after(study=study, playlist=playlist, trial_index=trial_index),
            feedback=_feedback(
                study=study, entry=entry, stimulus_id=stimulus_id, dimensions=dimensions
            ),
            playlist=playlist,
        )
        cursor_reached(session=session, trial_index=trial_index)
        replay = trial_index < session.cursor
        if replay or rows_may_exist:
            _replay_ack_or_conflict(
                session=session, trial_index=trial_index, stimulus_id=stimulus_id, values=values
            )
            if replay:
                return ack
        study_open_required(study)
        if is_past_max_duration(session=session, study=study):
            return ended_ack(session, trial_index)
        if not rows_may_exist:
            _ratings_create(
                session=session,
                entry=entry,
                trial_index=trial_index,
                stimulus_id=stimulus_id,
                values=values,
                response_time_ms=response_time_ms,
            )
        changes = _quality_after_trial(
            session=session,
            study=study,
            entry=entry,
            trial_index=trial_index,
            scores_by_key={d.key: values[d.id] for d in dimensions},
            record=not rows_may_exist,
        )
        cursor_advance(
            session=session, trial_index=trial_index, complete=ack.complete, extra=changes
        )
        if "playlist" in changes:
            ack = TrialAck(**{**ack.__dict__, "playlist": changes["playlist"]})
        return ack


def trial_submit(
    *,
    token: str,
    trial_index: int,
    stimulus_id: int,
    scores: Mapping[str, object],
    response_time_ms: int,
) -> TrialAck:
    """Store all dimensions of one trial and advance the session; idempotent.

    The fields are a `TrialSubmission` (`services.submissions`), whose parse checked
    their shape. A retry with the same scores gets the same acknowledgement and writes
    nothing; different scores for a stored trial, a trial ahead of the cursor, or an
    image that is not this session's raise `SessionRejected`.
    """
    submit = functools.partial(
        _submit_once,
        token=token,
        trial_index=trial_index,
        stimulus_id=stimulus_id,
        scores=scores,
        response_time_ms=response_time_ms,
    )
    try:
        return submit(rows_may_exist=False)
    except IntegrityError:
        # Rows for a trial the cursor had not passed: written outside this service
        # (e.g. `rating_record`). Accept them if they match, as a replay would be.
        return submit(rows_may_exist=True)
