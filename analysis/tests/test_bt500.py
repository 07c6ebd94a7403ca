"""ITU-R BT.500 screening: golden decisions on real data, every documented option, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.io import load_ratings
from analysis.screening import ALL_DIMENSIONS, BT500Options, apply_rejections, screen_bt500
from analysis.tests.helpers import ratings_from_matrix, real_ratings_raw, sureal_dataset


def reference_pq(raw: pd.DataFrame, ddof: int) -> pd.DataFrame:
    """Independent, loop-based re-implementation of BT.500-14 Annex 1 §2.3.1 on a full design."""
    matrix = raw.pivot(index="stimulus_id", columns="subject_id", values="score")
    p = pd.Series(0, index=matrix.columns)
    q = pd.Series(0, index=matrix.columns)
    for _, row in matrix.iterrows():
        x = row.to_numpy()
        sd = x.std(ddof=ddof)
        if sd == 0:
            continue  # zero-variance stimulus: skipped (the library's default)
        beta2 = stats.kurtosis(x, fisher=False, bias=True)
        k = 2.0 if 2 <= beta2 <= 4 else math.sqrt(20)
        p += (x >= x.mean() + k * sd).astype(int)
        q += (x <= x.mean() - k * sd).astype(int)
    n = matrix.shape[0]
    out = pd.DataFrame({"P": p, "Q": q})
    out["ratio"] = (out.P + out.Q) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        out["asymmetry"] = (out.P - out.Q).abs() / (out.P + out.Q)
    out["rejected"] = (out.ratio > 0.05) & (out.asymmetry < 0.3)
    return out


@pytest.mark.parametrize("name", ["nflx_public_raw", "vqeghd3_raw"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_counts_match_independent_reference(name, ddof):
    raw = real_ratings_raw(name)
    result = screen_bt500(load_ratings(raw), BT500Options(ddof=ddof))
    got = result.subjects.set_index("subject")
    want = reference_pq(raw, ddof)
    assert got["P"].to_dict() == want["P"].to_dict()
    assert got["Q"].to_dict() == want["Q"].to_dict()
    np.testing.assert_allclose(got["ratio"], want.loc[got.index, "ratio"])
    assert got["rejected"].to_dict() == want["rejected"].to_dict()


def test_vqeg_hd3_decisions_explained():
    result = screen_bt500(load_ratings(real_ratings_raw("vqeghd3_raw")))
    table = result.subjects.set_index("subject")
    assert result.rejected_subjects == [12]
    s12 = table.loc[12]
    # 5 outlying ratings of 72: 5/72 = 0.0694 > 0.05, and they go both ways
    # (|2-3|/5 = 0.2 < 0.3): an inconsistent rater, rejected.
    assert (s12.P, s12.Q, s12.denominator) == (2, 3, 72)
    assert s12.ratio == pytest.approx(5 / 72)
    assert s12.asymmetry == pytest.approx(0.2)
    assert "rejected" in s12.reason
    # Subject 19 is outlying more often (12/72) but always upwards: a biased, not an
    # inconsistent rater, so BT.500 keeps them (|12-0|/12 = 1 >= 0.3).
    s19 = table.loc[19]
    assert (s19.P, s19.Q) == (12, 0) and not s19.rejected
    assert s19.asymmetry == 1.0


def test_netflix_decisions_depend_on_ddof():
    ratings = load_ratings(real_ratings_raw("nflx_public_raw"))
    default = screen_bt500(ratings)
    assert default.rejected_subjects == []
    s9 = default.subjects.set_index("subject").loc[9]
    assert (s9.P, s9.Q) == (10, 0)  # 10/79 > 0.05 but one-sided: kept
    population = screen_bt500(ratings, BT500Options(ddof=0))
    s2 = population.subjects.set_index("subject").loc[2]
    # The narrower population-std band adds outliers: 4/79 = 0.0506 > 0.05, balanced.
    assert (s2.P, s2.Q, s2.denominator) == (2, 2, 79) and s2.rejected
    assert population.rejected_subjects == [2]


def test_zero_variance_presentation_skip_vs_literal():
    ratings = load_ratings(real_ratings_raw("nflx_public_raw"))
    skip = screen_bt500(ratings)
    assert (skip.stimuli["status"] == "skipped_zero_variance").sum() == 1
    assert any("zero variance" in n for n in skip.notes)
    literal = screen_bt500(ratings, BT500Options(zero_variance="literal"))
    a = skip.subjects.set_index("subject")
    b = literal.subjects.set_index("subject")
    # Literally, a zero-width band makes every rating of that stimulus both a P and a Q.
    assert ((b.P - a.P) == 1).all() and ((b.Q - a.Q) == 1).all()
    excluded = screen_bt500(ratings, BT500Options(count_skipped_in_denominator=False))
    assert (excluded.subjects["denominator"] == 78).all()
    assert (skip.subjects["denominator"] == 79).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cross_check_with_sureal():
    pytest.importorskip("sureal", reason="sureal (test-only cross-check) not installed")
    from sureal.dataset_reader import RawDatasetReader
    from sureal.subjective_model import SubjrejMosModel

    for name in ("nflx_public_raw", "vqeghd3_raw"):
        raw = real_ratings_raw(name)
        _, dataset = sureal_dataset(raw)
        res = SubjrejMosModel(RawDatasetReader(dataset)).run_modeling()
        ours = screen_bt500(
            load_ratings(raw), BT500Options(ddof=0, zero_variance="literal")
        ).subjects.set_index("subject")
        # sureal uses the population std and applies the formula literally to zero-variance
        # stimuli; with those options the decisions and statistics coincide.
        observers = [int(o) for o in res["observers"]]
        assert list(ours.loc[observers, "rejected"]) == list(res["observer_rejected"])
        np.testing.assert_allclose(ours.loc[observers, "ratio"], res["observer_rejected_1st_stats"])


def test_band_depends_on_kurtosis():
    # Stimulus 0: near-normal sample; stimulus 1: a heavy-tailed one (beta2 > 4).
    normal = [1, 2, 2, 3, 3, 3, 3, 4, 4, 5]
    heavy = [3, 3, 3, 3, 3, 3, 3, 3, 3, 9]
    result = screen_bt500(ratings_from_matrix([normal, heavy]))
    st = result.stimuli.set_index("stimulus")
    assert 2 <= st.loc[0, "beta2"] <= 4 and st.loc[0, "band_factor"] == 2.0
    assert st.loc[1, "beta2"] > 4 and st.loc[1, "band_factor"] == pytest.approx(math.sqrt(20))
    assert st.loc[1, "beta2"] == pytest.approx(stats.kurtosis(heavy, fisher=False))


def test_partial_design_uses_each_subjects_own_count():
    rng = np.random.default_rng(1)
    m = rng.integers(1, 6, size=(40, 8)).astype(float)
    m[:20, 0] = np.nan  # subject 0 rated only 20 stimuli
    result = screen_bt500(ratings_from_matrix(m))
    table = result.subjects.set_index("subject")
    assert table.loc[0, "n_ratings"] == 20 and table.loc[0, "denominator"] == 20
    assert table.loc[1, "denominator"] == 40


def _two_dimension_study() -> pd.DataFrame:
    """80 stimuli x 24 Gaussian raters; subject 0 is erratic (σ = 1.0 vs 0.3) in quality only.

    Seeded: honest Gaussian raters exceed 2σ on ~4.6 % of ratings, so some of them cross the
    5 % threshold by chance; the assertions only concern subject 0.
    """
    rng = np.random.default_rng(0)
    truth = np.linspace(1.5, 4.5, 80)
    frames = []
    for dim in ("quality", "authenticity"):
        m = truth[:, None] + rng.normal(0, 0.3, size=(80, 24))
        if dim == "quality":
            m[:, 0] = truth + rng.normal(0, 1.0, size=80)
        frames.append(ratings_from_matrix(m, dimension=dim))
    return pd.concat(frames, ignore_index=True)


def test_per_dimension_rejection_is_limited_to_that_dimension():
    data = _two_dimension_study()
    result = screen_bt500(data)
    table = result.subjects.set_index(["subject", "dimension"])
    erratic = table.loc[(0, "quality")]
    assert (erratic.P, erratic.Q, erratic.denominator) == (7, 8, 80)
    assert erratic.rejected and not table.loc[(0, "authenticity")].rejected
    kept = apply_rejections(data, [result])
    assert not ((kept.subject == 0) & (kept.dimension == "quality")).any()
    assert ((kept.subject == 0) & (kept.dimension == "authenticity")).sum() == 80


def test_pooled_dimensions_sum_counts_and_reject_everywhere():
    data = _two_dimension_study()
    per_dim = screen_bt500(data).subjects.set_index(["subject", "dimension"])
    pooled = screen_bt500(data, BT500Options(pool_dimensions=True))
    row = pooled.subjects.set_index("subject").loc[0]
    assert row["dimension"] == ALL_DIMENSIONS
    assert row["P"] == per_dim.loc[0, "P"].sum() and row["Q"] == per_dim.loc[0, "Q"].sum()
    assert (row["P"], row["Q"], row["denominator"]) == (8, 8, 160)
    assert row["ratio"] == pytest.approx(16 / 160) and row["rejected"]
    assert len(apply_rejections(data, [pooled]).query("subject == 0")) == 0


def test_constant_scores_everyone_agrees():
    result = screen_bt500(ratings_from_matrix(np.full((10, 5), 3.0)))
    assert (result.stimuli["status"] == "skipped_zero_variance").all()
    assert result.stimuli["beta2"].isna().all()
    assert result.rejected_subjects == []
    assert (result.subjects["P"] == 0).all()


def test_single_rating_stimulus_is_skipped():
    m = np.array([[1, 2, 3, 4], [2, np.nan, np.nan, np.nan]], dtype=float)
    result = screen_bt500(ratings_from_matrix(m))
    status = result.stimuli.set_index("stimulus")["status"]
    assert status[1] == "skipped_too_few"
    assert status[0] == "tested"


def test_summary_is_traceable():
    summary = screen_bt500(ratings_from_matrix([[1, 2, 3], [2, 3, 4]])).to_summary()
    assert summary["method"] == "bt500"
    assert summary["standard"].startswith("ITU-R BT.500-14")
    assert summary["version"] and summary["options"]["ddof"] == 1


def test_partial_design_can_divide_by_every_presentation():
    """``denominator="presentations"`` divides by all 40 stimuli, as SUREAL does, even for a
    subject who rated 20 of them."""
    rng = np.random.default_rng(1)
    m = rng.integers(1, 6, size=(40, 8)).astype(float)
    m[:20, 0] = np.nan
    rated = screen_bt500(ratings_from_matrix(m)).subjects.set_index("subject")
    every = screen_bt500(
        ratings_from_matrix(m), BT500Options(denominator="presentations")
    ).subjects.set_index("subject")
    assert every.loc[0, "denominator"] == 40 and rated.loc[0, "denominator"] == 20
    assert every.loc[0, "ratio"] == pytest.approx(rated.loc[0, "ratio"] / 2)
    assert (every.loc[1:, "denominator"] == rated.loc[1:, "denominator"]).all()


def test_pooled_repeats_form_one_presentation_per_stimulus():
    rng = np.random.default_rng(2)
    first = ratings_from_matrix(rng.integers(1, 6, size=(10, 6)).astype(float))
    second = first.assign(repeat=1, score=np.clip(first["score"] + 1, 1, 5))
    both = pd.concat([first, second], ignore_index=True)
    separate = screen_bt500(both, BT500Options(denominator="presentations"))
    pooled = screen_bt500(both, BT500Options(denominator="presentations", pool_repeats=True))
    assert len(separate.stimuli) == 20 and len(pooled.stimuli) == 10
    assert (pooled.stimuli["n"] == 12).all() and (pooled.stimuli["repeat"] == "*").all()
    # stimuli x repetition levels = SUREAL's E·R, as without pooling in a full design
    assert (pooled.subjects["denominator"] == 20).all()
    assert (separate.subjects["denominator"] == 20).all()
