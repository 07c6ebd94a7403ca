"""Simulated pairwise studies with a planted ground truth (tests, perf/ and demos).

True scores are in JOD; an answer follows Thurstone Case V (``Phi(diff / 1.4826)``, the
model the library scales with) or, with ``model="bradley_terry"``, the logistic curve with
the same 75 % point. Sides are randomised per trial and recorded. Planted misbehaving
subjects: ``"random"`` (coin flips), ``"left"`` (always the left side) and ``"inverted"``
(prefers the worse stimulus as reliably as others prefer the better).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from analysis.pairwise.bradley_terry import LOGIT_PER_JOD
from analysis.pairwise.designs import PairDesign
from analysis.pairwise.thurstone import JOD_SIGMA

Behaviour = Literal["honest", "random", "left", "inverted"]


def planted_truth(
    n_groups: int, group_size: int, *, spread: float = 1.5, seed: int = 0
) -> pd.DataFrame:
    """``group``, ``stimulus``, ``true_score`` (JOD, mean 0 per group, sd ``spread``)."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.0, spread, size=(n_groups, group_size))
    scores -= scores.mean(axis=1, keepdims=True)
    width = len(str(max(n_groups, group_size) - 1))
    return pd.DataFrame(
        {
            "group": np.repeat([f"g{g:0{width}d}" for g in range(n_groups)], group_size),
            "stimulus": [
                f"g{g:0{width}d}-s{s:0{width}d}" for g in range(n_groups) for s in range(group_size)
            ],
            "true_score": scores.ravel(),
        }
    )


def answer_pairs(
    truth: pd.DataFrame,
    pairs: pd.DataFrame,
    rng: np.random.Generator,
    *,
    behaviour: Mapping[str, Behaviour] | None = None,
    model: Literal["thurstone", "bradley_terry"] = "thurstone",
) -> pd.DataFrame:
    """Answers to ``pairs`` (``subject``, ``group``, ``first``, ``second``): a choices table.

    Each pair is shown with sides drawn at random (``side`` says where ``first`` went).
    """
    true_score = dict(zip(truth["stimulus"], truth["true_score"], strict=True))
    first, second = pairs["first"].to_numpy(), pairs["second"].to_numpy()
    swapped = rng.random(len(pairs)) < 0.5
    left, right = np.where(swapped, second, first), np.where(swapped, first, second)
    difference = np.array([true_score[s] for s in left]) - np.array([true_score[s] for s in right])
    if model == "thurstone":
        p_left = ndtr(difference / JOD_SIGMA)
    else:
        p_left = expit(difference * LOGIT_PER_JOD)
    p_left = _apply_behaviour(p_left, pairs["subject"].to_numpy(), behaviour or {})
    chose_left = rng.random(len(pairs)) < p_left
    return pd.DataFrame(
        {
            "subject": pairs["subject"].to_numpy(),
            "group": pairs["group"].to_numpy(),
            "left": left,
            "right": right,
            "choice": np.where(chose_left, "left", "right"),
            "side": np.where(swapped, "right", "left"),
            "time": rng.gamma(4.0, 0.5, size=len(pairs)),
        }
    )


def _apply_behaviour(
    p_left: np.ndarray, subjects: np.ndarray, behaviour: Mapping[str, Behaviour]
) -> np.ndarray:
    out = p_left.copy()
    for subject, kind in behaviour.items():
        rows = subjects == subject
        if kind == "random":
            out[rows] = 0.5
        elif kind == "left":
            out[rows] = 1.0
        elif kind == "inverted":
            out[rows] = 1.0 - p_left[rows]
    return out


