"""Every relative link in the README files and docs/ points at a file (and heading) that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = sorted(
    [
        ROOT / "README.md",
        ROOT / "analysis" / "README.md",
        ROOT / "benchmark" / "training" / "README.md",
        # Notes in docs/_incoming are raw material, not pages.
        *(page for page in ROOT.glob("docs/**/*.md") if "_incoming" not in page.parts),
    ]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCED_BLOCK = re.compile(r"```.*?```", re.S)


def heading_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def anchors_of(markdown: Path) -> set[str]:
    prose = FENCED_BLOCK.sub("", markdown.read_text(encoding="utf-8"))
    headings = re.findall(r"^#{1,6} (.+)$", prose, flags=re.M)
    return {heading_anchor(heading) for heading in headings}


def broken_links(markdown: Path) -> list[str]:
    prose = FENCED_BLOCK.sub("", markdown.read_text(encoding="utf-8"))
    broken = []
    for link in LINK.findall(prose):
        if re.match(r"^[a-z]+:", link):
            continue  # web addresses are not checked offline
        path, _, fragment = link.partition("#")
        target = (markdown.parent / path).resolve() if path else markdown
        if not target.exists():
            broken.append(f"{link} (no such file)")
        elif fragment and target.suffix == ".md" and fragment not in anchors_of(target):
            broken.append(f"{link} (no such heading)")
    return broken


def test_the_docs_pages_exist() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in DOC_FILES}
    pages = ("index", "glossary", "subjects", "researchers", "analysis", "training")
    pages += ("benchmarks", "operations", "testing")
    assert {f"docs/{page}.md" for page in pages} <= names


@pytest.mark.parametrize("markdown", DOC_FILES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_resolve(markdown: Path) -> None:
    assert broken_links(markdown) == []


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[a](page.md#title) [b](page.md#nope) [c](missing.md)\n")
    assert broken_links(page) == ["page.md#nope (no such heading)", "missing.md (no such file)"]
