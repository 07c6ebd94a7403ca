"""Named option sets: ``standard`` (the library's defaults) and ``sureal``.

``sureal`` makes every choice Netflix SUREAL 0.9.0 makes, so that the MOS, BT.500 screening
and subject-model outputs equal SUREAL's (golden tests in ``tests/test_sureal_golden.py``):

=========================  ==============================================================
SUREAL 0.9.0               library option
=========================  ==============================================================
``BT500Model`` (MOS after  ``screening.methods=("bt500",)``
subject rejection)
``np.std`` in rejection    ``bt500.ddof=0`` (population standard deviation)
``stats.kurtosis`` NaN on  ``bt500.zero_variance="literal"``, ``bt500.min_ratings=1``: a
constant presentation      zero-width √20 band, every rating one P and one Q
repetitions stacked per    ``repeat_policy="all"`` (every showing an observation) and
stimulus                   ``bt500.pool_repeats=True`` (one presentation per stimulus)
``(p + q) / (E * R)``      ``bt500.denominator="presentations"``
"if all of the subjects    ``screening.if_all_rejected="keep_unscreened"``
would be rejected, none
will"
MOS ``std`` ddof=1,        ``mos.ddof=1``; ``mos.z_constant="sureal"`` (``ci_z`` is SUREAL's
``1.95996 * std/√n``       ``quality_scores_ci95``)
``P910AnnexEModel`` on     ``subject_model_input="unscreened"`` (no screening before the
the raw scores             model), ``subject_model.true_score_se="p910"``,
                           ``variance_epsilon=1e-8``, ``inconsistency_floor=0``,
                           ``min_ratings_per_subject=1``, ``z_constant="sureal"``
no z-scoring               ``normalisation=None``
=========================  ==============================================================

Gold ratings are not a SUREAL notion; they stay excluded as in ``standard``. Reliability and
distribution fits have no SUREAL counterpart and keep their defaults.
"""

from __future__ import annotations

from collections.abc import Callable

from analysis.errors import OptionsError
from analysis.mos import MOSOptions
from analysis.pipeline import PipelineOptions, ScreeningOptions
from analysis.screening import BT500Options
from analysis.subject_model import SubjectModelOptions

SUREAL_VERSION = "0.9.0"

SUREAL_BT500 = BT500Options(
    ddof=0,
    zero_variance="literal",
    min_ratings=1,
    denominator="presentations",
    pool_repeats=True,
)

SUREAL_SUBJECT_MODEL = SubjectModelOptions(
    true_score_se="p910",
    z_constant="sureal",
    variance_epsilon=1e-8,
    inconsistency_floor=0.0,
    min_ratings_per_subject=1,
)


def standard_options() -> PipelineOptions:
    """The library's defaults: the standards' choices (see docs: analysis choices table)."""
    return PipelineOptions()


def sureal_options() -> PipelineOptions:
    """Every choice SUREAL 0.9.0 makes (BT500Model for MOS/screening, P910 for the model)."""
    return PipelineOptions(
        repeat_policy="all",
        screening=ScreeningOptions(
            methods=("bt500",), bt500=SUREAL_BT500, if_all_rejected="keep_unscreened"
        ),
        normalisation=None,
        mos=MOSOptions(confidence=0.95, ddof=1, z_constant="sureal"),
        subject_model=SUREAL_SUBJECT_MODEL,
        subject_model_input="unscreened",
    )


PRESETS: dict[str, Callable[[], PipelineOptions]] = {
    "standard": standard_options,
    "sureal": sureal_options,
}


def preset_options(name: str) -> PipelineOptions:
    """The options of a named preset; a clear error for an unknown name."""
    if name not in PRESETS:
        raise OptionsError("preset", f"must be one of {', '.join(PRESETS)}, got {name!r}")
    return PRESETS[name]()
