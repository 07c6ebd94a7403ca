"""Manifest CSV: one row per generated image with its MOS and grouping columns.

The site's label-release export and the published-database readers (``published.readers``)
both write this format. Everything is checked up front so a run fails in seconds, naming rows,
instead of after an hour of training when a file turns out to be missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.training.errors import ManifestError

REQUIRED = ("image", "generator", "prompt_group")
MAX_LISTED = 10


@dataclass
class Manifest:
    """Validated manifest rows; paths are absolute, ``stimulus_id`` is unique."""

    path: Path
    frame: pd.DataFrame
    score_columns: list[str]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def images(self) -> list[str]:
        return self.frame["image_path"].tolist()

    @property
    def references(self) -> list[str] | None:
        if "reference_path" not in self.frame:
            return None
        return self.frame["reference_path"].tolist()

    @property
    def prompts(self) -> list[str]:
        """Each row's text prompt (text-image models); '' where the manifest has none."""
        if "prompt" not in self.frame:
            return [""] * len(self.frame)
        return self.frame["prompt"].tolist()

    @property
    def scores(self) -> np.ndarray:
        return self.frame[self.score_columns].to_numpy(dtype=np.float64)

    @property
    def groups(self) -> np.ndarray:
        return self.frame["prompt_group"].to_numpy()

    @property
    def generators(self) -> np.ndarray:
        return self.frame["generator"].to_numpy()

    @property
    def stimulus_ids(self) -> np.ndarray:
        return self.frame["stimulus_id"].to_numpy()


def _rows(mask: pd.Series | np.ndarray, frame: pd.DataFrame, column: str) -> str:
    """Describe offending rows as 'row N (value)' with N counted from 1 after the header."""
    idx = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(f"row {i + 1} ({frame[column].iloc[i]!r})" for i in idx[:MAX_LISTED])
    more = f" and {len(idx) - MAX_LISTED} more" if len(idx) > MAX_LISTED else ""
    return f"{len(idx)} row(s): {shown}{more}"


def missing_prompts_message(ids: list[str]) -> str:
    """One line naming the first rows without a text prompt and how many there are."""
    shown = ", ".join(repr(key) for key in ids[:MAX_LISTED])
    more = f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else ""
    return (
        f"{len(ids)} row(s) have no text prompt, which a text-image model needs: {shown}{more} "
        "(fill their 'prompt' column or leave those rows out)"
    )


def resolve_path(base: Path, value: str) -> str:
    """``value`` as written in a CSV at ``base``: absolute (``~`` expanded) or relative to it."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path))


def load_manifest(
    path: str | Path,
    score_columns: list[str],
    *,
    need_reference: bool = False,
    reference_rows_only: bool = False,
    check_files: bool = True,
    need_prompt: bool = False,
) -> Manifest:
    """Read and validate a manifest; raise :class:`ManifestError` naming bad rows.

    With ``reference_rows_only`` (and ``need_reference``) rows without a reference image
    are left out instead of being errors: full-reference models on a mixed release.
    ``need_prompt`` (text-image models): every row needs its text ``prompt``.
    """
    path = Path(path)
    needed = [*REQUIRED, *score_columns] + (["reference"] if need_reference else [])
    needed += ["prompt"] if need_prompt else []
    frame = _read_with_columns(path, needed)
    if need_reference and reference_rows_only:
        frame = _reference_rows(path, frame)
    problems = _blank_problems(frame, REQUIRED + (("reference",) if need_reference else ()))
    problems += _score_problems(frame, score_columns)
    problems += _stimulus_id_problems(frame)
    if need_prompt:
        problems += _prompt_problems(frame)
    base = path.resolve().parent
    frame["image_path"] = [resolve_path(base, v) for v in frame["image"]]
    if need_reference:
        frame["reference_path"] = [resolve_path(base, v) for v in frame["reference"]]
    if check_files:
        problems += _missing_file_problems(frame, base)
    if problems:
        raise ManifestError(f"{path}: " + "; ".join(problems))
    frame = frame.reset_index(drop=True)
    return Manifest(path=path, frame=frame, score_columns=list(score_columns))


def _read_with_columns(path: Path, needed: list[str]) -> pd.DataFrame:
    """The manifest's rows, every cell as text; it must exist, hold rows and every column."""
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    # Strings everywhere so that ids like '007' and prompt groups keep their spelling.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{path}: missing column(s) {missing}; columns present: {list(frame.columns)}"
        )
    if frame.empty:
        raise ManifestError(f"{path}: no rows")
    return frame


def _reference_rows(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[frame["reference"].str.strip() != ""].reset_index(drop=True)
    if frame.empty:
        raise ManifestError(f"{path}: no row has a reference image")
    return frame


def _blank_problems(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    problems = []
    for col in columns:
        blank = frame[col].str.strip() == ""
        if blank.any():
            problems.append(f"empty '{col}' in {_rows(blank, frame, 'image')}")
    return problems


def _score_problems(frame: pd.DataFrame, score_columns: list[str]) -> list[str]:
    """Rows whose MOS is missing or not a finite number; the columns become numbers."""
    problems = []
    for col in score_columns:
        numbers = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce")
        bad = numbers.isna() | ~np.isfinite(numbers.fillna(0.0))
        if bad.any():
            problems.append(
                f"missing or non-numeric MOS in '{col}' for {_rows(bad, frame, 'image')}"
            )
        frame[col] = numbers
    return problems


def _stimulus_id_problems(frame: pd.DataFrame) -> list[str]:
    """Duplicate ``stimulus_id`` rows; without the column (or all blank) the image is the id."""
    if "stimulus_id" not in frame.columns or (frame["stimulus_id"].str.strip() == "").all():
        frame["stimulus_id"] = frame["image"]
    dup = frame["stimulus_id"].duplicated(keep=False)
    if dup.any():
        return [f"duplicate stimulus_id in {_rows(dup, frame, 'stimulus_id')}"]
    return []


def _prompt_problems(frame: pd.DataFrame) -> list[str]:
    """Rows without a text prompt (text-image models), named by their stimulus id."""
    no_prompt = frame["prompt"].str.strip() == ""
    if not no_prompt.any():
        return []
    return [missing_prompts_message(frame.loc[no_prompt, "stimulus_id"].tolist())]


def _missing_file_problems(frame: pd.DataFrame, base: Path) -> list[str]:
    problems = []
    for col, label in (("image_path", "image"), ("reference_path", "reference")):
        if col not in frame:
            continue
        absent = ~frame[col].map(lambda p: Path(p).is_file())
        if absent.any():
            problems.append(
                f"'{label}' file not found (relative paths start at {base}) for "
                f"{_rows(absent, frame, label)}"
            )
    return problems
