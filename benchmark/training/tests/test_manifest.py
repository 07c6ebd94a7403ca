from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.training.errors import ManifestError
from benchmark.training.manifest import load_manifest


def _write(tmp_path: Path, rows: list[dict], touch: bool = True) -> Path:
    for r in rows:
        if touch and r.get("image"):
            p = Path(r["image"]) if Path(r["image"]).is_absolute() else tmp_path / r["image"]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"")
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _row(i: int, **kw) -> dict:
    return {"image": f"img/{i}.png", "generator": "g", "prompt_group": str(i), "mos": 3.0, **kw}


def test_loads_and_resolves_paths(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "x.png"
    path = _write(tmp_path, [_row(0), _row(1, image=str(absolute))])
    m = load_manifest(path, ["mos"])
    assert m.images == [str(tmp_path / "img/0.png"), str(absolute)]
    assert m.stimulus_ids.tolist() == ["img/0.png", str(absolute)]  # image stands in for ids
    assert m.scores.shape == (2, 1)


def test_synthetic_manifest_is_valid(synthetic_manifest: Path) -> None:
    m = load_manifest(synthetic_manifest, ["mos_quality", "mos_authenticity"], need_reference=True)
    assert len(m) == 48 and m.references is not None


def test_missing_column(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(0)])
    with pytest.raises(ManifestError, match=r"missing column\(s\) \['mos_quality'\]"):
        load_manifest(path, ["mos_quality"])


def test_missing_files_are_listed_by_row(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(0), _row(1), _row(2)])
    (tmp_path / "img/1.png").unlink()
    with pytest.raises(ManifestError, match=r"not found.*1 row\(s\): row 2 \('img/1.png'\)"):
        load_manifest(path, ["mos"])
    load_manifest(path, ["mos"], check_files=False)


def test_nan_and_text_mos_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(0), _row(1, mos=float("nan")), _row(2, mos="good")])
    with pytest.raises(ManifestError) as info:
        load_manifest(path, ["mos"])
    msg = str(info.value)
    assert "'mos'" in msg and "row 2 ('img/1.png')" in msg and "row 3 ('img/2.png')" in msg


def test_blank_group_and_duplicate_ids(tmp_path: Path) -> None:
    rows = [_row(0, stimulus_id="a"), _row(1, stimulus_id="a"), _row(2, stimulus_id="b")]
    rows[2]["prompt_group"] = ""
    path = _write(tmp_path, rows)
    with pytest.raises(ManifestError) as info:
        load_manifest(path, ["mos"])
    assert "empty 'prompt_group'" in str(info.value)
    assert "duplicate stimulus_id" in str(info.value)


def test_reference_files_checked_for_fr(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(0, reference="ref/0.png")])
    with pytest.raises(ManifestError, match="'reference' file not found"):
        load_manifest(path, ["mos"], need_reference=True)
    load_manifest(path, ["mos"])  # NR ignores references
