"""The site's analysis options, defined once, and the bridge to the ``analysis`` library.

:class:`AnalysisOptions` is the single definition: every field carries its default and, in
its metadata (:class:`OptionSpec`), its help text, label, choices or bounds. The research
form, the API serializer and the ``study analyse``/``study freeze`` flags are built by
iterating its fields, so a new option is one field here (plus its use in
:func:`pipeline_options_build`).

The analysis library (pandas, scipy) is imported inside the functions that run it, so web
processes that only serve pages and ratings never load it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ValidationError

from analysis import LIBRARY_VERSION
from annotation.models import Study
from annotation.selectors.analysis import ratings_fingerprint
from common.progress import Progress

if TYPE_CHECKING:
    from analysis.pipeline import PipelineOptions, PipelineResult

OPTION_KINDS = ("many", "choice", "integer", "number")


@dataclass(frozen=True)
class OptionSpec:
    """How one option is checked and shown. ``kind``: many (a subset of ``choices``),
    choice (one of ``choices``), integer or number (in ``low..high``)."""

    kind: str
    label: str
    help: str
    choices: tuple[tuple[Any, str], ...] = ()  # (value, label for the research form)
    low: float | None = None
    high: float | None = None

    @property
    def values(self) -> tuple:
        return tuple(value for value, _ in self.choices)


def option(default: Any, **spec: Any) -> Any:
    """A dataclass field of :class:`AnalysisOptions` with its :class:`OptionSpec`."""
    return field(default=default, metadata={"option": OptionSpec(**spec)})


SCREENING_CHOICES = (
    ("bt500", "ITU-R BT.500 (kurtosis-based)"),
    ("correlation", "Correlation with the others' MOS (ITU-T P.913)"),
    ("repeat_consistency", "Repeat consistency (hidden repeats)"),
    ("gold", "Gold stimuli (known answers)"),
)


@dataclass(frozen=True)
class AnalysisOptions:
    """The options a researcher chooses; the defaults are the analysis library's."""

    screening: tuple[str, ...] = option(
        ("bt500",),
        kind="many",
        label="Screening",
        help="subject screening methods, any of bt500, correlation, repeat_consistency, gold; "
        "rejections of the chosen methods are united (none chosen: no screening)",
        choices=SCREENING_CHOICES,
    )
    repeat_policy: str = option(
        "first",
        kind="choice",
        label="Repeated stimuli",
        help="which showing of a repeated stimulus counts: first, mean or all",
        choices=(("first", "First showing"), ("mean", "Mean of showings"), ("all", "All showings")),
    )
    normalisation: str = option(
        "none",
        kind="choice",
        label="Normalisation",
        help="none, or zscore (per subject and dimension, rescaled to the study's scale)",
        choices=(("none", "None (MOS in the study's units)"), ("zscore", "z-score per subject")),
    )
    bt500_ddof: int = option(
        1,
        kind="integer",
        label="BT.500 standard deviation",
        help="BT.500 standard deviation: 1 (the standard's N-1) or 0 (population, sureal)",
        choices=((1, "N−1 (the standard)"), (0, "N (population, as sureal)")),
        low=0,
        high=1,
    )
    correlation_threshold: float = option(
        0.75,
        kind="number",
        label="Correlation below",
        help="correlation screening rejects r below this (0..1)",
        low=0,
        high=1,
    )
    repeat_threshold: float = option(
        0.25,
        kind="number",
        label="Repeat |difference| above (fraction of scale)",
        help="repeat consistency rejects a mean |difference| above this fraction of the scale "
        "(0..1)",
        low=0,
        high=1,
    )
    gold_threshold: float = option(
        0.25,
        kind="number",
        label="Gold |error| above (fraction of scale)",
        help="gold check rejects a mean |error| above this fraction of the scale (0..1)",
        low=0,
        high=1,
    )
    confidence: float = option(
        0.95,
        kind="number",
        label="Confidence level",
        help="confidence level of the MOS intervals (0.5..0.999)",
        low=0.5,
        high=0.999,
    )

    def as_dict(self) -> dict:
        """Plain JSON, as stored on runs and releases (the cache key is hashed from it)."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(self).items()
        }


def option_specs() -> dict[str, OptionSpec]:
    """Every option's spec by name, in declaration order: what forms and flags are built from."""
    return {f.name: f.metadata["option"] for f in dataclasses.fields(AnalysisOptions)}


DEFAULT_OPTIONS: dict = AnalysisOptions().as_dict()
SCREENING_METHODS: tuple[str, ...] = option_specs()["screening"].values


def _names(values) -> str:
    return ", ".join(str(value) for value in values)


