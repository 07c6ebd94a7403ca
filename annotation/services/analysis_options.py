"""The site's analysis options, defined once, and the bridge to the ``analysis`` library.

:class:`AnalysisOptions` is the single definition: every field carries its default and, in
its metadata (:class:`OptionSpec`), its help text, label, choices or bounds. The research
form, the API serializer and the ``study analyse``/``study freeze`` flags are built by
iterating its fields, so a new option is one field here (plus its use in
:func:`pipeline_options_build`).

``preset`` chooses the base (``standard``: the standards' choices, ``sureal``: every choice
Netflix SUREAL 0.9.0 makes, :mod:`analysis.presets`); every other option left at its default
keeps the preset's value, one changed from its default overrides it (as flags do in the
analysis command line). The library checks the combined options; its complaint
(:class:`~analysis.errors.OptionsError`) becomes a ``ValidationError`` on the site field
behind the library option.

The analysis library (pandas, scipy) is imported inside the functions that run it, so web
processes that only serve pages and ratings never load it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from analysis import LIBRARY_VERSION
from annotation.models import Study
from annotation.selectors.analysis import ratings_fingerprint
from common.progress import Progress

if TYPE_CHECKING:
    from analysis.normalisation import NormalisationOptions
    from analysis.pairwise import PairwisePipelineOptions, PairwisePipelineResult
    from analysis.pipeline import PipelineOptions, PipelineResult, ScreeningOptions


@dataclass(frozen=True)
class OptionSpec:
    """How one option is checked and shown. ``kind``: many (a subset of ``choices``),
    choice (one of ``choices``), integer or number (in ``low..high``), switch (on/off)."""

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
    ("response_time", "Too-fast answers (response time)"),
)


@dataclass(frozen=True)
class AnalysisOptions:
    """The options a researcher chooses; the defaults are the analysis library's."""

    preset: str = option(
        "standard",
        kind="choice",
        label="Preset",
        help="standard (the standards' choices) or sureal (every choice Netflix SUREAL 0.9.0 "
        "makes); options changed from their default override the preset",
        choices=(("standard", "Standard (ITU-R BT.500 / ITU-T P.910)"), ("sureal", "SUREAL")),
    )
    screening: tuple[str, ...] = option(
        ("bt500",),
        kind="many",
        label="Screening",
        help="subject screening methods, any of bt500, correlation, repeat_consistency, gold, "
        "response_time; rejections of the chosen methods are united (none chosen: no screening)",
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
    bt500_denominator: str = option(
        "rated",
        kind="choice",
        label="BT.500 denominator",
        help="J·K·L of a partial design: rated (the presentations the subject rated) or "
        "presentations (all of the dimension, as SUREAL)",
        choices=(("rated", "Presentations the subject rated"), ("presentations", "All (SUREAL)")),
    )
    bt500_pool_repeats: bool = option(
        False,
        kind="switch",
        label="BT.500 pools repeats",
        help="one BT.500 presentation per stimulus with all its showings (SUREAL) instead of "
        "one per repeat",
    )
    keep_unscreened: bool = option(
        False,
        kind="switch",
        label="Keep unscreened if all rejected",
        help="when screening would reject every subject of a dimension, keep that dimension "
        "unscreened (with a warning) instead of failing the run",
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
    too_fast_seconds: float = option(
        1.0,
        kind="number",
        label="Too fast below (seconds)",
        help="response-time screening: answers quicker than this many seconds are too fast "
        "(above 0, at most 60)",
        low=0,
        high=60,
    )
    too_fast_max_fraction: float = option(
        0.1,
        kind="number",
        label="Too-fast share above",
        help="response-time screening rejects a subject whose share of too-fast answers is "
        "above this (0 <= x < 1)",
        low=0,
        high=1,
    )
    true_score_se: str = option(
        "p910",
        kind="choice",
        label="True-score standard error",
        help="subject model: p910 (P.910 Annex E, each stimulus's own residual spread) or "
        "fisher (Fisher information, the same for every stimulus in a full design)",
        choices=(("p910", "P.910 Annex E"), ("fisher", "Fisher information")),
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


DEFAULT_ANALYSIS_OPTIONS = AnalysisOptions()
DEFAULT_OPTIONS: dict = DEFAULT_ANALYSIS_OPTIONS.as_dict()


def analysis_options_initial(*, study: Study) -> dict:
    """The defaults a study's analysis page starts from: the library's, except the too-fast
    threshold, which is the study's own (``too_fast_ms``) when it has one in range."""
    initial = dict(DEFAULT_OPTIONS)
    seconds = study.too_fast_ms / 1000
    high = option_specs()["too_fast_seconds"].high
    if 0 < seconds <= (high or 0):
        initial["too_fast_seconds"] = seconds
    return initial


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


def _switch(name: str, spec: OptionSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationError(f"Option {name} must be true or false; got {value!r}.")


_CLEANERS: dict[str, Callable[[str, OptionSpec, Any], Any]] = {
    "many": _many,
    "choice": _choice,
    "integer": _number,
    "number": _number,
    "switch": _switch,
}

# The library option (OptionsError.option) -> the site field a researcher changes to fix it.
LIBRARY_FIELDS = {
    "mos.confidence": "confidence",
    "mos.z_constant": "confidence",
    "bt500.ddof": "bt500_ddof",
    "bt500.denominator": "bt500_denominator",
    "correlation.threshold": "correlation_threshold",
    "repeat_consistency.threshold": "repeat_threshold",
    "gold.threshold": "gold_threshold",
    "response_time.min_seconds": "too_fast_seconds",
    "response_time.max_fraction": "too_fast_max_fraction",
    "subject_model.true_score_se": "true_score_se",
    "screening.methods": "screening",
    "repeat_policy": "repeat_policy",
    "preset": "preset",
}


def analysis_options_parse(*, data: Mapping | None) -> AnalysisOptions:
    """Defaults filled in, every value checked, unknown keys refused (a typo must not pass)."""
    chosen = AnalysisOptions(**_given_values(data, option_specs(), kind=""))
    _library_options(chosen, scale=None)  # the library's own checks, on the site's fields
    return chosen


def _given_values(data: Mapping | None, specs: Mapping, *, kind: str) -> dict[str, Any]:
    """The given options, each cleaned by its spec; an unknown key is refused by name."""
    data = dict(data or {})
    unknown = sorted(set(data) - set(specs))
    if unknown:
        raise ValidationError(
            f"Unknown analysis option(s){kind}: {', '.join(map(str, unknown))}. "
            f"Known options: {', '.join(specs)}."
        )
    return {
        name: _CLEANERS[spec.kind](name, spec, data[name])
        for name, spec in specs.items()
        if name in data
    }


def analysis_options_clean(*, data: Mapping | None) -> dict:
    """The checked options as the plain dict stored on runs and releases."""
    return analysis_options_parse(data=data).as_dict()


def analysis_options_hash(*, options: dict) -> str:
    """Cache key of cleaned options; the library version is in it, so an upgrade recomputes."""
    text = json.dumps({"options": options, "library": LIBRARY_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the bridge to the analysis library ----------------------------------------------------


def _changed(chosen: AnalysisOptions, name: str) -> bool:
    """Whether the researcher moved ``name`` off its default (then it overrides the preset)."""
    return bool(getattr(chosen, name) != getattr(DEFAULT_ANALYSIS_OPTIONS, name))


def _overrides(chosen: AnalysisOptions, fields: dict[str, str]) -> dict[str, Any]:
    """``{library field: value}`` for the site options (by name) moved off their default."""
    return {
        library: getattr(chosen, site) for library, site in fields.items() if _changed(chosen, site)
    }


def _library_options(chosen: AnalysisOptions, scale: tuple[float, float] | None) -> PipelineOptions:
    """The preset's options with the changed site options over them, checked by the library.

    ``scale`` is the study's scale (None when only checking options without a study).
    """
    from analysis.errors import OptionsError

    try:
        return _library_options_unchecked(chosen, scale)
    except OptionsError as exc:
        field_name = LIBRARY_FIELDS.get(exc.option)
        message = f"Option {field_name or exc.option}: {exc.problem}."
        raise ValidationError({field_name: [message]} if field_name else message) from None


def _screening_options(
    chosen: AnalysisOptions, base: ScreeningOptions, scale_range: dict
) -> ScreeningOptions:
    """The preset's screening with the changed site options over it; ``scale_range`` is
    ``{"scale_range": (low, high)}`` on a study, else empty."""
    bt500 = dataclasses.replace(
        base.bt500,
        **_overrides(
            chosen,
            {
                "ddof": "bt500_ddof",
                "denominator": "bt500_denominator",
                "pool_repeats": "bt500_pool_repeats",
            },
        ),
    )
    return dataclasses.replace(
        base,
        **_overrides(chosen, {"methods": "screening"}),
        bt500=bt500,
        correlation=dataclasses.replace(
            base.correlation, **_overrides(chosen, {"threshold": "correlation_threshold"})
        ),
        repeat_consistency=dataclasses.replace(
            base.repeat_consistency,
            **_overrides(chosen, {"threshold": "repeat_threshold"}),
            **scale_range,
        ),
        gold=dataclasses.replace(
            base.gold, **_overrides(chosen, {"threshold": "gold_threshold"}), **scale_range
        ),
        response_time=dataclasses.replace(
            base.response_time,
            **_overrides(
                chosen,
                {"min_seconds": "too_fast_seconds", "max_fraction": "too_fast_max_fraction"},
            ),
        ),
        **{"if_all_rejected": "keep_unscreened"} if chosen.keep_unscreened else {},
    )


def _normalisation_options(
    chosen: AnalysisOptions, base: NormalisationOptions | None, scale: tuple[float, float] | None
) -> NormalisationOptions | None:
    if not _changed(chosen, "normalisation"):
        return base
    if chosen.normalisation != "zscore":
        return None
    from analysis.normalisation import NormalisationOptions

    # z-scores are rescaled onto the study's own scale so MOS stay comparable to it.
    return NormalisationOptions(**({"target_range": scale} if scale is not None else {}))


def _library_options_unchecked(
    chosen: AnalysisOptions, scale: tuple[float, float] | None
) -> PipelineOptions:
    from analysis.presets import preset_options

    base = preset_options(chosen.preset)
    scale_range = {"scale_range": scale} if scale is not None else {}
    screening = _screening_options(chosen, base.screening, scale_range)
    normalisation = _normalisation_options(chosen, base.normalisation, scale)
    subject_model = base.subject_model
    if subject_model is not None:
        subject_model = dataclasses.replace(
            subject_model, **_overrides(chosen, {"true_score_se": "true_score_se"})
        )
    return dataclasses.replace(
        base,
        **_overrides(chosen, {"repeat_policy": "repeat_policy"}),
        screening=screening,
        normalisation=normalisation,
        mos=dataclasses.replace(base.mos, **_overrides(chosen, {"confidence": "confidence"})),
        subject_model=subject_model,
    )


def pipeline_options_build(*, study: Study, options: dict) -> PipelineOptions:
    """The library's typed options for cleaned site options on this study's scale."""
    chosen = analysis_options_parse(data=options)
    return _library_options(chosen, scale=(float(study.scale_min), float(study.scale_max)))


def pipeline_run(
    *, study: Study, options: dict, snapshot_frame, progress: Progress | None = None
) -> PipelineResult:
    """run_pipeline with the library's complaints about the data turned into ValidationError;
    ``progress`` hears each library step as ``(step, steps_done, steps_total)``."""
    from analysis.errors import AllSubjectsRejectedError, RatingsError
    from analysis.pipeline import run_pipeline

    try:
        return run_pipeline(
            snapshot_frame, pipeline_options_build(study=study, options=options), progress
        )
    except AllSubjectsRejectedError as exc:
        raise ValidationError(
            f"Screening leaves nothing to analyse: {exc}. Choose other screening options, or "
            "'Keep unscreened if all rejected' to analyse such a dimension unscreened."
        ) from None
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


# --- pairwise studies ----------------------------------------------------------------------


@dataclass(frozen=True)
class PairwiseAnalysisOptions:
    """The options of a pairwise study's analysis; the defaults are the analysis library's
    (:class:`analysis.pairwise.PairwisePipelineOptions`)."""

    method: str = option(
        "thurstone",
        kind="choice",
        label="Scaling",
        help="thurstone (Case V, JOD units, pwcmp) or bradley_terry (maximum likelihood, JOD)",
        choices=(("thurstone", "Thurstone Case V (pwcmp)"), ("bradley_terry", "Bradley-Terry")),
    )
    prior: str = option(
        "gaussian",
        kind="choice",
        label="Thurstone prior",
        help="gaussian (pwcmp's distance prior) or none (plain maximum likelihood, as SUREAL)",
        choices=(("gaussian", "pwcmp distance prior"), ("none", "None (plain ML, as SUREAL)")),
    )
    bt_alpha: float = option(
        0.0,
        kind="number",
        label="Bradley-Terry regularisation",
        help="alpha * sum(s²) in logit units; above 0 a stimulus that never loses still scales",
        low=0.0,
        high=100.0,
    )
    bootstrap_resamples: int = option(
        500,
        kind="integer",
        label="Bootstrap resamples",
        help="subject-bootstrap resamples for the confidence intervals; 0: no intervals",
        low=0,
        high=5000,
    )
    confidence: float = option(
        0.95,
        kind="number",
        label="Confidence level",
        help="level of the bootstrap percentile intervals",
        low=0.5,
        high=0.999,
    )
    keep_rejected: bool = option(
        False,
        kind="switch",
        label="Keep rejected subjects",
        help="report the screening but scale every subject's answers",
    )
    keep_too_fast: bool = option(
        False,
        kind="switch",
        label="Keep too-fast answers",
        help="scale answers flagged too fast too (by default they are left out)",
    )
    max_repeat_inconsistency: float = option(
        0.4,
        kind="number",
        label="Repeats: changed preference above",
        help="reject a subject who changes preference on more than this share of swapped repeats",
        low=0.0,
        high=1.0,
    )
    max_circular_share: float = option(
        0.15,
        kind="number",
        label="Circular triads above",
        help="reject a subject with more than this share of circular triads",
        low=0.0,
        high=1.0,
    )
    outlier_distance: float = option(
        1.5,
        kind="number",
        label="Outlier distance above",
        help="reject a subject whose likelihood lies more than this many IQRs below Q1 (pwcmp)",
        low=0.0,
        high=20.0,
    )

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def pairwise_option_specs() -> dict[str, OptionSpec]:
    return {f.name: f.metadata["option"] for f in dataclasses.fields(PairwiseAnalysisOptions)}


PAIRWISE_DEFAULT_OPTIONS: dict = PairwiseAnalysisOptions().as_dict()
PAIRWISE_LIBRARY_FIELDS = {
    "scaling.method": "method",
    "bootstrap.n_resamples": "bootstrap_resamples",
    "bootstrap.confidence": "confidence",
    "bradley_terry.alpha": "bt_alpha",
    "pairwise_screening.max_repeat_inconsistency": "max_repeat_inconsistency",
    "pairwise_screening.max_circular_share": "max_circular_share",
    "pairwise_screening.outlier_distance": "outlier_distance",
}


def pairwise_options_parse(*, data: Mapping | None) -> PairwiseAnalysisOptions:
    """Defaults filled in, every value checked, unknown keys refused, as for ratings."""
    chosen = PairwiseAnalysisOptions(
        **_given_values(data, pairwise_option_specs(), kind=" for a pairwise study")
    )
    pairwise_pipeline_options_build(options=chosen.as_dict())
    return chosen


def pairwise_pipeline_options_build(*, options: Mapping) -> PairwisePipelineOptions:
    """The library's typed options for cleaned pairwise site options (checked by it)."""
    from analysis.errors import OptionsError
    from analysis.pairwise import (
        BootstrapOptions,
        BradleyTerryOptions,
        PairwisePipelineOptions,
        PairwiseScreeningOptions,
        ScalingOptions,
        ThurstoneOptions,
    )

    chosen = {**PAIRWISE_DEFAULT_OPTIONS, **options}
    try:
        resamples = int(chosen["bootstrap_resamples"])
        return PairwisePipelineOptions(
            scaling=ScalingOptions(
                method=chosen["method"],
                thurstone=ThurstoneOptions(prior=chosen["prior"]),
                bradley_terry=BradleyTerryOptions(alpha=float(chosen["bt_alpha"])),
            ),
            bootstrap=(
                BootstrapOptions(n_resamples=resamples, confidence=float(chosen["confidence"]))
                if resamples
                else None
            ),
            screening=PairwiseScreeningOptions(
                max_repeat_inconsistency=float(chosen["max_repeat_inconsistency"]),
                max_circular_share=float(chosen["max_circular_share"]),
                outlier_distance=float(chosen["outlier_distance"]),
            ),
            apply_screening=not chosen["keep_rejected"],
            exclude_too_fast=not chosen["keep_too_fast"],
        )
    except OptionsError as exc:
        field_name = PAIRWISE_LIBRARY_FIELDS.get(exc.option)
        message = f"Option {field_name or exc.option}: {exc.problem}."
        raise ValidationError({field_name: [message]} if field_name else message) from None


def study_is_pairwise(study: Study) -> bool:
    return study.scale_type == Study.ScaleType.PAIRWISE


def study_options_clean(*, study: Study, data: Mapping | None) -> dict:
    """The checked options of this study's kind of analysis, as stored on its runs."""
    if study_is_pairwise(study):
        return pairwise_options_parse(data=data).as_dict()
    return analysis_options_clean(data=data)


def study_options_initial(*, study: Study) -> dict:
    if study_is_pairwise(study):
        return dict(PAIRWISE_DEFAULT_OPTIONS)
    return analysis_options_initial(study=study)


def pairwise_run(
    *, options: dict, choices_frame, progress: Progress | None = None
) -> PairwisePipelineResult:
    """pairwise_pipeline_run with the library's complaints turned into ValidationError."""
    from analysis.errors import AllSubjectsRejectedError, RatingsError
    from analysis.pairwise import pairwise_pipeline_run

    try:
        return pairwise_pipeline_run(
            choices_frame, pairwise_pipeline_options_build(options=options), progress
        )
    except AllSubjectsRejectedError as exc:
        raise ValidationError(
            f"Screening leaves nothing to analyse: {exc}. Relax the screening thresholds, or "
            "'Keep rejected subjects'."
        ) from None
    except RatingsError as exc:
        raise ValidationError(f"The choices cannot be analysed: {exc}") from None


def study_choices_required(*, study: Study):
    """The fingerprint of a pairwise study's choices; a study with none is refused."""
    from annotation.selectors.analysis import pairwise_choices_fingerprint

    fingerprint = pairwise_choices_fingerprint(study=study)
    if fingerprint.count == 0:
        raise ValidationError(f"Study {study.slug} has no pairwise choices yet.")
    return fingerprint
