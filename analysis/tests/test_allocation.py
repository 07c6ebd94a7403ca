"""The adaptive allocation policy on hand-made tallies: estimator, order, limits."""

import math

import numpy as np
import pytest
from scipy import stats

from analysis.allocation import (
    AllocationPolicy,
    Tallies,
    allocation_choose,
    allocation_state,
    half_width,
    moderated_variance,
    pooled_variance,
    ratings_still_needed,
)


def tallies_from(ratings: list[list[float]], *, pending: list[int] | None = None) -> Tallies:
    """One dimension; `ratings[i]` are stimulus i's kept scores."""
    count = len(ratings)
    n = np.array([[len(r)] for r in ratings], dtype=float)
    total = np.array([[sum(r)] for r in ratings], dtype=float)
    total_sq = np.array([[sum(x * x for x in r)] for r in ratings], dtype=float)
    return Tallies(
        kept_n=n,
        kept_sum=total,
        kept_sumsq=total_sq,
        given=n[:, 0].copy(),
        pending=np.array(pending or [0] * count, dtype=float),
    )


POLICY = AllocationPolicy(targets=(5.0,), min_ratings=3, max_ratings=10, prior_df=4.0)
LOOSE = AllocationPolicy(targets=(8.0,), min_ratings=3, max_ratings=12)


def test_pooled_and_moderated_variance_match_the_formula():
    a, b = [40.0, 50.0, 60.0], [10.0, 12.0]
    tallies = tallies_from([a, b, [70.0]])
    var_a, var_b = np.var(a, ddof=1), np.var(b, ddof=1)
    pooled = (2 * var_a + 1 * var_b) / 3
    assert pooled_variance(tallies, scale_range=100)[0] == pytest.approx(pooled)
    moderated = moderated_variance(tallies, prior_variance=np.array([pooled]), prior_df=4.0)
    assert moderated[0, 0] == pytest.approx((4 * pooled + 2 * var_a) / 6)
    assert moderated[1, 0] == pytest.approx((4 * pooled + 1 * var_b) / 5)
    # One rating: no spread of its own, the prior alone.
    assert moderated[2, 0] == pytest.approx(pooled)


def test_pooled_variance_falls_back_to_a_wide_guess_without_spread():
    tallies = tallies_from([[50.0], []])
    assert pooled_variance(tallies, scale_range=100)[0] == pytest.approx(25.0**2)


def test_half_width_is_t_times_standard_error_with_the_prior_degrees_of_freedom():
    width = half_width(np.array([9.0]), np.array([36.0]), confidence=0.95, prior_df=4.0)
    expected = stats.t.ppf(0.975, 12) * 6 / 3
    assert width[0] == pytest.approx(expected)
    assert math.isinf(half_width(np.array([0.0]), np.array([36.0]), confidence=0.95, prior_df=4)[0])


def test_below_minimum_first_fewest_first_then_widest_interval_first():
    # Twelve raters who agree: narrow even after shrinking toward the others' spread.
    agreed = [50.0, 50.5, 49.5, 50.0] * 3
    wide = [10.0, 90.0, 20.0, 80.0]  # far above target
    middle = [40.0, 60.0, 45.0, 55.0]
    tallies = tallies_from([agreed, wide, [30.0], [], middle])
    policy = AllocationPolicy(targets=(8.0,), min_ratings=3, max_ratings=30)
    state = allocation_state(tallies, policy)
    order = allocation_choose(state, count=10, tie_break=[0.5] * 5)
    # Unrated (0) before once-rated (1); then wide before middle; agreed not at all.
    assert order.tolist() == [3, 2, 1, 4]
    assert state.at_target.tolist() == [True, False, False, False, False]


def test_count_limits_the_choice_and_ties_follow_the_tie_break():
    tallies = tallies_from([[], [], []])
    state = allocation_state(tallies, POLICY)
    assert allocation_choose(state, count=2, tie_break=[0.9, 0.1, 0.5]).tolist() == [1, 2]


def test_maximum_is_never_exceeded_counting_pending_trials():
    wide = [10.0, 90.0, 20.0, 80.0]
    at_max = tallies_from([wide * 2 + [50.0, 50.0]])  # 10 given
    assert allocation_choose(allocation_state(at_max, POLICY), count=5, tie_break=[0]).size == 0
    promised = tallies_from([wide], pending=[6])  # 4 given + 6 promised = the maximum
    assert allocation_choose(allocation_state(promised, POLICY), count=5, tie_break=[0]).size == 0
    room = tallies_from([wide], pending=[5])
    assert allocation_choose(allocation_state(room, POLICY), count=5, tie_break=[0]).tolist() == [0]


def test_pending_trials_count_toward_the_minimum_and_the_projected_width():
    # Stimulus 0 has 1 rating + 2 promised: it is no longer below the minimum of 3.
    tallies = tallies_from([[50.0], [50.0, 52.0]], pending=[2, 0])
    state = allocation_state(tallies, POLICY)
    assert state.below_min.tolist() == [False, True]
    assert state.projected[0, 0] < state.half_width[0, 0]


def test_a_stimulus_at_target_on_one_dimension_is_still_rated_for_the_other():
    tallies = Tallies(
        kept_n=np.array([[4.0, 4.0]]),
        kept_sum=np.array([[200.0, 200.0]]),
        kept_sumsq=np.array([[50.0**2 * 4, 10.0**2 + 90.0**2 + 20.0**2 + 80.0**2]]),
        given=np.array([4.0]),
        pending=np.array([0.0]),
    )
    policy = AllocationPolicy(targets=(5.0, 5.0), min_ratings=3, max_ratings=10)
    state = allocation_state(tallies, policy)
    assert not state.at_target[0]
    assert allocation_choose(state, count=1, tie_break=[0]).tolist() == [0]


def test_a_few_agreeing_ratings_are_not_trusted_while_others_disagree():
    # Shrinkage: four identical scores among wildly spread stimuli are not yet "precise".
    tallies = tallies_from([[50.0] * 4, [10.0, 90.0, 20.0, 80.0]])
    state = allocation_state(tallies, POLICY)
    assert not state.at_target[0]
    assert state.half_width[0, 0] > POLICY.targets[0]


def test_ratings_still_needed_is_zero_at_target_and_capped_by_the_maximum():
    agreed = [50.0, 50.5, 49.5, 50.0] * 3
    wide = [10.0, 90.0, 20.0, 80.0]
    tallies = tallies_from([agreed, wide, []])
    state = allocation_state(tallies, LOOSE)
    more = ratings_still_needed(tallies, state, LOOSE)
    assert more[0] == 0
    assert more[1] == LOOSE.max_ratings - 4  # too wide to reach 8 within 12 ratings
    assert 3 <= more[2] <= LOOSE.max_ratings
