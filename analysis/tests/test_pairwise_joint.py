"""Joint scale of ratings and pairwise choices (the unified model of Perez-Ortiz et al. 2019):
the authors' objective, the two reductions, a planted truth, per-subject mappings, the
bootstrap and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import comb
from scipy.stats import norm

from analysis.errors import OptionsError, RatingsError
from analysis.pairwise.joint import JointOptions, bootstrap_joint, joint_scale
from analysis.pairwise.scale import BootstrapOptions, scale_choices
from analysis.pairwise.synthetic import (
    answer_pairs,
    planted_ratings,
    planted_truth,
    sparse_pairs,
)
from analysis.pairwise.thurstone import JOD_SIGMA, ThurstoneOptions

NO_RATINGS = pd.DataFrame({"stimulus": [], "subject": [], "score": []})


def _groups(truth: pd.DataFrame) -> dict[str, list[str]]:
    return {str(g): frame["stimulus"].tolist() for g, frame in truth.groupby("group")}


def _planted(groups: int, size: int, per_group: int, raters: int, seed: int):
    truth = planted_truth(groups, size, seed=seed)
    pairs = sparse_pairs(truth, per_group, 6, seed=seed + 1)
    choices = answer_pairs(truth, pairs, np.random.default_rng(seed + 2))
    ratings = planted_ratings(truth, raters, slope=0.6, offset=3.0, relative_noise=2.0, seed=seed)
    return truth, choices, ratings


def _unified_objective(params: np.ndarray, wins: np.ndarray, ratings: np.ndarray) -> float:
    """mixing.m's exp_prob (pwcmp_rating_unified), written out literally, one dataset; the
    MATLAB's rounded 1.4826 is the exact JOD sigma here, as in the Thurstone tests."""
    size = len(wins)
    q = np.concatenate([[0.0], params[: size - 1]])
    a, b, c = params[size - 1 :]
    sigma_cdf = JOD_SIGMA
    sigma = sigma_cdf / np.sqrt(2)
    compared = (wins + wins.T) > 0
    binomial = comb((wins + wins.T).T, wins)
    prob = norm.cdf(q[:, None] - q[None, :], 0, sigma_cdf)
    p_pwc = (
        binomial[compared]
        * prob[compared] ** wins[compared]
        * (1 - prob[compared]) ** wins.T[compared]
    )
    prior = norm.pdf(q, np.mean(q), np.sqrt(size) * sigma)
    p_mos = norm.pdf(ratings, (a * q + b)[:, None], a * c * sigma)
    p_mos[np.isnan(ratings)] = 1.0
    return float(
        -np.sum(np.log(np.maximum(p_pwc, 1e-200)))
        - np.sum(np.log(np.maximum(p_mos, 1e-200)))
        - np.sum(np.log(prior))
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_joint_fit_is_the_minimum_of_the_authors_objective(seed):
    truth, choices, ratings = _planted(1, 6, 30, 4, seed)
    ratings = ratings.drop(index=[0, 7, 13])  # a few missing ratings, NaN in the matrix
    names = truth["stimulus"].tolist()
    # mixing.m sums over ordered pairs: every answer counts twice against the ratings. Our
    # likelihood counts each answer once, so it is given every answer twice.
    doubled = pd.concat([choices, choices], ignore_index=True)
    options = JointOptions(thurstone=ThurstoneOptions(prior="none"), unified_prior=True)
    fitted = joint_scale(doubled, ratings, _groups(truth), options)
    wins = np.zeros((6, 6))
    for left, right, choice in choices[["left", "right", "choice"]].itertuples(index=False):
        winner, loser = (left, right) if choice == "left" else (right, left)
        wins[names.index(winner), names.index(loser)] += 1
    matrix = ratings.pivot(index="stimulus", columns="subject", values="score").loc[names]
    start = np.concatenate([np.zeros(5), [1.0, 1.0, 1.0]])  # mixing.m's start
    # The model needs a c > 0 (its rating sd is a c sigma); unbounded quasi-Newton steps
    # (BFGS) leave that region and land on NaNs.
    bounds = [(None, None)] * 5 + [(1e-3, None), (None, None), (1e-3, None)]
    reference = minimize(
        _unified_objective,
        start,
        args=(wins, matrix.to_numpy()),
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000},
    ).x
    scores = fitted.table.set_index("stimulus").loc[names, "score"].to_numpy()
    np.testing.assert_allclose(scores[1:] - scores[0], reference[:5], atol=2e-6)
    a, b, c = fitted.mapping.loc[0, ["a", "b", "c"]]
    np.testing.assert_allclose([a, b + a * scores[0], c], reference[5:], atol=2e-6)


