"""ITU-R BT.500 kurtosis-based observer screening.

Standard: Recommendation ITU-R BT.500-14 (10/2019), Annex 1, §2.3.1 ("Screening for the
double stimulus impairment scale, double stimulus continuous quality scale and single
stimulus methods"). For every presentation (stimulus j, repetition r) the mean ū, the
standard deviation S and the Pearson kurtosis β2 = m4 / m2² (non-excess, moments about the
mean with denominator N) are computed over the subjects' ratings. The presentation is
treated as normally distributed when 2 ≤ β2 ≤ 4 and the outlier band is ū ± 2S, otherwise
ū ± √20·S. Each rating u ≥ ū + band counts one P for its subject, u ≤ ū − band one Q. A
subject is rejected when

    (P + Q) / (J·K·L) > 0.05   and   |(P − Q) / (P + Q)| < 0.3

where J·K·L is the number of presentations (J test conditions x K sequences x L
repetitions; see ``denominator`` below for partial designs).

Choices the standard leaves open, all options of :class:`BT500Options`:

* ``ddof`` (default 1): S uses N − 1 as in the standard's formula; 0 reproduces tools
  (Netflix SUREAL) that use the population standard deviation.
* ``denominator`` - J·K·L in a partial design, where the standard (written for full
  designs) does not say. ``"rated"`` (default): the presentations *the subject actually
  rated*; a subject who rated 100 of 10 000 stimuli is judged on those 100.
  ``"presentations"``: every presentation of the dimension, rated by the subject or not, as
  SUREAL 0.9.0 divides by E·R (stimuli x maximum repetitions; ``subjective_model.py``,
  ``reject_1st_stat = (p + q) / (E * R)``). With ``pool_repeats`` the count is stimuli x
  repetition levels of the dimension, exactly SUREAL's E·R; otherwise the distinct
  (stimulus, repeat) presentations. In a full design both choices are the same number.
* ``pool_repeats`` (default False): ratings with different ``repeat`` values are separate
  presentations, as the standard's index r prescribes; True pools a stimulus's repetitions
  into one presentation (its mean, S and β2 over all subjects and showings), as SUREAL does.
* Zero-variance presentations (all subjects agree, β2 = 0/0 undefined). ``"skip"``
  (default): the presentation yields no P or Q; ``count_skipped_in_denominator`` (default
  True) keeps it in J·K·L, because agreeing with everyone is evidence of *not* being an
  outlier. ``"literal"`` applies the formula as written: β2 undefined -> √20 band of width
  0, so every rating satisfies both u ≥ ū and u ≤ ū and scores one P *and* one Q (this is
  what sureal does; useful only to reproduce it).
* Presentations with fewer than ``min_ratings`` ratings are skipped like zero-variance
  ones (S undefined with one rating).
* Dimensions: by default each dimension is screened on its own and a subject is rejected
  from that dimension only; ``pool_dimensions=True`` sums P, Q and J·K·L over dimensions
  and rejects the subject from the whole study.
* Repetitions: the pipeline screens after applying its repeat policy (``"all"`` keeps every
  showing, then ``pool_repeats`` decides how they form presentations).

SUREAL's ``BT500Model`` is reproduced by ``ddof=0, zero_variance="literal", min_ratings=1,
denominator="presentations", pool_repeats=True`` (see :mod:`analysis.presets`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import pandas as pd

from analysis._checks import check_choice, check_ddof, check_int_at_least, check_number
from analysis._groups import Coded, combine, dense_codes, encode, group_sum
from analysis.provenance import Provenance, options_dict
from analysis.screening.base import ScreeningResult, decision_labels

METHOD = "bt500"
STANDARD = "ITU-R BT.500-14 Annex 1 §2.3.1"
VERSION = "1.0"
WIDE_BAND = math.sqrt(20.0)
ZERO_VARIANCE: tuple[str, ...] = ("skip", "literal")
DENOMINATORS: tuple[str, ...] = ("rated", "presentations")
POOLED_REPEATS = "*"


@dataclasses.dataclass(frozen=True)
class BT500Options:
    ddof: int = dataclasses.field(default=1, metadata={"help": "std denominator N-ddof"})
    zero_variance: Literal["skip", "literal"] = dataclasses.field(
        default="skip",
        metadata={"help": "zero-variance stimuli: skip, or the literal formula (sureal)"},
    )
    count_skipped_in_denominator: bool = True
    min_ratings: int = 2
    pool_dimensions: bool = dataclasses.field(
        default=False, metadata={"help": "pool dimensions (reject from all)"}
    )
    ratio_threshold: float = 0.05
    asymmetry_threshold: float = 0.3
    denominator: Literal["rated", "presentations"] = dataclasses.field(
        default="rated",
        metadata={
            "help": "J·K·L of a partial design: rated (the presentations the subject rated) "
            "or presentations (all of the dimension, as SUREAL)"
        },
    )
    pool_repeats: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "one presentation per stimulus with all its showings (SUREAL) instead of "
            "one per repeat"
        },
    )

    def __post_init__(self) -> None:
        check_ddof("bt500.ddof", self.ddof)
        check_choice("bt500.zero_variance", self.zero_variance, ZERO_VARIANCE)
        check_int_at_least("bt500.min_ratings", self.min_ratings, 1)
        check_number("bt500.ratio_threshold", self.ratio_threshold, minimum=0.0, maximum=1.0)
        check_number(
            "bt500.asymmetry_threshold", self.asymmetry_threshold, minimum=0.0, maximum=1.0
        )
        check_choice("bt500.denominator", self.denominator, DENOMINATORS)


def _presentation_stats(
    pres: np.ndarray, scores: np.ndarray, n_pres: int, options: BT500Options
) -> dict[str, np.ndarray]:
    count = group_sum(pres, None, n_pres)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = group_sum(pres, scores, n_pres) / count
        dev = scores - mean[pres]
        m2 = group_sum(pres, dev**2, n_pres) / count
        m4 = group_sum(pres, dev**4, n_pres) / count
        std = np.sqrt(m2 * count / (count - options.ddof))
        beta2 = m4 / (m2 * m2)
    # Rounding leaves m2 ~ 1e-33 instead of 0 when every rating is equal; such a
    # presentation has zero variance however the floating-point sum came out.
    scale = np.maximum(np.abs(mean), 1.0)
    zero_var = m2 <= (1e-12 * scale) ** 2
    std[zero_var] = 0.0
    beta2[zero_var] = np.nan
    normal = (beta2 >= 2.0) & (beta2 <= 4.0)
    factor = np.where(normal, 2.0, WIDE_BAND)
    too_few = count < max(options.min_ratings, 1 + options.ddof)
    skipped = (too_few | zero_var) if options.zero_variance == "skip" else too_few
    status = np.where(
        too_few, "skipped_too_few", np.where(zero_var & skipped, "skipped_zero_variance", "tested")
    )
    return {
        "n": count,
        "mean": mean,
        "std": std,
        "beta2": beta2,
        "band_factor": np.where(skipped, np.nan, factor),
        "skipped": skipped,
        "status": status,
    }


@dataclasses.dataclass(frozen=True)
class _Tallies:
    """Per decision (subject, or subject x dimension): P, Q and the ratings counted."""

    above: np.ndarray
    below: np.ndarray
    rated: np.ndarray
    tested: np.ndarray


def screen_bt500(ratings: pd.DataFrame, options: BT500Options | None = None) -> ScreeningResult:
    """Screen subjects per ITU-R BT.500-14 Annex 1 §2.3.1 (see module docstring)."""
    options = options or BT500Options()
    stim = encode(ratings["stimulus"])
    subj = encode(ratings["subject"])
    dim = encode(ratings["dimension"])
    rep = encode(ratings["repeat"])
    scores = ratings["score"].to_numpy(dtype=float)

    pres_codes, pres_uniques = _presentation_codes(stim, dim, rep, options)
    st = _presentation_stats(pres_codes, scores, len(pres_uniques), options)
    tallies = _tallies(scores, pres_codes, st, subj, dim, options)
    if options.denominator == "presentations":
        dim_of_presentation = np.unravel_index(
            pres_uniques, (dim.size, stim.size, _repeat_size(rep, options))
        )[0]
        per_dimension = _presentations_per_dimension(
            dim_of_presentation, st["skipped"], dim, rep, options
        )
        denom = _sum_over_rated_dimensions(per_dimension, subj, dim, pooled=options.pool_dimensions)
    else:
        denom = tallies.rated if options.count_skipped_in_denominator else tallies.tested

    stimuli = _presentation_table(pres_uniques, st, stim, dim, rep, options)
    return ScreeningResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(options)),
        subjects=_subject_table(tallies, denom, subj, dim, options),
        stimuli=stimuli,
        notes=_notes(stimuli, options),
    )


def _repeat_size(rep: Coded, options: BT500Options) -> int:
    return 1 if options.pool_repeats else rep.size


def _presentation_codes(
    stim: Coded, dim: Coded, rep: Coded, options: BT500Options
) -> tuple[np.ndarray, np.ndarray]:
    """Each rating's presentation code and the presentations' keys, in key order."""
    # A pooled presentation is one (dimension, stimulus) with every showing in it.
    rep_codes = np.zeros_like(rep.codes) if options.pool_repeats else rep.codes
    pres_key, total = combine(
        [dim.codes, stim.codes, rep_codes], [dim.size, stim.size, _repeat_size(rep, options)]
    )
    return dense_codes(pres_key, total)


def _tallies(
    scores: np.ndarray,
    pres_codes: np.ndarray,
    st: dict[str, np.ndarray],
    subj: Coded,
    dim: Coded,
    options: BT500Options,
) -> _Tallies:
    """Count each rating outside its presentation's band as a P (above) or a Q (below)."""
    mean = st["mean"][pres_codes]
    band = (st["band_factor"] * st["std"])[pres_codes]
    tested = ~st["skipped"][pres_codes]
    with np.errstate(invalid="ignore"):
        p_hit = tested & (scores >= mean + band)
        q_hit = tested & (scores <= mean - band)
    if options.pool_dimensions:
        dec_codes, n_dec = subj.codes, subj.size
    else:
        dec_codes, n_dec = combine([subj.codes, dim.codes], [subj.size, dim.size])
    return _Tallies(
        above=group_sum(dec_codes, p_hit.astype(float), n_dec),
        below=group_sum(dec_codes, q_hit.astype(float), n_dec),
        rated=group_sum(dec_codes, None, n_dec),
        tested=group_sum(dec_codes, tested.astype(float), n_dec),
    )


