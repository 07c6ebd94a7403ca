"""make-manifest reads each published database from the files its authors publish."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark.training.cli import main
from benchmark.training.manifest import load_manifest
from benchmark.training.synthetic import make_published_database
from published.errors import LayoutError
from published.readers import LAYOUTS

REPO = Path(__file__).resolve().parents[3]
KEYS = {
    "agiqa3k": ["quality", "align"],
    "agiqa1k": ["quality"],
    "pku-i2iqa": ["quality", "authenticity", "correspondence"],
    "aigciqa2023": ["quality", "authenticity", "correspondence"],
    "aigiqa20k": ["quality"],
}


@pytest.mark.parametrize(
    ("layout", "variant"),
    [(key, "") for key in KEYS] + [("pku-i2iqa", "split")],
)
def test_make_manifest_reads_each_published_layout(tmp_path, capsys, layout, variant):
    unlabelled = 2 if layout == "aigiqa20k" else 0
    db = make_published_database(
        layout, tmp_path / "db", count=16, duplicates=1, unlabelled=unlabelled, variant=variant
    )
    out = tmp_path / "manifests" / f"{layout}.csv"
    assert main(["make-manifest", layout, "--data-dir", str(db.root), "--out", str(out)]) == 0
    columns = [f"mos_{k}" for k in KEYS[layout]]
    need_reference = layout == "pku-i2iqa"
    manifest = load_manifest(out, ["mos", *columns], need_reference=need_reference)
    # Every labelled image, with its published scores; the byte copy is a row of its own.
    assert len(manifest) == 16 - unlabelled == len(db.mos)
    for record in manifest.frame.to_dict("records"):
        published = db.mos[Path(record["image"]).name]
        assert [record[c] for c in columns] == [published[k] for k in KEYS[layout]]
        assert record["mos"] == published[KEYS[layout][0]]
    assert manifest.frame["image"][0].startswith("../db/")
    printed = capsys.readouterr().out
    assert f"{16 - unlabelled} rows" in printed
    assert ("2 unlabelled row(s) left out" in printed) == bool(unlabelled)


def test_make_manifest_on_a_folder_that_does_not_match_names_the_file(tmp_path, capsys):
    (tmp_path / "db").mkdir()
    out = tmp_path / "m.csv"
    assert main(["make-manifest", "agiqa1k", "--data-dir", str(tmp_path / "db"), "--out", str(out)])
    assert "no AIGC_MOS_Zscore.xlsx in" in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_score_names_its_row(tmp_path):
    db = make_published_database("agiqa3k", tmp_path / "db", count=4)
    table = pd.read_csv(db.root / "data.csv", dtype=str)
    table.loc[2, "mos_quality"] = "n/a"
    table.to_csv(db.root / "data.csv", index=False)
    with pytest.raises(LayoutError) as info:
        LAYOUTS["agiqa3k"].read(db.root)
    assert [(p.row, p.image) for p in info.value.problems] == [(3, db.names[2])]
    assert "mos_quality: 'n/a' is not a number" in str(info.value)


def test_mat_files_and_images_that_disagree_are_refused(tmp_path):
    db = make_published_database("aigciqa2023", tmp_path / "db", count=6)
    (db.root / "Image" / "allimg" / "5.png").unlink()
    with pytest.raises(LayoutError, match="5 images in Image/allimg but 6, 6, 6 scores"):
        LAYOUTS["aigciqa2023"].read(db.root)


def test_the_readers_import_without_django():
    code = (
        "import sys, published.readers as m; "
        "assert 'django' not in sys.modules, 'django imported'; print(len(m.LAYOUTS))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(len(KEYS) + 1)  # the published ones and dataset-package


def test_a_missing_mos_is_an_error_except_where_a_database_withholds_some(tmp_path):
    db = make_published_database("agiqa1k", tmp_path / "db", count=4)
    table = pd.read_excel(db.root / "AIGC_MOS_Zscore.xlsx")
    table.loc[1, "MOS"] = None
    table.to_excel(db.root / "AIGC_MOS_Zscore.xlsx", index=False)
    with pytest.raises(LayoutError) as info:
        LAYOUTS["agiqa1k"].read(db.root)
    assert [(p.row, p.image, p.message) for p in info.value.problems] == [
        (2, db.names[1], "missing MOS")
    ]
