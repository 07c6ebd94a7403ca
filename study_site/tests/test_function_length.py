"""No function or method is longer than 60 lines outside perf/ and migrations, tests
included: a longer one is split into named steps (docs/testing.md, code layout)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 60
SKIPPED = {"perf", "migrations", ".venv", "node_modules", "vendor"}


def _sources() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED.intersection(path.relative_to(ROOT).parts)
    ]


def _long_functions(path: Path) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function in ``path`` longer than LIMIT lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.name, node.lineno, length)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := node.end_lineno - node.lineno + 1) > LIMIT
    ]


def test_the_walk_reads_the_apps_the_libraries_and_the_tests():
    sources = _sources()
    names = {path.relative_to(ROOT).parts[0] for path in sources}
    assert {"annotation", "benchmark", "analysis", "common", "core", "published"} <= names
    assert any(path.name.startswith("test_") for path in sources)
    assert not any("migrations" in path.parts or "perf" in path.parts for path in sources)


def test_no_function_is_longer_than_sixty_lines():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
        for path in _sources()
        for name, line, length in _long_functions(path)
    ]
    assert offenders == []


def test_a_long_function_is_found(tmp_path):
    body = "\n".join(f"    value_{index} = {index}" for index in range(LIMIT))
    sample = tmp_path / "sample.py"
    sample.write_text(
        f"class Holder:\n    def short(self):\n        return 1\n\n\ndef too_long():\n{body}\n"
    )
    assert _long_functions(sample) == [("too_long", 6, LIMIT + 1)]