def full_design_pairs(
    truth: pd.DataFrame, subjects: list[str], *, repeats: int = 1, seed: int = 0
) -> pd.DataFrame:
    """Every subject compares every pair of every group ``repeats`` times, in random order."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, frame in truth.groupby("group", sort=True):
        stimuli = frame["stimulus"].to_numpy()
        first, second = np.triu_indices(len(stimuli), k=1)
        for subject in subjects:
            for _ in range(repeats):
                rows.append(
                    pd.DataFrame(
                        {
                            "subject": subject,
                            "group": group,
                            "first": stimuli[first],
                            "second": stimuli[second],
                        }
                    )
                )
    pairs = pd.concat(rows, ignore_index=True)
    return pairs.iloc[rng.permutation(len(pairs))].reset_index(drop=True)


@dataclasses.dataclass(frozen=True)
class PlantedStudy:
    """``choices`` answered by ``subjects`` on ``truth`` (see :func:`planted_truth`)."""

    truth: pd.DataFrame
    choices: pd.DataFrame
    subjects: list[str]

    @property
    def groups(self) -> dict[str, list[str]]:
        return {
            str(g): frame["stimulus"].tolist()
            for g, frame in self.truth.groupby("group", sort=True)
        }


def full_design_study(
    n_groups: int,
    group_size: int,
    n_subjects: int,
    *,
    repeats: int = 1,
    behaviour: Mapping[str, Behaviour] | None = None,
    model: Literal["thurstone", "bradley_terry"] = "thurstone",
    spread: float = 1.5,
    seed: int = 0,
) -> PlantedStudy:
    """A complete design on a planted truth; subjects are ``"s00"``, ``"s01"``, ..."""
    truth = planted_truth(n_groups, group_size, spread=spread, seed=seed)
    subjects = [f"s{k:02d}" for k in range(n_subjects)]
    pairs = full_design_pairs(truth, subjects, repeats=repeats, seed=seed + 1)
    rng = np.random.default_rng(seed + 2)
    choices = answer_pairs(truth, pairs, rng, behaviour=behaviour, model=model)
    return PlantedStudy(truth=truth, choices=choices, subjects=subjects)


def run_design(
    design: PairDesign,
    truth: pd.DataFrame,
    n_comparisons: int,
    batch_size: int,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """Choices of one group (``truth`` rows of one group) collected by ``design`` in batches
    of ``batch_size`` until ``n_comparisons`` answers; each batch is answered by a new
    simulated subject ``"b000"``, ``"b001"``, ..."""
    rng = np.random.default_rng(seed)
    conditions = truth["stimulus"].tolist()
    group = str(truth["group"].iloc[0])
    answered: list[pd.DataFrame] = []
    history = pd.DataFrame(columns=["subject", "group", "left", "right", "choice"])
    done = 0
    while done < n_comparisons:
        wanted = min(batch_size, n_comparisons - done)
        pairs = design.next_pairs(history, conditions, wanted, rng)
        batch = pd.DataFrame(
            {
                "subject": f"b{len(answered):03d}",
                "group": group,
                "first": [a for a, _ in pairs],
                "second": [b for _, b in pairs],
            }
        )
        answered.append(answer_pairs(truth, batch, rng))
        history = pd.concat(answered, ignore_index=True)
        done += len(pairs)
    return history


def planted_ratings(
    truth: pd.DataFrame,
    n_subjects: int,
    *,
    slope: float = 0.8,
    offset: float = 3.0,
    relative_noise: float = 1.5,
    subject_offsets: np.ndarray | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Ratings of every stimulus of ``truth`` by ``n_subjects`` subjects ``"r00"``, ...
    under the unified model: ``slope * q + offset (+ the subject's offset)`` plus Gaussian
    noise of sd ``slope * relative_noise * 1.4826 / sqrt 2`` (``relative_noise`` is the
    paper's ``c``). A ratings table (``stimulus``, ``subject``, ``dimension``, ``score``).

    The noise comes from its own stream of ``seed``: with :func:`planted_truth`'s stream
    the noise would repeat the planted scores."""
    rng = np.random.default_rng([seed, 1])
    shifts = np.zeros(n_subjects) if subject_offsets is None else np.asarray(subject_offsets)
    noise_sd = abs(slope) * relative_noise * JOD_SIGMA / np.sqrt(2.0)
    frames = []
    for subject in range(n_subjects):
        mean = slope * truth["true_score"].to_numpy() + offset + shifts[subject]
        frames.append(
            pd.DataFrame(
                {
                    "stimulus": truth["stimulus"].to_numpy(),
                    "subject": f"r{subject:02d}",
                    "dimension": "score",
                    "score": mean + rng.normal(0.0, noise_sd, len(truth)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def sparse_pairs(
    truth: pd.DataFrame, per_group: int, n_subjects: int, *, seed: int = 0
) -> pd.DataFrame:
    """``per_group`` uniformly random pairs per group, each by one of ``n_subjects``
    subjects ``"c00"``, ...: the ``pairs`` input of :func:`answer_pairs`."""
    rng = np.random.default_rng(seed)
    frames = []
    for group, frame in truth.groupby("group", sort=True):
        stimuli = frame["stimulus"].to_numpy()
        first = rng.integers(0, len(stimuli), per_group)
        second = (first + rng.integers(1, len(stimuli), per_group)) % len(stimuli)
        subjects = rng.integers(0, n_subjects, per_group)
        frames.append(
            pd.DataFrame(
                {
                    "subject": [f"c{s:02d}" for s in subjects],
                    "group": group,
                    "first": stimuli[first],
                    "second": stimuli[second],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
