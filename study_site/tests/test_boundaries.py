"""The pure libraries must not pull in Django: they run from a CSV without the site."""

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


@pytest.mark.parametrize("name", ["analysis", "benchmark.training"])
def test_pure_library_imports_without_django(name):
    result = run_python(CHECK.format(name=name))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"ok {name}"