def test_with_comparisons_only_it_is_the_thurstone_scale():
    truth, choices, _ = _planted(4, 8, 40, 1, 3)
    joint = joint_scale(choices, NO_RATINGS, _groups(truth)).table
    alone = scale_choices(choices, _groups(truth))
    np.testing.assert_array_equal(joint["stimulus"], alone["stimulus"])
    np.testing.assert_allclose(joint["score"], alone["score"], atol=1e-12)
    assert not joint["linked"].any()


def test_groups_without_ratings_keep_their_thurstone_scale():
    truth, choices, ratings = _planted(4, 8, 40, 3, 4)
    rated = ratings[ratings["stimulus"].str.startswith(("g0-", "g1-"))]
    joint = joint_scale(choices, rated, _groups(truth)).table
    alone = scale_choices(choices, _groups(truth))
    unrated = joint["group"].isin(["g2", "g3"])
    np.testing.assert_allclose(joint["score"][unrated], alone["score"][unrated], atol=1e-12)
    assert joint["linked"].to_numpy().tolist() == (~unrated).to_numpy().tolist()


def test_with_ratings_only_scores_are_a_linear_function_of_mos():
    truth = planted_truth(3, 7, seed=5)
    ratings = planted_ratings(truth, 5, seed=5).drop(index=[2, 30])
    fitted = joint_scale(None, ratings, _groups(truth))
    table = fitted.table
    slope, intercept = np.polyfit(table["mos"], table["score"], 1)
    np.testing.assert_allclose(table["score"], slope * table["mos"] + intercept, atol=1e-9)
    # No JOD anchor: c is held at 1, so the slope is the rating noise over sigma / sqrt 2.
    assert fitted.mapping.loc[0, "c"] == pytest.approx(1.0)
    assert abs(table["score"].mean()) < 1e-9


def test_joint_fit_recovers_a_planted_truth_better_than_sparse_comparisons_alone():
    truth, choices, ratings = _planted(30, 10, 12, 3, 6)  # 12 answers for 45 pairs a group

    def within_rmse(table: pd.DataFrame) -> float:
        merged = table.merge(truth, on=["group", "stimulus"])
        centred = merged["score"] - merged.groupby("group")["score"].transform("mean")
        planted = merged["true_score"] - merged.groupby("group")["true_score"].transform("mean")
        return float(np.sqrt(np.mean((centred - planted) ** 2)))

    options = ThurstoneOptions(score_sd=3.0)  # keeps the sparse Thurstone scale in range
    joint = joint_scale(choices, ratings, _groups(truth), JointOptions(thurstone=options)).table
    alone = scale_choices(choices, _groups(truth), options=_scaling(options))
    assert within_rmse(joint) < 0.75 * within_rmse(alone)
    # Across groups the ratings put every group on one scale, closer to the truth than the
    # ratings' own MOS is.
    merged = joint.merge(truth, on=["group", "stimulus"])
    joint_r = np.corrcoef(merged["score"], merged["true_score"])[0, 1]
    assert joint_r > np.corrcoef(merged["mos"], merged["true_score"])[0, 1] + 0.03


def _scaling(options: ThurstoneOptions):
    from analysis.pairwise.scale import ScalingOptions

    return ScalingOptions(thurstone=options)


