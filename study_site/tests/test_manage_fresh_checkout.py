"""manage.py in a fresh checkout: every command answers without DEBUG or SECRET_KEY set by hand,
while a production environment without a SECRET_KEY is still refused, in one line."""

import subprocess
import sys
from pathlib import Path

import pytest

from study_site.tests.helpers import REPO

# Every command in its own manage.py call would start Django 35 times; one child process
# runs manage.main() once per command instead, each exactly as `manage.py NAME --help`.
EVERY_COMMAND_HELP = """
import io, sys, contextlib, manage

def run(*argv):
    sys.argv = ["manage.py", *argv]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            manage.main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    return code, out.getvalue()

code, listing = run("help", "--commands")
names = listing.split()
failed = [(code, listing)] if code else []
for name in names:
    code, text = run(name, "--help")
    if code != 0 or "usage: manage.py " + name not in text:
        failed.append((name, code, text[-300:]))
print(len(names), "commands:", " ".join(names))
print(failed)
sys.exit(1 if failed else 0)
"""


def _bare_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """What a newcomer's shell has: no Django variables at all (VAR_DIR keeps var/ clean)."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(var_dir), "VAR_DIR": str(var_dir), **extra}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_study_help_and_check_run_with_the_embedded_defaults(tmp_path):
    helped = _manage("study", "--help", env=_bare_env(tmp_path))
    assert helped.returncode == 0, helped.stderr
    assert "usage: manage.py study" in helped.stdout and "import-external" in helped.stdout
    checked = _manage("check", env=_bare_env(tmp_path))
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout
    assert (tmp_path / "broker" / "in").is_dir()  # the embedded defaults were used


def test_every_command_answers_help_in_a_bare_environment(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", EVERY_COMMAND_HELP],
        cwd=REPO,
        env=_bare_env(tmp_path, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = result.stdout.split()
    assert int(listed[0]) > 30  # Django's own, drf-spectacular's and ours
    assert {"study", "demo", "spectacular", "migrate"} <= set(listed)


@pytest.mark.parametrize(
    "production",
    [{"DEBUG": "0"}, {"ALLOWED_HOSTS": "studies.example.org"}],
    ids=["debug0", "hosts"],
)
def test_a_production_environment_without_secret_key_is_refused_in_one_line(tmp_path, production):
    result = _manage("study", "--help", env=_bare_env(tmp_path, **production))
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.startswith("Settings error: SECRET_KEY is not set.")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_production_with_a_secret_key_stays_in_production_mode(tmp_path):
    env = _bare_env(tmp_path, DEBUG="0", SECRET_KEY="k9" * 30, ALLOWED_HOSTS="studies.example.org")
    result = _manage("diffsettings", "--all", env=env)
    assert result.returncode == 0, result.stderr
    assert "DEBUG = False" in result.stdout
    bare = _manage("diffsettings", "--all", env=_bare_env(tmp_path))
    assert "DEBUG = True" in bare.stdout
