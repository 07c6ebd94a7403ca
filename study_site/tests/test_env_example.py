""".env.example documents every environment variable the settings read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "study_site" / "settings" / "base.py"
ENV_EXAMPLE = ROOT / ".env.example"
ENV_READERS = {"env_str", "env_bool", "env_int", "env_list", "getenv"}
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=")


def _first_string(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _is_os_environ(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def settings_env_names(source: str) -> set[str]:
    """Names read through the env_* helpers, os.getenv, os.environ.get/[...]."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            reader = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            environ_get = isinstance(func, ast.Attribute) and _is_os_environ(func.value)
            if reader in ENV_READERS or environ_get:
                name = _first_string(node)
                if name is not None:
                    names.add(name)
        elif (
            isinstance(node, ast.Subscript)
            and _is_os_environ(node.value)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            names.add(node.slice.value)
    return names


def example_entries(text: str) -> dict[str, bool]:
    """Each variable in the example and whether a comment introduces its block of lines."""
    entries: dict[str, bool] = {}
    commented = False
    for line in text.splitlines():
        stripped = line.strip()
        match = ASSIGNMENT.match(stripped)
        if match:
            entries[match.group(1)] = commented
        else:
            commented = stripped.startswith("#")
    return entries


def test_the_parser_finds_every_kind_of_read():
    source = (
        "import os\n"
        "A = env_str('ONE', 'x')\nB = env_bool('TWO')\nC = env_int('THREE', 1)\n"
        "D = env_list('FOUR', [])\nE = os.environ.get('FIVE')\nF = os.environ['SIX']\n"
        "G = os.getenv('SEVEN')\nH = float(env_str('EIGHT', '0.5'))\n"
        "I = {'k': env_int('NINE', 2)}\n"
    )
    assert settings_env_names(source) == {
        "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"
    }  # fmt: skip


def test_an_uncommented_or_missing_variable_is_caught():
    entries = example_entries("# about A\nA=1\nB=2\n\nC=3\n")
    assert entries == {"A": True, "B": True, "C": False}


def test_env_example_lists_every_variable_the_settings_read():
    read = settings_env_names(SETTINGS.read_text(encoding="utf-8"))
    entries = example_entries(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert {"SECRET_KEY", "API_PAGE_SIZE", "BENCHMARK_RESIDENT_SHARE"} <= read
    missing = sorted(read - entries.keys())
    assert not missing, f".env.example lacks {missing} (read by study_site/settings/base.py)"
    uncommented = sorted(name for name in read if not entries[name])
    assert not uncommented, f".env.example has no comment above {uncommented}"
