"""Thurstone (JOD, pwcmp prior) and Bradley-Terry scaling: planted scales, pwcmp's objective,
choix, batching, awkward designs and bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.stats import norm, spearmanr

from analysis.errors import OptionsError, RatingsError
from analysis.pairwise.bradley_terry import LOGIT_PER_JOD, BradleyTerryOptions, bradley_terry_scores
from analysis.pairwise.scale import BootstrapOptions, ScalingOptions, bootstrap_scale, scale_choices
from analysis.pairwise.synthetic import full_design_study
from analysis.pairwise.thurstone import JOD_SIGMA, ThurstoneOptions, thurstone_scores


def _merged(scaled: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    return scaled.merge(truth, on=["group", "stimulus"], validate="one_to_one")


def _pwcmp_objective(scores: np.ndarray, wins: np.ndarray) -> float:
    """pw_scale's objective (mean0, gaussian prior) written out literally from the MATLAB."""
    total = wins + wins.T
    compared = total > 0
    unanimous = compared & ~((wins > 0) & (wins.T > 0))
    shifted = wins.copy()
    shifted[unanimous & (wins == 0)] = 1
    shifted[unanimous & (wins != 0)] -= 1
    prob = norm.cdf((scores[:, None] - scores[None, :])[compared], 0, JOD_SIGMA)
    likelihood = prob ** wins[compared] * (1 - prob) ** wins.T[compared]
    answers, first_side = total[compared], shifted[compared]
    aux = (
        prob[:, None] ** first_side[None, :]
        * (1 - prob[:, None]) ** (answers - first_side)[None, :]
    )
    prior = (aux / aux.sum(axis=0)).sum(axis=1)
    return -np.sum(np.log(likelihood) + np.log(prior + 0.1)) + 0.01 * np.mean(scores) ** 2


def _random_wins(size: int, answers: int, seed: int, spread: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, spread, size)
    wins = np.zeros((size, size))
    for _ in range(answers):
        first, second = rng.choice(size, 2, replace=False)
        won = rng.random() < norm.cdf((truth[first] - truth[second]) / JOD_SIGMA)
        wins[(first, second) if won else (second, first)] += 1
    return wins


