"""Synthetic studies with known ground truth, for recovery tests, demos and the perf benchmark.

Ratings follow the P.913 subject model (:mod:`analysis.subject_model`):
U_ij = ψ_j + Δ_i + υ_i·X, optionally rounded to integer categories and clipped to the scale
(as an ACR slider would), plus ``n_careless`` subjects who answer uniformly at random over
the scale (the kind of rater screening must catch).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True)
class SimulationOptions:
    n_stimuli: int = 200
    n_subjects: int = 20
    dimensions: tuple[str, ...] = ("quality",)
    scale: tuple[float, float] = (1.0, 5.0)
    bias_sd: float = 0.3
    inconsistency_range: tuple[float, float] = (0.3, 0.8)
    n_careless: int = 0
    coverage: float = 1.0
    n_repeats: int = 0
    repeat_noise_scale: float = 1.0
    n_generators: int = 0
    discretise: bool = False
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class SimulatedStudy:
    """``ratings`` in canonical layout; ``true_scores`` (stimulus, dimension, true_score);
    ``subjects`` (subject, dimension, bias, inconsistency, careless)."""

    ratings: pd.DataFrame
    true_scores: pd.DataFrame
    subjects: pd.DataFrame


@dataclasses.dataclass(frozen=True)
class _Truth:
    """The model's parameters: ψ per (dimension, stimulus), Δ and υ per (dimension,
    subject), and which subjects answer at random."""

    psi: np.ndarray
    bias: np.ndarray
    inconsistency: np.ndarray
    careless: np.ndarray


def simulate_study(options: SimulationOptions | None = None) -> SimulatedStudy:
    """Draw a study; vectorised, so 20 000 stimuli x 21 subjects x 3 dimensions takes ~1 s."""
    options = options or SimulationOptions()
    rng = np.random.default_rng(options.seed)
    truth = _draw_truth(rng, options)
    # Each subject rates the same subset of stimuli in every dimension (one trial, k questions).
    rated = rng.random((options.n_subjects, options.n_stimuli)) < options.coverage
    subj_idx, stim_idx = np.nonzero(rated)
    frames: list[_Block] = []
    for dimension_index in range(len(options.dimensions)):
        frames.extend(_dimension_blocks(rng, truth, dimension_index, subj_idx, stim_idx, options))
    subject_names = np.array([f"s{j:03d}" for j in range(options.n_subjects)], dtype=object)
    dims = np.array(options.dimensions, dtype=object)
    ratings = _ratings_frame(frames, subject_names, dims, options)
    n_s, n_j, n_d = options.n_stimuli, options.n_subjects, len(options.dimensions)
    true_scores = pd.DataFrame(
        {
            "stimulus": np.tile(np.arange(n_s), n_d),
            "dimension": np.repeat(dims, n_s),
            "true_score": truth.psi.ravel(),
        }
    )
    subjects = pd.DataFrame(
        {
            "subject": np.tile(subject_names, n_d),
            "dimension": np.repeat(dims, n_j),
            "bias": truth.bias.ravel(),
            "inconsistency": truth.inconsistency.ravel(),
            "careless": np.tile(truth.careless, n_d),
        }
    )
    return SimulatedStudy(ratings, true_scores, subjects)


def _draw_truth(rng: np.random.Generator, options: SimulationOptions) -> _Truth:
    lo, hi = options.scale
    n_s, n_j, n_d = options.n_stimuli, options.n_subjects, len(options.dimensions)
    margin = 0.15 * (hi - lo)
    psi = rng.uniform(lo + margin, hi - margin, size=(n_d, n_s))
    bias = rng.normal(0.0, options.bias_sd, size=(n_d, n_j))
    bias -= bias.mean(axis=1, keepdims=True)
    inconsistency = rng.uniform(*options.inconsistency_range, size=(n_d, n_j))
    careless = np.zeros(n_j, dtype=bool)
    careless[n_j - options.n_careless :] = options.n_careless > 0
    return _Truth(psi, bias, inconsistency, careless)


def _dimension_blocks(
    rng: np.random.Generator,
    truth: _Truth,
    dimension_index: int,
    subj_idx: np.ndarray,
    stim_idx: np.ndarray,
    options: SimulationOptions,
) -> list[_Block]:
    """One dimension's ratings: every rated stimulus once, then the repeats, drawn in this
    order so that a seed gives the same study."""
    lo, hi = options.scale
    psi = truth.psi[dimension_index]
    bias = truth.bias[dimension_index]
    inconsistency = truth.inconsistency[dimension_index]
    noise = rng.standard_normal(len(subj_idx))
    score = psi[stim_idx] + bias[subj_idx] + inconsistency[subj_idx] * noise
    uniform = rng.uniform(lo, hi, size=len(subj_idx))
    score = np.where(truth.careless[subj_idx], uniform, score)
    blocks = [(dimension_index, subj_idx, stim_idx, np.zeros(len(subj_idx), np.int64), score)]
    if options.n_repeats:
        pick = _first_rated(subj_idx, options.n_subjects, options.n_repeats)
        rs, rt = subj_idx[pick], stim_idx[pick]
        again = (
            psi[rt]
            + bias[rs]
            + options.repeat_noise_scale * inconsistency[rs] * rng.standard_normal(len(pick))
        )
        again = np.where(truth.careless[rs], rng.uniform(lo, hi, size=len(pick)), again)
        blocks.append((dimension_index, rs, rt, np.ones(len(pick), np.int64), again))
    return blocks


def _first_rated(subject_rows: np.ndarray, n_subjects: int, count: int) -> np.ndarray:
    """Positions of the first ``count`` ratings of each subject (the ones shown again)."""
    order = np.argsort(subject_rows, kind="stable")
    if not len(order):
        return np.empty(0, np.intp)
    by_subject = subject_rows[order]
    starts = np.searchsorted(by_subject, np.arange(n_subjects), side="left")
    ends = np.searchsorted(by_subject, np.arange(n_subjects), side="right")
    # A subject with fewer ratings than ``count`` repeats all of them, never the next one's.
    return np.concatenate(
        [order[start : min(start + count, end)] for start, end in zip(starts, ends, strict=True)]
    )


# One block of ratings: (dimension index, subject rows, stimulus rows, repeat, scores).
_Block = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _ratings_frame(
    blocks: list[_Block], subject_names: np.ndarray, dims: np.ndarray, options: SimulationOptions
) -> pd.DataFrame:
    low, high = options.scale
    dim_codes = np.concatenate([np.full(len(block[1]), block[0]) for block in blocks])
    scores = np.concatenate([block[4] for block in blocks])
    if options.discretise:
        scores = np.clip(np.rint(scores), low, high)
    subject_rows = np.concatenate([block[1] for block in blocks])
    ratings = pd.DataFrame(
        {
            "stimulus": np.concatenate([block[2] for block in blocks]).astype(np.int64),
            "subject": pd.array(subject_names[subject_rows], dtype="str"),
            "dimension": pd.array(dims[dim_codes], dtype="str"),
            "repeat": np.concatenate([block[3] for block in blocks]),
            "score": scores,
        }
    )
    if options.n_generators:
        gen = np.array([f"G{g}" for g in range(options.n_generators)], dtype=object)
        ratings["generator"] = pd.array(
            gen[ratings["stimulus"].to_numpy() % options.n_generators], dtype="str"
        )
    return ratings
