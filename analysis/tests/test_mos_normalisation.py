"""MOS + confidence intervals (golden values on real data) and z-score normalisation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.errors import RatingsError
from analysis.io import load_ratings
from analysis.mos import MOSOptions, compute_mos, mos_wide
from analysis.normalisation import NormalisationOptions, zscore_ratings
from analysis.tests.helpers import ratings_from_matrix, real_ratings_raw


@pytest.mark.parametrize("name", ["nflx_public_raw", "vqeghd3_raw"])
def test_mos_and_cis_match_numpy_scipy(name):
    raw = real_ratings_raw(name)
    table = compute_mos(load_ratings(raw)).table.set_index("stimulus")
    for stimulus, scores in raw.groupby("stimulus_id")["score"]:
        x = scores.to_numpy()
        n = len(x)
        se = x.std(ddof=1) / math.sqrt(n)
        row = table.loc[stimulus]
        assert row["n"] == n
        assert row["mos"] == pytest.approx(x.mean(), abs=1e-12)
        assert row["std"] == pytest.approx(x.std(ddof=1), abs=1e-12)
        assert row["ci_t"] == pytest.approx(stats.t.ppf(0.975, n - 1) * se, abs=1e-12)
        assert row["ci_z"] == pytest.approx(1.959963984540054 * se, abs=1e-12)
        assert row["ci_t_low"] == pytest.approx(x.mean() - row["ci_t"])


def test_netflix_stimulus_by_hand():
    raw = real_ratings_raw("nflx_public_raw")
    counts = raw.loc[raw.stimulus_id == 1, "score"].value_counts().to_dict()
    assert counts == {5.0: 23, 4.0: 3}
    row = compute_mos(load_ratings(raw)).table.set_index("stimulus").loc[1]
    # 23 fives and 3 fours: mean 127/26; sum of squares 23·3/26 (a two-valued sample).
    assert row["mos"] == pytest.approx(127 / 26)
    sd = math.sqrt(69 / 26 / 25)
    assert row["std"] == pytest.approx(sd)
    assert row["ci_t"] == pytest.approx(2.059538552753294 * sd / math.sqrt(26))
    # Stimulus 27: every subject said 1 -> zero-width CI, not NaN.
    flat = compute_mos(load_ratings(raw)).table.set_index("stimulus").loc[27]
    assert (flat["mos"], flat["std"], flat["ci_t"]) == (1.0, 0.0, 0.0)


def test_single_rating_stimulus_is_flagged():
    table = compute_mos(ratings_from_matrix([[1, 2, 3], [4, np.nan, np.nan]])).table
    single = table.set_index("stimulus").loc[1]
    assert single["mos"] == 4 and single["n"] == 1 and single["single_rating"]
    assert np.isnan(single["std"]) and np.isnan(single["ci_t"]) and np.isnan(single["ci_z"])


def test_confidence_level_and_wide_view():
    data = ratings_from_matrix([[1, 2, 3, 4], [2, 3, 4, 5]])
    t90 = compute_mos(data, MOSOptions(confidence=0.9)).table
    se = np.std([1, 2, 3, 4], ddof=1) / 2
    assert t90.loc[0, "ci_t"] == pytest.approx(stats.t.ppf(0.95, 3) * se)
    wide = mos_wide(compute_mos(data).table)
    assert wide.loc[1, "q"] == 3.5


def test_generator_metadata_is_carried():
    data = ratings_from_matrix([[1, 2], [3, 4]]).assign(
        generator=lambda d: d.stimulus.map({0: "MJ", 1: "SD"})
    )
    table = compute_mos(data).table
    assert table["generator"].tolist() == ["MJ", "SD"]


def test_mos_summary_traceable():
    summary = compute_mos(ratings_from_matrix([[1, 2], [3, 4]])).to_summary()
    assert summary["method"] == "mos" and summary["version"]
    assert summary["dimensions"]["q"]["n_stimuli"] == 2


# --- normalisation ---------------------------------------------------------------------


def _study() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    truth = rng.uniform(1, 5, 30)
    m = truth[:, None] * rng.uniform(0.5, 1.5, 6) + rng.normal(0, 0.3, (30, 6))
    return ratings_from_matrix(m)


def test_zscores_have_zero_mean_unit_std_per_subject():
    out = zscore_ratings(_study(), NormalisationOptions(rescale="none")).ratings
    g = out.groupby("subject")["score"]
    np.testing.assert_allclose(g.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(g.std(ddof=1), 1, atol=1e-12)
    assert "score_raw" in out.columns


def test_fixed_rescale_rule():
    data = _study()
    z = zscore_ratings(data, NormalisationOptions(rescale="none")).ratings["score"]
    fixed = zscore_ratings(data).ratings["score"]
    np.testing.assert_allclose(fixed, 100 * (z + 3) / 6)
    five = zscore_ratings(data, NormalisationOptions(target_range=(1, 5), z_span=2)).ratings
    np.testing.assert_allclose(five["score"], 1 + (z + 2) / 4 * 4)


def test_minmax_rescale_hits_the_range_ends():
    out = zscore_ratings(_study(), NormalisationOptions(rescale="minmax")).ratings
    assert out["score"].min() == pytest.approx(0) and out["score"].max() == pytest.approx(100)


def test_degenerate_subjects_dropped_or_zeroed():
    m = np.array([[1, 2, 5], [2, 2, np.nan], [3, 2, np.nan], [4, 2, np.nan]], dtype=float)
    data = ratings_from_matrix(m)  # subject 1 constant, subject 2 a single rating
    dropped = zscore_ratings(data)
    assert sorted(dropped.dropped["subject"]) == [1, 2]
    assert set(dropped.dropped["status"]) == {"zero_std_dropped", "undefined_std_dropped"}
    assert set(dropped.ratings["subject"]) == {0}
    zero = zscore_ratings(data, NormalisationOptions(degenerate="zero"))
    centre = zero.ratings.loc[zero.ratings.subject == 1, "score"]
    assert (centre == 50).all() and zero.dropped.empty


def test_per_session_normalisation():
    data = _study()
    data["session"] = np.where(data["stimulus"] < 15, "a", "b")
    out = zscore_ratings(data, NormalisationOptions(per_session=True, rescale="none"))
    assert len(out.groups) == 12
    g = out.ratings.groupby(["subject", "session"])["score"]
    np.testing.assert_allclose(g.mean(), 0, atol=1e-12)
    with pytest.raises(RatingsError, match="session"):
        zscore_ratings(_study(), NormalisationOptions(per_session=True))
