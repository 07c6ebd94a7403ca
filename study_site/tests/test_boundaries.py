"""Imports run one way. The pure libraries (``published``, ``analysis``,
``benchmark.training``, and ``common``) must not pull in Django or any app: they run from a
CSV without the site. ``published`` sits at the very bottom: the site and the training
library both read published databases through it, so it imports nothing from ``benchmark``.
``core`` and ``common`` sit below the apps; ``annotation`` imports nothing from
``benchmark``; selectors sit below services; ``study_site`` wires the apps together only in
its URLconf and demo command; ``ops`` (backup and restore) sits above the apps, which never
import it."""

import ast
from pathlib import Path

import pytest

from study_site.tests.helpers import run_python

LIBRARIES = ("published", "analysis", "benchmark.training", "common")
APPS = ("annotation", "benchmark", "ops", "study_site")
# core is Django code shared by the apps: below them, but above every library.
SITE_PACKAGES = (*APPS, "core")

CHECK = """
import importlib, pkgutil, sys
package = importlib.import_module({name!r})
for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
    if ".tests" in info.name or info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
assert "django" not in sys.modules, sorted(m for m in sys.modules if m.startswith("django"))
# The library's own package and the packages it sits in (benchmark for benchmark.training).
own = {name!r}
site = [
    m for m in sys.modules
    if m.split(".")[0] in {site!r}
    and not (m == own or m.startswith(own + ".") or own.startswith(m + "."))
]
assert not site, sorted(site)
print("ok", package.__name__)
"""


@pytest.mark.parametrize("name", LIBRARIES)
def test_pure_library_imports_without_django_or_an_app(name):
    result = run_python(CHECK.format(name=name, site=SITE_PACKAGES))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"ok {name}"


REPO = Path(__file__).resolve().parents[2]


def package_of(path: Path) -> list[str]:
    """The package a source file's relative imports start from, as name parts."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return parts[:-1]  # a module's package; for __init__.py, the package itself


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (lazy imports count too), relative
    imports resolved and ``importlib.import_module("...")`` with a literal name included."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.update(from_import_modules(node, path))
        elif isinstance(node, ast.Call) and is_import_call(node):
            modules.add(node.args[0].value)
    return modules


def from_import_modules(node: ast.ImportFrom, path: Path) -> set[str]:
    """``from x import y``: x, and x.y in case y is a module."""
    if node.level:
        package = package_of(path)
        base = package[: len(package) - node.level + 1]
        module = ".".join([*base, node.module] if node.module else base)
    else:
        module = node.module or ""
    return {module, *(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")}


def is_import_call(node: ast.Call) -> bool:
    name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
    literal = bool(node.args) and isinstance(node.args[0], ast.Constant)
    return (
        name in {"import_module", "__import__"} and literal and isinstance(node.args[0].value, str)
    )


def source_files(folder: str) -> list[Path]:
    return [p for p in sorted((REPO / folder).rglob("*.py")) if "tests" not in p.parts]


def offending(paths: list[Path], is_bad) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(m for m in imported_modules(path) if is_bad(m))
        if bad:
            found[str(path.relative_to(REPO))] = bad
    return found


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("folder", ["core", "common"])
def test_core_and_common_import_no_app(folder):
    assert offending(source_files(folder), lambda m: m.split(".")[0] in APPS) == {}


@pytest.mark.parametrize("name", LIBRARIES)
def test_pure_library_source_imports_no_app(name):
    """Lazy imports inside functions count too: the subprocess check above misses those."""

    def is_site(module: str) -> bool:
        return module.split(".")[0] in SITE_PACKAGES and not is_within(module, name)

    files = source_files(name.replace(".", "/"))
    assert files, f"no source files for {name}"
    assert offending(files, is_site) == {}


def test_annotation_imports_nothing_from_benchmark():
    """The site's import pipeline reads published databases through ``published``."""
    assert offending(source_files("annotation"), lambda m: is_within(m, "benchmark")) == {}


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
