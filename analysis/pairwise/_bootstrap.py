"""Subject resamples and percentile intervals, shared by the pairwise and the joint bootstrap.

Resamples are drawn over subjects ordered by what they answered, not by their labels, so a
study gets the same standard errors and intervals after its subjects and stimuli are renamed
(a dataset package's pseudonyms, the new ids of a package imported back). A stimulus is
known by its place on the full data's scale of its group, and a group by its name."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.pairwise.counts import PairLayout


def row_fingerprints(n_subjects: int, subject: np.ndarray, content: pd.DataFrame) -> np.ndarray:
    """One ``uint64`` per subject: the sum (wrapping) of its rows' hashes, so independent of
    row order and of the subject's label."""
    sums = np.zeros(n_subjects, dtype=np.uint64)
    if len(content):
        hashes = pd.util.hash_pandas_object(content, index=False).to_numpy(np.uint64)
        np.add.at(sums, subject, hashes)
    return sums


def choice_fingerprints(layout: PairLayout, scores: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`row_fingerprints` of every subject's outcomes in ``layout``; ``scores`` are the
    full data's scores of each batch (``(G, n)``), which name the stimuli."""
    sums = np.zeros(len(layout.subjects), dtype=np.uint64)
    for batch, batch_scores in zip(layout.batches, scores, strict=True):
        places = np.stack([scale_places(row) for row in batch_scores])
        group = batch.event_group
        content = pd.DataFrame(
            {
                "group": np.array(batch.groups, dtype=object)[group],
                "winner": places[group, batch.event_winner],
                "loser": places[group, batch.event_loser],
                "amount": batch.event_amount,
            }
        )
        sums += row_fingerprints(len(sums), layout.row_subject[batch.event_row], content)
    return sums


def scale_places(scores: np.ndarray, tie: float = 1e-7) -> np.ndarray:
    """Dense rank of each score in its group, scores closer than ``tie`` sharing a rank:
    stimuli with the same data get the same score up to rounding, and which of them is
    which must not change a rank."""
    order = np.argsort(np.nan_to_num(scores, nan=np.inf), kind="stable")
    steps = np.diff(np.nan_to_num(scores[order], nan=np.inf)) > tie
    places = np.empty(len(scores), dtype=np.int64)
    places[order] = np.concatenate([[0], np.cumsum(steps)])
    return places


def subject_resample_counts(fingerprints: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, subjects)``: how often each subject is drawn in each resample.

    Draws go to positions in the fingerprint order; subjects with equal fingerprints answered
    alike, so which of them takes which position does not change a result."""
    size = len(fingerprints)
    draws = np.random.default_rng(seed).integers(0, size, size=(n_resamples, size))
    by_position = np.zeros((n_resamples, size))
    np.add.at(by_position, (np.arange(n_resamples)[:, None], draws), 1.0)
    counts = np.empty_like(by_position)
    counts[:, np.argsort(fingerprints, kind="stable")] = by_position
    return counts


def percentile_summary(
    resampled: np.ndarray, estimate: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``se`` (sd of the resamples), ``ci_low``, ``ci_high`` per column of ``resampled``
    (``(resamples, k)``). An interval that misses the estimate is widened to reach it: a
    stimulus that won all its comparisons has resamples piled on one side of its
    prior-shrunk estimate, and an interval beside its own point says nothing useful."""
    tail = 50.0 * (1.0 - confidence)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # A stimulus no resample scores (never compared) has NaN se and interval.
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanstd(resampled, axis=0, ddof=1)
        low, high = np.nanpercentile(resampled, [tail, 100.0 - tail], axis=0)
    known = np.isfinite(low) & np.isfinite(estimate)
    low = np.where(known, np.minimum(low, estimate), low)
    high = np.where(known, np.maximum(high, estimate), high)
    return spread, low, high
