"""Property-based tests (hypothesis): invariances the statistics must have whatever the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.mos import compute_mos
from analysis.normalisation import NormalisationOptions, zscore_ratings
from analysis.reliability import icc, krippendorff_alpha_interval
from analysis.screening import screen_bt500
from analysis.subject_model import SubjectModelOptions, fit_subject_model
from analysis.tests.helpers import ratings_from_matrix

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def studies(
    draw, subjects: tuple[int, int] = (3, 7), stimuli: tuple[int, int] = (4, 15)
) -> pd.DataFrame:
    """A random full-design study drawn from the P.913 model (continuous scores)."""
    n_stim = draw(st.integers(*stimuli))
    n_subj = draw(st.integers(*subjects))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    m = (
        rng.uniform(1, 5, n_stim)[:, None]
        + rng.normal(0, 0.4, n_subj)
        + rng.uniform(0.3, 0.7, n_subj) * rng.standard_normal((n_stim, n_subj))
    )
    return ratings_from_matrix(m)


# The subject model needs a real panel: with a handful of subjects its likelihood slides to
# the degenerate optimum (documented in analysis.subject_model; sureal does the same).
PANELS = studies(subjects=(20, 26), stimuli=(30, 50))


def _model(data: pd.DataFrame):
    fit = fit_subject_model(data, SubjectModelOptions(max_iterations=2000))
    # A fit that slid to the degenerate optimum (see the subject_model docstring) is not the
    # estimate whose properties are tested here.
    assume(fit.fit["converged"].all() and not fit.subjects["at_floor"].any())
    return fit.stimuli.set_index("stimulus"), fit.subjects.set_index("subject")


@SETTINGS
@given(data=PANELS, shift=st.floats(-2, 2), pick=st.integers(0, 100))
def test_shifting_one_subject_changes_only_its_bias(data, shift, pick):
    """Adding c to subject i's ratings moves Δ_i by c relative to everyone else and nothing
    else. With the documented constraint mean(Δ) = 0 the absolute numbers move by the common
    c/K re-centring: Δ_i += c(K−1)/K, Δ_k −= c/K, ψ += c/K; predictions ψ_j + Δ_k for the
    other subjects and all inconsistencies are unchanged."""
    subjects = sorted(data["subject"].unique())
    k = len(subjects)
    target = subjects[pick % k]
    stim0, subj0 = _model(data)
    moved = data.assign(
        score=np.where(data["subject"] == target, data["score"] + shift, data["score"])
    )
    stim1, subj1 = _model(moved)
    others = [s for s in subjects if s != target]
    np.testing.assert_allclose(
        subj1.loc[target, "bias"], subj0.loc[target, "bias"] + shift * (k - 1) / k, atol=1e-5
    )
    np.testing.assert_allclose(
        subj1.loc[others, "bias"], subj0.loc[others, "bias"] - shift / k, atol=1e-5
    )
    np.testing.assert_allclose(stim1["true_score"], stim0["true_score"] + shift / k, atol=1e-5)
    np.testing.assert_allclose(subj1["inconsistency"], subj0["inconsistency"], atol=1e-5)
    pred0 = stim0["true_score"].to_numpy()[:, None] + subj0.loc[others, "bias"].to_numpy()
    pred1 = stim1["true_score"].to_numpy()[:, None] + subj1.loc[others, "bias"].to_numpy()
    np.testing.assert_allclose(pred1, pred0, atol=1e-5)


@SETTINGS
@given(data=PANELS, seed=st.integers(0, 1000))
def test_permuting_subject_labels_changes_nothing(data, seed):
    subjects = sorted(data["subject"].unique())
    perm = dict(zip(subjects, np.random.default_rng(seed).permutation(subjects), strict=True))
    relabelled = data.assign(subject=data["subject"].map(perm)).sample(frac=1, random_state=seed)
    pd.testing.assert_frame_equal(compute_mos(data).table, compute_mos(relabelled).table)
    a, b = fit_subject_model(data), fit_subject_model(relabelled)
    np.testing.assert_allclose(a.stimuli["true_score"], b.stimuli["true_score"], atol=1e-7)
    bias_a = a.subjects.set_index("subject")["bias"]
    bias_b = b.subjects.set_index("subject")["bias"]
    np.testing.assert_allclose(
        bias_b.loc[[perm[s] for s in subjects]], bias_a.loc[subjects], atol=1e-7
    )


@SETTINGS
@given(
    data=studies(),
    scales=st.lists(st.floats(0.2, 5), min_size=7, max_size=7),
    offsets=st.lists(st.floats(-10, 10), min_size=7, max_size=7),
)
def test_zscore_invariant_to_per_subject_affine_maps(data, scales, offsets):
    codes = data["subject"].to_numpy()
    moved = data.assign(score=data["score"] * np.take(scales, codes) + np.take(offsets, codes))
    for rule in ("fixed", "minmax"):
        options = NormalisationOptions(rescale=rule)
        a = zscore_ratings(data, options).ratings["score"]
        b = zscore_ratings(moved, options).ratings["score"]
        np.testing.assert_allclose(a, b, atol=1e-8)


@SETTINGS
@given(data=studies(subjects=(4, 7)), scale=st.floats(0.1, 20), offset=st.floats(-50, 50))
def test_scale_free_statistics_ignore_global_affine_maps(data, scale, offset):
    moved = data.assign(score=data["score"] * scale + offset)
    a, b = screen_bt500(data).subjects, screen_bt500(moved).subjects
    # Equality tests at the band edge can flip by one rounding error; compare totals.
    assert abs(int(a["P"].sum() + a["Q"].sum()) - int(b["P"].sum() + b["Q"].sum())) <= 1
    alpha_a = krippendorff_alpha_interval(data).loc[0, "alpha"]
    alpha_b = krippendorff_alpha_interval(moved).loc[0, "alpha"]
    np.testing.assert_allclose(alpha_a, alpha_b, atol=1e-9)
    np.testing.assert_allclose(icc(data)["icc"], icc(moved)["icc"], atol=1e-9)


@SETTINGS
@given(data=studies(), seed=st.integers(0, 1000))
def test_row_order_does_not_matter(data, seed):
    shuffled = data.sample(frac=1, random_state=seed).reset_index(drop=True)
    pd.testing.assert_frame_equal(compute_mos(data).table, compute_mos(shuffled).table)
    pd.testing.assert_frame_equal(screen_bt500(data).subjects, screen_bt500(shuffled).subjects)