def _subject_table(
    tallies: _Tallies, denom: np.ndarray, subj: Coded, dim: Coded, options: BT500Options
) -> pd.DataFrame:
    """One row per decision that has ratings: P, Q, the ratios and the verdict with why."""
    above, below = tallies.above, tallies.below
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (above + below) / denom
        asym = np.abs(above - below) / (above + below)
    rejected = (ratio > options.ratio_threshold) & (asym < options.asymmetry_threshold)
    subj_labels, dim_labels = decision_labels(subj, dim, pooled=options.pool_dimensions)
    table = pd.DataFrame(
        {
            "subject": subj_labels,
            "dimension": dim_labels,
            "n_ratings": tallies.rated.astype(np.int64),
            "n_tested": tallies.tested.astype(np.int64),
            "denominator": denom.astype(np.int64),
            "P": above.astype(np.int64),
            "Q": below.astype(np.int64),
            "ratio": ratio,
            "asymmetry": asym,
            "rejected": rejected,
        }
    )[tallies.rated > 0].reset_index(drop=True)
    columns = ["P", "Q", "denominator", "ratio", "asymmetry", "rejected"]
    table["reason"] = [
        _reason(above_n, below_n, denominator, ratio_value, asymmetry, is_rejected, options)
        for above_n, below_n, denominator, ratio_value, asymmetry, is_rejected in table[
            columns
        ].itertuples(index=False, name=None)
    ]
    return table


