"""Imports run one way. The pure libraries (and ``common``) must not pull in Django: they
run from a CSV without the site. ``core`` sits below the apps; selectors sit below
services; ``study_site`` wires the apps together only in its URLconf and demo command;
``ops`` (backup and restore) sits above the apps, which never import it."""

import ast
from pathlib import Path

import pytest

from study_site.tests.helpers import run_python

CHECK = """
import importlib, pkgutil, sys
package = importlib.import_module({name!r})
for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
    if ".tests" in info.name or info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
assert "django" not in sys.modules, sorted(m for m in sys.modules if m.startswith("django"))
print("ok", package.__name__)
"""


@pytest.mark.parametrize("name", ["analysis", "benchmark.training", "common"])
def test_pure_library_imports_without_django(name):
    result = run_python(CHECK.format(name=name))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"ok {name}"


REPO = Path(__file__).resolve().parents[2]
APPS = ("annotation", "benchmark", "ops", "study_site")


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (lazy imports count too)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def source_files(folder: str) -> list[Path]:
    return [p for p in sorted((REPO / folder).rglob("*.py")) if "tests" not in p.parts]


def offending(paths: list[Path], is_bad) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(m for m in imported_modules(path) if is_bad(m))
        if bad:
            found[str(path.relative_to(REPO))] = bad
    return found


def test_core_imports_no_app():
    assert offending(source_files("core"), lambda m: m.split(".")[0] in APPS) == {}


def test_study_site_imports_apps_only_where_it_wires_them():
    wiring = {REPO / "study_site" / "urls.py", *source_files("study_site/management")}
    files = [p for p in source_files("study_site") if p not in wiring]
    assert offending(files, lambda m: m.split(".")[0] in {"annotation", "benchmark", "ops"}) == {}


def test_no_app_imports_ops():
    """Backup and restore sit above the apps: they read the apps' tables, never the reverse."""
    files = source_files("annotation") + source_files("benchmark") + source_files("study_site")
    assert offending(files, lambda m: m.split(".")[0] == "ops") == {}


def test_selectors_use_no_services_and_no_http_errors():
    selectors = source_files("annotation/selectors")
    assert offending(selectors, lambda m: ".services." in f"{m}.") == {}
    files = selectors + [REPO / "benchmark" / "selectors.py"]
    assert offending(files, lambda m: m == "django.http") == {}
    for path in files:
        text = path.read_text()
        assert "Http404" not in text and "get_object_or_404" not in text, path
