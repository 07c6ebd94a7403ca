"""Train / validation / test splits over manifest rows.

Images generated from one prompt share content, so by default whole prompt groups
go to one part; otherwise test scores are inflated by near-duplicates seen in
training. Published databases also list byte-identical files under different names
(AGIQA-3K's ``glide_normal_101.jpg`` and ``glide_normal_263.jpg``); rows sharing a file
go to one part too, with every prompt group they connect (:func:`leak_units`). Every
protocol yields a validation part disjoint from test because the checkpoint is chosen
on validation, never on test.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.training.config import SplitConfig
from benchmark.training.errors import SplitError
from common.files import sha256_of


@dataclass(frozen=True)
class Split:
    """Row indices of one repeat (or fold) of a protocol."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    notes: tuple[str, ...] = field(default=())

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


def _sorted(values: np.ndarray | list[int]) -> np.ndarray:
    return np.sort(np.asarray(values, dtype=np.int64))


def _carve(
    units: np.ndarray, sizes: np.ndarray, fractions: list[float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffle ``units`` and cut them into consecutive parts holding about
    ``fractions`` of the total size each (the last part takes the rest).

    Cutting on unit boundaries keeps each unit (a prompt group) whole; every part
    gets at least one unit so that no metric is computed on an empty part.
    """
    n_units = len(units)
    if n_units < len(fractions) + 1:
        raise SplitError(
            f"need at least {len(fractions) + 1} prompt groups (or rows) to split, found {n_units}"
        )
    order = rng.permutation(n_units)
    cum = np.cumsum(sizes[order])
    total = cum[-1]
    cuts: list[int] = []
    start = 0
    acc = 0.0
    for part_index, frac in enumerate(fractions):
        acc += frac
        cut = int(np.searchsorted(cum, acc * total * (1 - 1e-9), side="left")) + 1
        remaining_parts = len(fractions) - part_index
        cut = min(max(cut, start + 1), n_units - remaining_parts)
        cuts.append(cut)
        start = cut
    bounds = [0, *cuts, n_units]
    return [units[order[a:b]] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _units(groups: np.ndarray, rows: np.ndarray, grouped: bool) -> tuple[np.ndarray, np.ndarray]:
    if not grouped:
        return rows, np.ones(len(rows))
    uniq, counts = np.unique(groups[rows], return_counts=True)
    return uniq, counts.astype(float)


def _rows_of(groups: np.ndarray, rows: np.ndarray, chosen: np.ndarray, grouped: bool) -> np.ndarray:
    if not grouped:
        return _sorted(chosen)
    return _sorted(rows[np.isin(groups[rows], chosen)])


def _split_of(
    name: str,
    groups: np.ndarray,
    rows: np.ndarray,
    grouped: bool,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
) -> Split:
    """A ``Split`` whose parts are the rows of the chosen units (see ``_rows_of``)."""
    return Split(
        name,
        _rows_of(groups, rows, train, grouped),
        _rows_of(groups, rows, val, grouped),
        _rows_of(groups, rows, test, grouped),
    )


class _Components:
    """Union-find over row indices: rows that must share a part."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def root(self, row: int) -> int:
        while self.parent[row] != row:
            self.parent[row] = self.parent[self.parent[row]]
            row = self.parent[row]
        return row

    def join(self, rows: Iterable[int]) -> None:
        rows = list(rows)
        for row in rows[1:]:
            first, other = self.root(rows[0]), self.root(row)
            if first != other:
                self.parent[max(first, other)] = min(first, other)

    def join_equal(self, keys: Iterable[str]) -> None:
        """Join the rows whose key is the same non-empty string."""
        rows_by_key: dict[str, list[int]] = defaultdict(list)
        for row, key in enumerate(keys):
            if key:
                rows_by_key[key].append(row)
        for rows in rows_by_key.values():
            self.join(rows)


def _content_keys(paths: list[str]) -> list[str]:
    """sha256 of each file whose size another file shares (others cannot be identical);
    every file is read at most once, most never."""
    sizes: list[int | None] = []
    for path in paths:
        try:
            sizes.append(os.stat(path).st_size)
        except OSError:
            sizes.append(None)
    rows_by_size: dict[int, list[int]] = defaultdict(list)
    for row, size in enumerate(sizes):
        if size is not None:
            rows_by_size[size].append(row)
    keys = [""] * len(paths)
    digests: dict[str, str] = {}
    for rows in rows_by_size.values():
        if len({paths[row] for row in rows}) < 2:
            continue
        for row in rows:
            if paths[row] not in digests:
                digests[paths[row]] = sha256_of(paths[row])
            keys[row] = digests[paths[row]]
    return keys


def _column(frame: pd.DataFrame, name: str) -> list[str] | None:
    if name not in frame.columns:
        return None
    return [str(value).strip() for value in frame[name].fillna("")]


def same_file_components(frame: pd.DataFrame) -> _Components:
    """Rows joined when their image files are identical: the same ``sha256`` column value;
    ``same_file_as`` naming another row's ``stimulus_id`` (site releases); the same resolved
    ``image_path``; else (no ``sha256`` column) the same content, hashed where sizes match."""
    components = _Components(len(frame))
    sha256 = _column(frame, "sha256")
    if sha256 is not None:
        components.join_equal(value.lower() for value in sha256)
    same_file_as = _column(frame, "same_file_as")
    stimulus_ids = _column(frame, "stimulus_id")
    if same_file_as is not None and stimulus_ids is not None:
        components.join_equal(
            original or own for original, own in zip(same_file_as, stimulus_ids, strict=True)
        )
    paths = _column(frame, "image_path")
    if paths is not None:
        components.join_equal(paths)
        if sha256 is None:
            components.join_equal(_content_keys(paths))
    return components


def _labels(components: _Components, names: list[str]) -> tuple[np.ndarray, bool]:
    """Each row's unit: the smallest name in its component; whether any rows were joined
    beyond their own name."""
    smallest: dict[int, str] = {}
    for row, name in enumerate(names):
        root = components.root(row)
        smallest[root] = min(smallest.get(root, name), name)
    labels = np.asarray([smallest[components.root(row)] for row in range(len(names))])
    return labels, len(set(labels.tolist())) < len(set(names))


def leak_units(frame: pd.DataFrame, *, grouped: bool) -> tuple[np.ndarray, bool]:
    """The unit each row must stay with in a leak-free split, and whether identical files
    joined anything.

    Grouped: its prompt group, merged with every group that shares an identical image
    file with it (the union of groups connected by shared files). Ungrouped: the rows
    holding the identical file. Without shared files the units are exactly the prompt
    groups (or the rows), so splits are those of a manifest without duplicates.
    """
    components = same_file_components(frame)
    if grouped:
        groups = frame["prompt_group"].astype(str).tolist()
        for rows in _rows_by(groups).values():
            components.join(rows)
        return _labels(components, groups)
    return _labels(components, [f"{row:09d}" for row in range(len(frame))])


def _rows_by(names: list[str]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = defaultdict(list)
    for row, name in enumerate(names):
        rows[name].append(row)
    return rows


def random_splits(groups: np.ndarray, cfg: SplitConfig, repeats: int, seed: int) -> list[Split]:
    rows = np.arange(len(groups))
    units, sizes = _units(groups, rows, cfg.grouped)
    out = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        test, val, train = _carve(units, sizes, [cfg.test_fraction, cfg.val_fraction], rng)
        out.append(_split_of(f"random-r{repeat}", groups, rows, cfg.grouped, train, val, test))
    return out


def cross_generator_splits(
    groups: np.ndarray, generators: np.ndarray, cfg: SplitConfig, repeats: int, seed: int
) -> list[Split]:
    """Train on ``train_generators``, test on ``test_generators``.

    Grouped (default): prompt groups are first divided between the train side and
    the test side, so a test image's prompt was never seen in training. Ungrouped:
    every test-generator image is tested (the PKU-I2IQA SD->MJ protocol). Validation
    is always carved from whole train-side prompt groups.
    """
    known = set(generators.tolist())
    for name, gens in (("train", cfg.train_generators), ("test", cfg.test_generators)):
        absent = sorted(set(gens) - known)
        if absent:
            raise SplitError(
                f"{name}_generators not in the manifest: {absent}; have {sorted(known)}"
            )
    train_side = np.flatnonzero(np.isin(generators, cfg.train_generators))
    test_side = np.flatnonzero(np.isin(generators, cfg.test_generators))
    out = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        if cfg.grouped:
            both = np.concatenate([train_side, test_side])
            units, sizes = _units(groups, both, True)
            test_groups, rest = _carve(units, sizes, [cfg.test_fraction], rng)
            test = _rows_of(groups, test_side, test_groups, True)
            pool = train_side[np.isin(groups[train_side], rest)]
        else:
            test = _sorted(test_side)
            pool = train_side
        units, sizes = _units(groups, pool, True)
        val_groups, train_groups = _carve(units, sizes, [cfg.val_fraction], rng)
        out.append(
            Split(
                f"cross_generator-r{repeat}",
                _rows_of(groups, pool, train_groups, True),
                _rows_of(groups, pool, val_groups, True),
                test,
            )
        )
    return out


def _balanced_folds(
    units: np.ndarray, sizes: np.ndarray, n_folds: int, rng: np.random.Generator
) -> list[np.ndarray]:
    n_units = len(units)
    cap = -(-n_units // n_folds)  # ceil(n / k) units per fold at most
    if n_units < n_folds or n_units - cap < 2:
        raise SplitError(
            f"{n_folds}-fold needs at least {4 if n_folds == 2 else n_folds} prompt groups (or rows), "
            f"so that each fold is tested and train and val stay non-empty; found {n_units}"
        )
    order = rng.permutation(n_units)
    # Largest units first, each into the lightest fold that is not full: folds of
    # similar size in images and in units (so every fold leaves room for val).
    order = order[np.argsort(-sizes[order], kind="stable")]
    loads = np.zeros(n_folds)
    members: list[list[int]] = [[] for _ in range(n_folds)]
    for unit in order:
        open_folds = [fold for fold in range(n_folds) if len(members[fold]) < cap]
        fold = min(open_folds, key=lambda j: loads[j])
        members[fold].append(unit)
        loads[fold] += sizes[unit]
    return [units[np.asarray(m, dtype=np.int64)] for m in members]


def kfold_splits(groups: np.ndarray, cfg: SplitConfig, repeats: int, seed: int) -> list[Split]:
    """Repeated k-fold: each repeat reshuffles; each fold is the test part once."""
    rows = np.arange(len(groups))
    units, sizes = _units(groups, rows, cfg.grouped)
    out = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        folds = _balanced_folds(units, sizes, cfg.folds, rng)
        for fold_index, test in enumerate(folds):
            rest = np.concatenate([u for j, u in enumerate(folds) if j != fold_index])
            rest_sizes = sizes[np.searchsorted(units, rest)] if cfg.grouped else np.ones(len(rest))
            val, train = _carve(rest, rest_sizes, [cfg.val_fraction], rng)
            out.append(
                _split_of(
                    f"kfold-r{repeat}-f{fold_index}", groups, rows, cfg.grouped, train, val, test
                )
            )
    return out


PART_NAMES = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test"}


def fixed_splits(
    frame: pd.DataFrame, groups: np.ndarray, cfg: SplitConfig, seed: int
) -> list[Split]:
    """Load a published split: CSV ``stimulus,part[,repeat]``.

    ``stimulus`` matches the manifest's ``stimulus_id``, its ``image`` value or the
    image's file name, in that order. Parts without ``val`` (the seed papers report
    train/test only) get a validation part carved from whole train prompt groups.
    """
    path = Path(str(cfg.file))
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("stimulus", "part"):
        if col not in table.columns:
            raise SplitError(f"{path}: missing column '{col}' (have {list(table.columns)})")
    if "repeat" not in table.columns:
        table["repeat"] = "0"
    lookup: dict[str, int] = {}
    for key_col in ("stimulus_id", "image"):
        for row, value in enumerate(frame[key_col]):
            lookup.setdefault(str(value), row)
    for row, value in enumerate(frame["image"]):
        lookup.setdefault(Path(str(value)).name, row)
    unknown = [s for s in table["stimulus"] if s not in lookup]
    if unknown:
        raise SplitError(
            f"{path}: {len(unknown)} stimulus value(s) not in the manifest: {unknown[:10]}"
        )
    bad_parts = sorted(set(table["part"].str.lower()) - set(PART_NAMES))
    if bad_parts:
        raise SplitError(f"{path}: unknown part(s) {bad_parts}; use train, val or test")
    out = []
    for repeat, (rep, sub) in enumerate(table.groupby("repeat", sort=True)):
        idx = sub["stimulus"].map(lookup).to_numpy()
        parts = sub["part"].str.lower().map(PART_NAMES).to_numpy()
        if len(set(idx.tolist())) != len(idx):
            raise SplitError(f"{path}: repeat {rep} lists a stimulus twice")
        train, val, test = (_sorted(idx[parts == p]) for p in ("train", "val", "test"))
        notes: list[str] = []
        if len(val) == 0:
            rng = np.random.default_rng([seed, repeat])
            units, sizes = _units(groups, train, True)
            val_groups, train_groups = _carve(units, sizes, [cfg.val_fraction], rng)
            val = _rows_of(groups, train, val_groups, True)
            train = _rows_of(groups, train, train_groups, True)
            notes.append("no val part in the split file; val carved from train prompt groups")
        split = Split(f"fixed-{rep}", train, val, test, tuple(notes))
        leaked = leaked_groups(split, groups)
        if leaked:
            notes.append(f"{len(leaked)} prompt group(s) span several parts in the split file")
            split = Split(split.name, split.train, split.val, split.test, tuple(notes))
        out.append(split)
    return out


def interleaved_splits(
    groups: np.ndarray, cfg: SplitConfig, repeats: int, seed: int
) -> list[Split]:
    """Test on every ``folds``-th row in manifest order (rows ``folds - 1``, ``2 * folds - 1``,
    ...), train on the others: the rule the PKU-I2IQA authors' code applies to their
    annotation file (``folds`` 4, a 3:1 split). Their code has no validation part; here
    one is carved at random from the training rows (whole prompt groups when ``grouped``),
    so that no epoch is chosen on the test part. The test part is the same in every repeat.
    """
    rows = np.arange(len(groups))
    is_test = rows % cfg.folds == cfg.folds - 1
    test, rest = rows[is_test], rows[~is_test]
    out = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        units, sizes = _units(groups, rest, cfg.grouped)
        val_units, train_units = _carve(units, sizes, [cfg.val_fraction], rng)
        note = (
            f"test: every {cfg.folds}th manifest row; val: {cfg.val_fraction:g} of the other "
            "rows (the published code has no val part)"
        )
        out.append(
            Split(
                f"interleaved-{repeat}",
                _rows_of(groups, rest, train_units, cfg.grouped),
                _rows_of(groups, rest, val_units, cfg.grouped),
                _sorted(test),
                (note,),
            )
        )
    return out


def leaked_groups(split: Split, groups: np.ndarray) -> set:
    """Prompt groups (or other units, one per row) that occur in more than one part."""
    seen = [set(groups[idx].tolist()) for idx in split.parts().values()]
    return (seen[0] & seen[1]) | (seen[0] & seen[2]) | (seen[1] & seen[2])


def check_split(split: Split, groups: np.ndarray, *, grouped: bool) -> None:
    for name, idx in split.parts().items():
        if len(idx) == 0:
            raise SplitError(f"{split.name}: the {name} part is empty")
    train, val, test = (set(rows.tolist()) for rows in split.parts().values())
    if train & val or train & test or val & test:
        raise SplitError(f"{split.name}: a row is in two parts")
    if grouped and leaked_groups(split, groups):
        raise SplitError(f"{split.name}: prompt groups or identical image files leak across parts")


def make_splits(frame: pd.DataFrame, cfg: SplitConfig, *, repeats: int, seed: int) -> list[Split]:
    """All splits of the configured protocol, checked for emptiness and leaks.

    Leak-free protocols (random and kfold; cross_generator when grouped) keep rows with
    identical image files in one part, together with their prompt groups (:func:`leak_units`).
    """
    groups = frame["prompt_group"].to_numpy().astype(str)
    if cfg.protocol == "fixed":
        file_units, _ = leak_units(frame, grouped=False)
        splits = [
            _with_file_leak_note(split, file_units)
            for split in fixed_splits(frame, groups, cfg, seed)
        ]
        for split in splits:
            # Published splits are reproduced as given; their leaks are reported in notes.
            check_split(split, groups, grouped=False)
        return splits
    if cfg.protocol == "interleaved":
        splits = interleaved_splits(groups, cfg, repeats, seed)
        for split in splits:
            # The published rule puts images of one prompt in train and test alike.
            check_split(split, groups, grouped=False)
        return splits
    units, joined = leak_units(frame, grouped=cfg.grouped)
    if cfg.protocol in ("random", "kfold"):
        # Ungrouped rows that share a file become one unit; without such rows the units
        # stay the rows themselves, so earlier ungrouped splits are reproduced.
        unit_cfg = replace(cfg, grouped=True) if joined else cfg
        make = random_splits if cfg.protocol == "random" else kfold_splits
        splits = make(units, unit_cfg, repeats, seed)
        checked_by = units
    elif cfg.protocol == "cross_generator":
        gens = frame["generator"].to_numpy().astype(str)
        splits = cross_generator_splits(units if cfg.grouped else groups, gens, cfg, repeats, seed)
        checked_by = units if cfg.grouped else groups
    else:
        raise SplitError(f"unknown split protocol {cfg.protocol!r}")
    for split in splits:
        check_split(split, checked_by, grouped=cfg.protocol != "cross_generator" or cfg.grouped)
    return splits


def _with_file_leak_note(split: Split, file_units: np.ndarray) -> Split:
    leaked = leaked_groups(split, file_units)
    if not leaked:
        return split
    note = f"{len(leaked)} identical image file(s) span several parts in the split file"
    return replace(split, notes=(*split.notes, note))


def split_table(split: Split, frame: pd.DataFrame) -> pd.DataFrame:
    """``stimulus,part`` rows, the format ``fixed`` reads back."""
    rows = []
    for part, idx in split.parts().items():
        rows += [(frame["stimulus_id"].iloc[i], part) for i in idx]
    return pd.DataFrame(rows, columns=["stimulus", "part"])
