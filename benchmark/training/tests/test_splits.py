from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.training.config import SplitConfig
from benchmark.training.errors import SplitError
from benchmark.training.splits import leaked_groups, make_splits, split_table


def _frame(group_sizes: list[int], generators: int = 3) -> pd.DataFrame:
    rows = []
    for g, size in enumerate(group_sizes):
        for k in range(size):
            rows.append(
                {
                    "stimulus_id": f"s{g}_{k}",
                    "image": f"img/s{g}_{k}.png",
                    "prompt_group": f"p{g}",
                    "generator": f"gen{k % generators}",
                }
            )
    return pd.DataFrame(rows)


def _check(frame: pd.DataFrame, splits, *, grouped: bool, cover: bool) -> None:
    groups = frame["prompt_group"].to_numpy()
    for s in splits:
        tr, va, te = (set(p.tolist()) for p in s.parts().values())
        assert tr and va and te, s.name
        assert not (tr & va or tr & te or va & te), s.name  # val is never test
        if cover:
            assert tr | va | te == set(range(len(frame)))
        if grouped:
            assert not leaked_groups(s, groups), s.name


group_sizes = st.lists(st.integers(1, 6), min_size=6, max_size=40)


@settings(max_examples=60, deadline=None)
@given(sizes=group_sizes, seed=st.integers(0, 10_000), repeats=st.integers(1, 3))
def test_random_grouped_never_leaks(sizes: list[int], seed: int, repeats: int) -> None:
    frame = _frame(sizes)
    splits = make_splits(frame, SplitConfig(), repeats=repeats, seed=seed)
    assert len(splits) == repeats
    _check(frame, splits, grouped=True, cover=True)


@settings(max_examples=40, deadline=None)
@given(sizes=group_sizes, seed=st.integers(0, 10_000), folds=st.integers(2, 5))
def test_kfold_tests_every_row_once(sizes: list[int], seed: int, folds: int) -> None:
    frame = _frame(sizes)
    cfg = SplitConfig(protocol="kfold", folds=folds)
    if len(sizes) < (4 if folds == 2 else folds):
        with pytest.raises(SplitError):
            make_splits(frame, cfg, repeats=1, seed=seed)
        return
    splits = make_splits(frame, cfg, repeats=1, seed=seed)
    _check(frame, splits, grouped=True, cover=True)
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested.tolist()) == list(range(len(frame)))


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(2, 6), min_size=8, max_size=40), seed=st.integers(0, 999))
def test_cross_generator(sizes: list[int], seed: int) -> None:
    frame = _frame(sizes)
    gens = frame["generator"].to_numpy()
    cfg = SplitConfig(
        protocol="cross_generator", train_generators=["gen0"], test_generators=["gen1"]
    )
    splits = make_splits(frame, cfg, repeats=2, seed=seed)
    _check(frame, splits, grouped=True, cover=False)
    for s in splits:
        assert set(gens[s.train]) | set(gens[s.val]) == {"gen0"}
        assert set(gens[s.test]) == {"gen1"}


def test_cross_generator_ungrouped_tests_all_of_the_test_generator() -> None:
    frame = _frame([3] * 10)
    cfg = SplitConfig(
        protocol="cross_generator",
        grouped=False,
        train_generators=["gen0", "gen2"],
        test_generators=["gen1"],
    )
    (s,) = make_splits(frame, cfg, repeats=1, seed=0)
    assert len(s.test) == 10
    groups = frame["prompt_group"].to_numpy()
    # Validation is still carved from whole train-side prompt groups.
    assert not set(groups[s.train]) & set(groups[s.val])
    _check(frame, [s], grouped=False, cover=False)


def test_unknown_generator_is_an_error() -> None:
    cfg = SplitConfig(protocol="cross_generator", train_generators=["gen0"], test_generators=["x"])
    with pytest.raises(SplitError, match="test_generators not in the manifest"):
        make_splits(_frame([3] * 8), cfg, repeats=1, seed=0)


def test_ungrouped_random_uses_fractions() -> None:
    frame = _frame([10] * 20)
    (s,) = make_splits(frame, SplitConfig(grouped=False), repeats=1, seed=3)
    assert (len(s.train), len(s.val), len(s.test)) == (140, 20, 40)
    _check(frame, [s], grouped=False, cover=True)


def test_seeds_are_reproducible_and_repeats_differ() -> None:
    frame = _frame([3] * 30)
    a = make_splits(frame, SplitConfig(), repeats=2, seed=7)
    b = make_splits(frame, SplitConfig(), repeats=2, seed=7)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].test, a[1].test)


def test_too_few_groups() -> None:
    with pytest.raises(SplitError, match="at least 3"):
        make_splits(_frame([5, 5]), SplitConfig(), repeats=1, seed=0)


def test_fixed_split_file_round_trip(tmp_path: Path) -> None:
    frame = _frame([3] * 12)
    (s,) = make_splits(frame, SplitConfig(), repeats=1, seed=1)
    path = tmp_path / "split.csv"
    split_table(s, frame).to_csv(path, index=False)
    (f,) = make_splits(frame, SplitConfig(protocol="fixed", file=str(path)), repeats=1, seed=0)
    for part in ("train", "val", "test"):
        assert np.array_equal(f.parts()[part], s.parts()[part])