def test_many_comparisons_and_ratings_recover_the_planted_mapping():
    truth = planted_truth(10, 8, spread=1.0, seed=7)
    choices = answer_pairs(truth, sparse_pairs(truth, 300, 6, seed=8), np.random.default_rng(9))
    ratings = planted_ratings(truth, 20, slope=0.6, offset=3.0, relative_noise=1.5, seed=7)
    options = JointOptions(thurstone=ThurstoneOptions(prior="none"))
    mapping = joint_scale(choices, ratings, _groups(truth), options).mapping
    assert mapping.loc[0, "a"] == pytest.approx(0.6, rel=0.1)
    assert mapping.loc[0, "c"] == pytest.approx(1.5, rel=0.1)


def test_per_subject_mapping_finds_each_subjects_offset():
    truth = planted_truth(10, 8, seed=8)
    choices = answer_pairs(truth, sparse_pairs(truth, 200, 6, seed=9), np.random.default_rng(10))
    offsets = np.array([-1.0, 0.0, 1.5])
    ratings = planted_ratings(
        truth, 3, slope=0.6, relative_noise=1.0, subject_offsets=offsets, seed=11
    )
    options = JointOptions(thurstone=ThurstoneOptions(prior="none"), mapping="per_subject")
    mapping = joint_scale(choices, ratings, _groups(truth), options).mapping
    assert mapping["rating_set"].tolist() == ["r00", "r01", "r02"]
    differences = mapping["b"].to_numpy() - mapping["b"].to_numpy()[1]
    np.testing.assert_allclose(differences, offsets, atol=0.15)
    np.testing.assert_allclose(mapping["a"], 0.6, rtol=0.25)


def test_bootstrap_is_seeded_and_its_intervals_cover_the_truth():
    bootstrap = BootstrapOptions(n_resamples=40, seed=3)
    options = JointOptions()
    covered = []
    # Coverage of one planted study swings by +-0.05 with the seed; four studies average it.
    for seed in (12, 13, 14, 15):
        truth, choices, ratings = _planted(6, 6, 30, 4, seed)
        first = bootstrap_joint(choices, ratings, _groups(truth), options, bootstrap).table
        if seed == 12:
            again = bootstrap_joint(choices, ratings, _groups(truth), options, bootstrap).table
            pd.testing.assert_frame_equal(first, again)
            plain = joint_scale(choices, ratings, _groups(truth), options).table
            np.testing.assert_allclose(first["score"], plain["score"])
        merged = first.merge(truth, on=["group", "stimulus"])
        planted = merged["true_score"] - merged["true_score"].mean()
        covered.append((merged["ci_low"] <= planted) & (planted <= merged["ci_high"]))
        assert (merged["se"] > 0).all()
        assert (
            (merged["ci_low"] <= merged["score"]) & (merged["score"] <= merged["ci_high"])
        ).all()
    # A subject bootstrap over a handful of subjects undercovers (nominal 0.95).
    assert np.mean(np.concatenate(covered)) > 0.7


def test_bad_input_gets_one_clear_error():
    truth, choices, ratings = _planted(2, 5, 10, 2, 13)
    groups = _groups(truth)
    stray = pd.concat(
        [ratings, pd.DataFrame({"stimulus": ["zz"], "subject": ["r00"], "score": [3.0]})]
    )
    with pytest.raises(RatingsError, match="stimulus 'zz', which is in no comparison group"):
        joint_scale(choices, stray, groups)
    two_dimensions = ratings.assign(dimension=np.where(ratings.index % 2, "a", "b"))
    with pytest.raises(RatingsError, match="several dimensions"):
        joint_scale(choices, two_dimensions, groups)
    with pytest.raises(RatingsError, match="needs the comparison groups"):
        joint_scale(None, ratings)
    with pytest.raises(RatingsError, match="not a finite number"):
        joint_scale(choices, ratings.assign(score="x"), groups)
    few = ratings[ratings["stimulus"].isin(truth["stimulus"][:2])]
    with pytest.raises(RatingsError, match="rated 2 stimuli"):
        joint_scale(choices, few, groups, JointOptions(mapping="per_subject"))
    with pytest.raises(RatingsError, match="needs comparisons"):
        joint_scale(None, ratings, groups, JointOptions(mapping="per_subject"))
    with pytest.raises(OptionsError, match="joint.mapping"):
        JointOptions(mapping="each")  # type: ignore[arg-type]
