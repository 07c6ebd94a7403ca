"""simulate_study's repeats: each subject sees again only what that subject rated."""

from analysis.synthetic import SimulationOptions, simulate_study


def test_a_subject_with_few_ratings_repeats_only_its_own():
    options = SimulationOptions(n_stimuli=30, n_subjects=8, coverage=0.1, n_repeats=5, seed=3)
    ratings = simulate_study(options).ratings
    keys = ["subject", "stimulus", "dimension"]
    first = ratings[ratings["repeat"] == 0]
    again = ratings[ratings["repeat"] == 1]
    seen = set(map(tuple, first[keys].to_numpy()))
    assert [key for key in map(tuple, again[keys].to_numpy()) if key not in seen] == []
    rated = first.groupby("subject").size()
    repeated = again.groupby("subject").size().reindex(rated.index, fill_value=0)
    assert rated.min() < options.n_repeats  # the case that used to spill
    assert (repeated == rated.clip(upper=options.n_repeats)).all()