def test_fixed_split_without_val_carves_it_from_train(tmp_path: Path) -> None:
    frame = _frame([2] * 10)
    names = frame["image"].map(lambda p: Path(p).name)  # match by file name
    parts = ["test" if g in ("p0", "p1") else "train" for g in frame["prompt_group"]]
    path = tmp_path / "paper_split.csv"
    pd.DataFrame({"stimulus": names, "part": parts}).to_csv(path, index=False)
    (f,) = make_splits(frame, SplitConfig(protocol="fixed", file=str(path)), repeats=1, seed=0)
    assert f.test.tolist() == [0, 1, 2, 3]
    assert len(f.val) > 0 and "val carved" in f.notes[0]
    _check(frame, [f], grouped=True, cover=True)


def test_fixed_split_reports_unknown_stimuli_and_leaks(tmp_path: Path) -> None:
    frame = _frame([2] * 4)
    path = tmp_path / "s.csv"
    pd.DataFrame({"stimulus": ["nope"], "part": ["test"]}).to_csv(path, index=False)
    with pytest.raises(SplitError, match="not in the manifest"):
        make_splits(frame, SplitConfig(protocol="fixed", file=str(path)), repeats=1, seed=0)
    leaky = pd.DataFrame(
        {
            "stimulus": frame["stimulus_id"],
            "part": ["train", "test", "train", "val", "train", "train", "train", "train"],
            "repeat": 0,
        }
    )
    leaky.to_csv(path, index=False)
    (f,) = make_splits(frame, SplitConfig(protocol="fixed", file=str(path)), repeats=1, seed=0)
    assert any("span several parts" in n for n in f.notes)


def _shared_file_manifest(tmp_path: Path) -> pd.DataFrame:
    """Twelve prompt groups of two images; p0's first image and p7's first image are the
    same bytes under two names (as AGIQA-3K publishes glide_normal_101/263.jpg)."""
    frame = _frame([2] * 12)
    paths = []
    for row, stimulus in enumerate(frame["stimulus_id"]):
        path = tmp_path / f"{stimulus}.png"
        path.write_bytes(b"identical" if stimulus in ("s0_0", "s7_0") else f"own {row}".encode())
        paths.append(str(path))
    return frame.assign(image_path=paths)


def _part_of(split, row: int) -> str:
    return next(name for name, rows in split.parts().items() if row in set(rows.tolist()))


SHARED_ROWS = (0, 14)  # s0_0 and s7_0
SPLIT_PROTOCOLS = [
    SplitConfig(),
    SplitConfig(grouped=False),
    SplitConfig(protocol="kfold", folds=3),
    SplitConfig(protocol="kfold", folds=4, grouped=False),
]


@pytest.mark.parametrize("cfg", SPLIT_PROTOCOLS, ids=lambda cfg: f"{cfg.protocol}-{cfg.grouped}")
@pytest.mark.parametrize("identity", ["content", "sha256", "same_file_as", "image_path"])
def test_identical_files_always_land_in_one_part(
    tmp_path: Path, cfg: SplitConfig, identity: str
) -> None:
    frame = _shared_file_manifest(tmp_path)
    if identity == "sha256":
        frame["sha256"] = [
            "ab" * 32 if row in SHARED_ROWS else f"{row:064x}" for row in range(len(frame))
        ]
        frame["image_path"] = [f"/absent/{row}.png" for row in range(len(frame))]
    elif identity == "same_file_as":
        frame["same_file_as"] = ["s0_0" if row == 14 else "" for row in range(len(frame))]
        frame = frame.drop(columns="image_path")
    elif identity == "image_path":
        frame.loc[14, "image_path"] = frame.loc[0, "image_path"]
    for seed in range(15):
        splits = make_splits(frame, cfg, repeats=2, seed=seed)
        for split in splits:
            assert _part_of(split, 0) == _part_of(split, 14), (identity, split.name)
            if cfg.grouped:
                # The groups the shared file connects travel together, whole.
                parts = {_part_of(split, row) for row in (0, 1, 14, 15)}
                assert len(parts) == 1, (identity, split.name)
        if cfg.protocol == "kfold":
            tested = np.concatenate([split.test for split in splits[: cfg.folds]])
            assert sorted(tested.tolist()) == list(range(len(frame)))


def test_without_shared_files_the_splits_are_unchanged(tmp_path: Path) -> None:
    frame = _shared_file_manifest(tmp_path)
    frame["image_path"] = [p.replace("s7_0", "s0_0") for p in frame["image_path"]]
    distinct = frame.copy()
    distinct.loc[14, "image_path"] = str(tmp_path / "elsewhere.png")
    plain = frame.drop(columns="image_path")
    for cfg in SPLIT_PROTOCOLS:
        expected = make_splits(plain, cfg, repeats=1, seed=3)
        actual = make_splits(distinct, cfg, repeats=1, seed=3)
        for want, got in zip(expected, actual, strict=True):
            assert all(
                np.array_equal(want_rows, got_rows)
                for want_rows, got_rows in zip(
                    want.parts().values(), got.parts().values(), strict=True
                )
            )


def test_fixed_split_notes_identical_files_across_parts(tmp_path: Path) -> None:
    frame = _shared_file_manifest(tmp_path)
    parts = ["train"] * len(frame)
    parts[14], parts[15] = "test", "test"
    parts[2], parts[3] = "val", "val"
    path = tmp_path / "split.csv"
    pd.DataFrame({"stimulus": frame["stimulus_id"], "part": parts}).to_csv(path, index=False)
    (split,) = make_splits(frame, SplitConfig(protocol="fixed", file=str(path)), repeats=1, seed=0)
    assert any("1 identical image file(s) span several parts" in note for note in split.notes)