def _presentation_table(
    uniques: np.ndarray,
    presentation: dict[str, np.ndarray],
    stim: Coded,
    dim: Coded,
    rep: Coded,
    options: BT500Options,
) -> pd.DataFrame:
    """One row per presentation (stimulus, dimension, repeat): its statistics and status.

    Pooled repeats make one presentation of all showings; its ``repeat`` reads ``"*"``.
    """
    st = presentation
    dim_index, stim_index, rep_index = np.unravel_index(
        uniques, (dim.size, stim.size, _repeat_size(rep, options))
    )
    repeat_labels = (
        np.full(len(rep_index), POOLED_REPEATS, dtype=object)
        if options.pool_repeats
        else rep.labels.to_numpy()[rep_index]
    )
    return pd.DataFrame(
        {
            "stimulus": stim.labels.to_numpy()[stim_index],
            "dimension": dim.labels.to_numpy()[dim_index],
            "repeat": repeat_labels,
            "n": st["n"].astype(np.int64),
            "mean": st["mean"],
            "std": st["std"],
            "beta2": st["beta2"],
            "band_factor": st["band_factor"],
            "status": st["status"],
        }
    )


def _presentations_per_dimension(
    dim_of_presentation: np.ndarray,
    skipped: np.ndarray,
    dim: Coded,
    rep: Coded,
    options: BT500Options,
) -> np.ndarray:
    """J·K·L of each dimension's design, for the ``"presentations"`` denominator.

    Pooled repeats: stimuli x repetition levels of the dimension (SUREAL's E·R); otherwise
    the distinct (stimulus, repeat) presentations. Skipped presentations are left out unless
    ``count_skipped_in_denominator``.
    """
    counted = (
        np.ones(len(dim_of_presentation)) if options.count_skipped_in_denominator else ~skipped
    )
    per_dimension = np.bincount(
        dim_of_presentation, weights=counted.astype(float), minlength=dim.size
    )
    if options.pool_repeats:
        pairs = np.unique(dim.codes * rep.size + rep.codes)
        per_dimension = per_dimension * np.bincount(pairs // rep.size, minlength=dim.size)
    return per_dimension


def _sum_over_rated_dimensions(
    per_dimension: np.ndarray, subj: Coded, dim: Coded, *, pooled: bool
) -> np.ndarray:
    """Denominator per decision: its dimension's count, or (pooled) the sum over the
    dimensions the subject rated; indexed like the decision codes."""
    pair_key, pair_total = combine([subj.codes, dim.codes], [subj.size, dim.size])
    present = np.zeros(pair_total, dtype=bool)
    present[pair_key] = True
    pairs = np.flatnonzero(present)
    subject_of_pair, dimension_of_pair = np.unravel_index(pairs, (subj.size, dim.size))
    if pooled:
        return np.bincount(
            subject_of_pair, weights=per_dimension[dimension_of_pair], minlength=subj.size
        )
    denom = np.zeros(pair_total)
    denom[pairs] = per_dimension[dimension_of_pair]
    return denom


def _notes(stimuli: pd.DataFrame, options: BT500Options) -> tuple[str, ...]:
    n_zero = int((stimuli["status"] == "skipped_zero_variance").sum())
    n_few = int((stimuli["status"] == "skipped_too_few").sum())
    notes = []
    if n_zero:
        notes.append(f"{n_zero} presentation(s) with zero variance skipped (beta2 undefined)")
    if n_few:
        notes.append(
            f"{n_few} presentation(s) with fewer than {options.min_ratings} ratings skipped"
        )
    if options.zero_variance == "literal" and (stimuli["std"] == 0).any():
        notes.append("zero-variance presentations counted literally: one P and one Q per rating")
    return tuple(notes)


def _reason(
    above: int,
    below: int,
    denom: int,
    ratio: float,
    asym: float,
    rejected: bool,
    options: BT500Options,
) -> str:
    head = f"P={above}, Q={below}, N={denom}: (P+Q)/N={ratio:.4f}"
    if above + below == 0:
        return f"{head}; no outlying ratings"
    cmp1 = ">" if ratio > options.ratio_threshold else "<="
    cmp2 = "<" if asym < options.asymmetry_threshold else ">="
    verdict = "rejected" if rejected else "kept"
    return (
        f"{head} {cmp1} {options.ratio_threshold}, |P-Q|/(P+Q)={asym:.4f} {cmp2} "
        f"{options.asymmetry_threshold}: {verdict}"
    )