def _many(name: str, spec: OptionSpec, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"Option {name} must be a list of method names.")
    unknown = sorted(set(value) - set(spec.values))
    if unknown:
        raise ValidationError(
            f"Unknown {name} method(s): {', '.join(unknown)}; use any of {_names(spec.values)}."
        )
    # Canonical order, so the same choice always hashes to the same cache key.
    return tuple(v for v in spec.values if v in value)


def _choice(name: str, spec: OptionSpec, value: Any) -> str:
    if value not in spec.values:
        raise ValidationError(f"Option {name} must be one of {_names(spec.values)}; got {value!r}.")
    return value


def _number(name: str, spec: OptionSpec, value: Any) -> int | float:
    integer = spec.kind == "integer"
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(f"Option {name} must be a number; got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"Option {name} must be a number; got {value!r}.") from None
    low, high = spec.low, spec.high
    assert low is not None and high is not None
    if not low <= number <= high or (integer and number != int(number)):
        raise ValidationError(f"Option {name} must be {kind} in {low:g}..{high:g}; got {value!r}.")
    return int(number) if integer else number


_CLEANERS: dict[str, Callable[[str, OptionSpec, Any], Any]] = {
    "many": _many,
    "choice": _choice,
    "integer": _number,
    "number": _number,
}


def analysis_options_parse(*, data: Mapping | None) -> AnalysisOptions:
    """Defaults filled in, every value checked, unknown keys refused (a typo must not pass)."""
    data = dict(data or {})
    specs = option_specs()
    unknown = sorted(set(data) - set(specs))
    if unknown:
        raise ValidationError(
            f"Unknown analysis option(s): {', '.join(map(str, unknown))}. "
            f"Known options: {', '.join(specs)}."
        )
    given: dict[str, Any] = {
        name: _CLEANERS[spec.kind](name, spec, data[name])
        for name, spec in specs.items()
        if name in data
    }
    return AnalysisOptions(**given)


def analysis_options_clean(*, data: Mapping | None) -> dict:
    """The checked options as the plain dict stored on runs and releases."""
    return analysis_options_parse(data=data).as_dict()


def analysis_options_hash(*, options: dict) -> str:
    """Cache key of cleaned options; the library version is in it, so an upgrade recomputes."""
    text = json.dumps({"options": options, "library": LIBRARY_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the bridge to the analysis library ----------------------------------------------------


def pipeline_options_build(*, study: Study, options: dict) -> PipelineOptions:
    """The library's typed options for cleaned site options on this study's scale."""
    from analysis.mos import MOSOptions
    from analysis.normalisation import NormalisationOptions
    from analysis.pipeline import PipelineOptions, ScreeningOptions
    from analysis.screening import BT500Options, CorrelationOptions, GoldOptions
    from analysis.screening import RepeatConsistencyOptions as RepeatOptions

    chosen = analysis_options_parse(data=options)
    scale = (float(study.scale_min), float(study.scale_max))
    return PipelineOptions(
        # The values were checked against the same choices the library's Literals name.
        repeat_policy=cast(Any, chosen.repeat_policy),
        screening=ScreeningOptions(
            methods=cast(Any, chosen.screening),
            bt500=BT500Options(ddof=chosen.bt500_ddof),
            correlation=CorrelationOptions(threshold=chosen.correlation_threshold),
            repeat_consistency=RepeatOptions(threshold=chosen.repeat_threshold, scale_range=scale),
            gold=GoldOptions(threshold=chosen.gold_threshold, scale_range=scale),
        ),
        # z-scores are rescaled onto the study's own scale so MOS stay comparable to it.
        normalisation=NormalisationOptions(target_range=scale)
        if chosen.normalisation == "zscore"
        else None,
        mos=MOSOptions(confidence=chosen.confidence),
    )


def pipeline_run(
    *, study: Study, options: dict, snapshot_frame, progress: Progress | None = None
) -> PipelineResult:
    """run_pipeline with the library's complaints about the data turned into ValidationError;
    ``progress`` hears each library step as ``(step, fraction, 1.0)``."""
    from analysis.errors import RatingsError
    from analysis.pipeline import run_pipeline

    def library_progress(step: str, fraction: float) -> None:
        if progress is not None:
            progress(step, fraction, 1.0)

    try:
        return run_pipeline(
            snapshot_frame, pipeline_options_build(study=study, options=options), library_progress
        )
    except RatingsError as exc:
        raise ValidationError(f"The ratings cannot be analysed: {exc}") from None


def study_ratings_required(*, study: Study):
    """The fingerprint of a study's ratings; a study with none is refused, nothing is written."""
    fingerprint = ratings_fingerprint(study=study)
    if fingerprint.count == 0:
        raise ValidationError(
            f"Study {study.slug} has no ratings yet (training ratings do not count)."
        )
    return fingerprint