def test_jod_unit_is_a_75_percent_preference():
    assert norm.cdf(1.0 / JOD_SIGMA) == pytest.approx(0.75, abs=1e-12)
    assert 1.0 / (1.0 + np.exp(-LOGIT_PER_JOD)) == pytest.approx(0.75, abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_thurstone_is_the_minimum_of_pwcmps_objective(seed):
    wins = _random_wins(6, 50, seed)
    reference = minimize(
        _pwcmp_objective, np.zeros(6), args=(wins,), method="BFGS", options={"gtol": 1e-9}
    ).x
    np.testing.assert_allclose(
        thurstone_scores(wins[None])[0], reference - reference.mean(), atol=2e-6
    )


def test_thurstone_recovers_a_planted_scale():
    study = full_design_study(n_groups=3, group_size=8, n_subjects=30, seed=4)
    merged = _merged(scale_choices(study.choices, study.groups), study.truth)
    error = merged["score"] - merged["true_score"]
    assert np.sqrt(np.mean(error**2)) < 0.2
    for _, frame in merged.groupby("group"):
        assert spearmanr(frame["score"], frame["true_score"]).statistic > 0.95
        assert abs(frame["score"].mean()) < 1e-9


def test_bradley_terry_recovers_a_planted_logistic_scale_in_jod():
    study = full_design_study(
        n_groups=2, group_size=8, n_subjects=30, model="bradley_terry", seed=5
    )
    options = ScalingOptions(method="bradley_terry")
    merged = _merged(scale_choices(study.choices, study.groups, options), study.truth)
    assert np.sqrt(np.mean((merged["score"] - merged["true_score"]) ** 2)) < 0.2


def test_bradley_terry_matches_choix():
    choix = pytest.importorskip("choix")
    wins = _random_wins(7, 200, seed=6, spread=0.7)
    data = [(i, j) for i in range(7) for j in range(7) for _ in range(int(wins[i, j]))]
    ours, finite = bradley_terry_scores(wins[None], BradleyTerryOptions(units="logit"))
    assert finite.all()
    theirs = choix.ilsr_pairwise(7, data, alpha=0.0, tol=1e-12)
    np.testing.assert_allclose(ours[0], theirs - theirs.mean(), atol=1e-7)
    ridge, _ = bradley_terry_scores(wins[None], BradleyTerryOptions(alpha=0.3, units="logit"))
    map_estimate = choix.opt_pairwise(7, data, alpha=0.3, method="Newton-CG", tol=1e-12)
    np.testing.assert_allclose(ridge[0], map_estimate, atol=1e-6)


def test_bradley_terry_without_a_finite_estimate_names_the_group():
    study = full_design_study(n_groups=1, group_size=4, n_subjects=2, seed=7)
    best = study.truth["stimulus"].iloc[0]
    # Make the first stimulus win every comparison it is in: its ML strength is infinite.
    choices = study.choices.copy()
    involved = (choices["left"] == best) | (choices["right"] == best)
    choices.loc[involved, "choice"] = np.where(
        choices.loc[involved, "left"] == best, "left", "right"
    )
    with pytest.raises(RatingsError, match="group 'g0'.*alpha > 0"):
        scale_choices(choices, study.groups, ScalingOptions(method="bradley_terry"))
    ridge = ScalingOptions(method="bradley_terry", bradley_terry=BradleyTerryOptions(alpha=0.01))
    assert scale_choices(choices, study.groups, ridge)["score"].notna().all()
    assert scale_choices(choices, study.groups)["score"].notna().all()  # Thurstone's prior


def test_batched_groups_equal_groups_solved_alone():
    study = full_design_study(n_groups=5, group_size=6, n_subjects=4, seed=8)
    together = scale_choices(study.choices, study.groups).set_index("stimulus")["score"]
    for group, stimuli in study.groups.items():
        alone = scale_choices(study.choices[study.choices["group"] == group], {group: stimuli})
        np.testing.assert_allclose(alone["score"], together.loc[alone["stimulus"]], atol=1e-7)


def test_unanimous_and_disconnected_designs_give_finite_scores_and_nan_for_unseen():
    rows = [("s1", "a", "b")] * 3 + [("s1", "b", "c")] * 2 + [("s2", "d", "e")]
    choices = pd.DataFrame(rows, columns=["subject", "left", "right"]).assign(
        group="g", choice="left"
    )
    scaled = scale_choices(choices, {"g": ["a", "b", "c", "d", "e", "f"]}).set_index("stimulus")
    assert np.isnan(scaled.loc["f", "score"]) and scaled.loc["f", "comparisons"] == 0
    seen = scaled["score"].drop("f")
    assert np.isfinite(seen).all() and abs(seen.mean()) < 1e-9
    assert seen["a"] > seen["b"] > seen["c"] and seen["d"] > seen["e"]
    assert seen.max() - seen.min() < 10  # the prior keeps unanimous pairs at a finite distance


def test_ties_count_half_each_way():
    choices = pd.DataFrame(
        {
            "subject": ["s1", "s2"],
            "group": "g",
            "left": ["a", "a"],
            "right": ["b", "b"],
            "choice": ["none", "none"],
        }
    )
    scaled = scale_choices(choices, None, ScalingOptions(thurstone=ThurstoneOptions(prior="none")))
    np.testing.assert_allclose(scaled["score"], [0.0, 0.0], atol=1e-9)
    assert scaled["wins"].tolist() == [1.0, 1.0]


def test_bootstrap_is_seeded_and_its_intervals_cover_the_truth():
    study = full_design_study(n_groups=2, group_size=6, n_subjects=20, seed=9)
    options = BootstrapOptions(n_resamples=200, seed=3)
    first = bootstrap_scale(study.choices, study.groups, bootstrap=options)
    again = bootstrap_scale(study.choices, study.groups, bootstrap=options)
    pd.testing.assert_frame_equal(first, again)
    merged = _merged(first, study.truth)
    assert (merged["ci_low"] <= merged["score"]).all() and (
        merged["score"] <= merged["ci_high"]
    ).all()
    covered = (merged["ci_low"] <= merged["true_score"]) & (
        merged["true_score"] <= merged["ci_high"]
    )
    assert covered.mean() >= 0.8
    assert (merged["se"] > 0).all()


def test_renamed_subjects_and_stimuli_get_the_same_intervals():
    # A dataset package renames subjects (pseudonyms) and, imported back, its stimuli get
    # new ids: resamples follow what each subject answered, so se and intervals stay as they
    # were, not only the scores.
    study = full_design_study(n_groups=2, group_size=5, n_subjects=12, seed=4)
    options = BootstrapOptions(n_resamples=50, seed=1)
    original = bootstrap_scale(study.choices, study.groups, bootstrap=options)
    subjects = sorted(study.choices["subject"].unique())
    pseudonyms = dict(zip(subjects, [f"P{k:03d}" for k in range(len(subjects))][::-1], strict=True))
    stimuli = sorted(set(study.choices["left"]) | set(study.choices["right"]))
    new_ids = dict(zip(stimuli, [str(900 - k) for k in range(len(stimuli))], strict=True))
    renamed = study.choices.assign(
        subject=study.choices["subject"].map(pseudonyms),
        left=study.choices["left"].map(new_ids),
        right=study.choices["right"].map(new_ids),
    ).sample(frac=1.0, random_state=0)
    groups = {group: [new_ids[s] for s in members] for group, members in study.groups.items()}
    again = bootstrap_scale(renamed, groups, bootstrap=options)
    back = {new: old for old, new in new_ids.items()}
    again = again.assign(stimulus=again["stimulus"].map(back)).sort_values(
        ["group", "stimulus"], ignore_index=True
    )
    pd.testing.assert_frame_equal(original, again)


def test_a_stimulus_that_lost_every_comparison_has_its_estimate_inside_its_interval():
    # In this study g0-s3 loses all 24 of its comparisons; every resample puts it below
    # the prior-shrunk estimate, so the plain percentile interval lay beside the estimate.
    study = full_design_study(n_groups=3, group_size=5, n_subjects=6, seed=23)
    scaled = bootstrap_scale(
        study.choices, study.groups, bootstrap=BootstrapOptions(n_resamples=60, seed=2)
    )
    assert scaled.set_index("stimulus").loc["g0-s3", "wins"] == 0
    assert (scaled["ci_low"] <= scaled["score"]).all()
    assert (scaled["score"] <= scaled["ci_high"]).all()
    assert (scaled["ci_high"] > scaled["ci_low"]).all()


def test_bad_options_are_refused():
    with pytest.raises(OptionsError, match="scaling.method"):
        ScalingOptions(method="elo")  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match="bradley_terry.alpha"):
        BradleyTerryOptions(alpha=-1.0)
    with pytest.raises(OptionsError, match="bootstrap.confidence"):
        BootstrapOptions(confidence=1.5)


def test_a_score_prior_keeps_single_answer_chains_in_range():
    # One answer per pair, all unanimous: pwcmp's distance prior is flat for single answers.
    rows = [("s1", "a", "b"), ("s1", "b", "c"), ("s1", "c", "d"), ("s1", "a", "c")]
    choices = pd.DataFrame(rows, columns=["subject", "left", "right"]).assign(
        group="g", choice="left"
    )
    plain = scale_choices(choices)["score"]
    bounded = ScalingOptions(thurstone=ThurstoneOptions(score_sd=2.0))
    scores = scale_choices(choices, options=bounded).set_index("stimulus")["score"]
    assert scores.max() - scores.min() < 0.5 * (plain.max() - plain.min())
    assert scores["a"] > scores["b"] > scores["c"] > scores["d"] and abs(scores.mean()) < 1e-9
    with pytest.raises(OptionsError, match="thurstone.score_sd"):
        ThurstoneOptions(score_sd=0.0)
