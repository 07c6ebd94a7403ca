"""The demo command as a newcomer runs it: real child processes, real HTTP."""

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from study_site.tests.helpers import REPO, child_env, run_manage

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_setup_twice_neither_fails_nor_duplicates(tmp_path):
    first = run_manage("demo", "--no-serve", VAR_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "Loaded demo study" in first.stdout
    second = run_manage("demo", "--no-serve", VAR_DIR=str(tmp_path))
    assert second.returncode == 0, second.stderr
    assert "Found demo study" in second.stdout
    assert "Queued benchmark sweep" in first.stdout, first.stdout + first.stderr
    assert "not launching the demo sweep again" in second.stdout
    credentials = re.compile(r"Sign in as:\s+(\S+) / (\S+)")
    assert credentials.search(first.stdout).groups() == credentials.search(second.stdout).groups()
    count = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from annotation.models import Study, Stimulus; "
        "from benchmark.models import BenchmarkRun; "
        "print(Study.objects.count(), Stimulus.objects.count(), BenchmarkRun.objects.count())",
        VAR_DIR=str(tmp_path),
        DEBUG="1",
    )
    assert count.stdout.split() == ["1", "63", "4"]
    # The tiny CLIP's random weights were made once, offline, where the site looks.
    assert "Made the weights of clip_tiny_random" in first.stdout
    assert "Made the weights" not in second.stdout
    assert [p.name for p in (tmp_path / "weights").iterdir()] == ["clip-tiny-random-s0-2bfd5a6e.pt"]


def test_demo_serves_every_printed_url_and_stops_cleanly_on_ctrl_c(tmp_path):
    process = demo_start(_free_port(), tmp_path)
    drained: list[str] = []
    drain = None
    try:
        output = read_until_ready(process)
        text = "".join(output)
        assert "press Ctrl-C" in text, text
        # Keep reading the worker's and server's output so a full pipe never blocks them.
        drain = output_drain(process, drained)
        urls = dict(re.findall(r"^\s+([A-Za-z ]+):\s+(http://\S+)", text, flags=re.M))
        username, password = re.search(r"Sign in as:\s+(\S+) / (\S+)", text).groups()
        assert set(urls) == {"Dashboard", "Admin", "API docs", "Benchmarks", "Subject invite"}
        browser = signed_in(urls["Dashboard"], username, password)
        for name, url in urls.items():
            response = browser.get(url, timeout=10)
            assert response.status_code == 200, (name, url, response.status_code)
        assert_the_queued_sweep_trains(browser, urls["Benchmarks"])
    finally:
        rest = stop_with_ctrl_c(process, drain, drained)
    assert process.returncode == 0, "".join(output) + rest
    assert "Demo stopped." in rest


def demo_start(port: int, var_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        cwd=REPO,
        env=child_env(VAR_DIR=str(var_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until_ready(process: subprocess.Popen) -> list[str]:
    """The demo's output up to its 'press Ctrl-C' line (or its end, or three minutes)."""
    output = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        if "press Ctrl-C" in line:
            break
    return output


def output_drain(process: subprocess.Popen, drained: list[str]) -> threading.Thread:
    """A thread reading the rest of the output into ``drained``."""
    drain = threading.Thread(
        target=lambda: drained.extend(iter(process.stdout.readline, "")), daemon=True
    )
    drain.start()
    return drain


def signed_in(dashboard_url: str, username: str, password: str) -> requests.Session:
    """A session signed in with the printed credentials, once the server answers."""
    browser = requests.Session()
    for _ in range(100):
        try:
            login_page = browser.get(dashboard_url, timeout=5)
            break
        except requests.ConnectionError:
            time.sleep(0.3)
    assert login_page.status_code == 200 and "Sign in" in login_page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)[1]
    response = browser.post(
        login_page.url,
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": login_page.url},
        timeout=10,
    )
    assert response.status_code == 200
    assert "Demo: image-to-image quality" in response.text
    return browser


def assert_the_queued_sweep_trains(browser: requests.Session, benchmarks_url: str) -> None:
    """The demo's worker trains the queued tiny sweep on CPU, end to end: NR, FR, Text and
    the CLIPScore baseline, on one leaderboard."""
    status_url = benchmarks_url + "sweeps/1/status.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        sweep = browser.get(status_url, timeout=10).json()
        if sweep["finished"]:
            break
        time.sleep(2)
    assert sweep["finished"] and sweep["counts"] == {"succeeded": 4}, sweep
    rows = sweep["results"]["rows"]
    assert sorted(row["model"] for row in rows) == ["clipscore", "fr", "nr", "text"]
    assert all(row["cells"]["mos_quality"]["srcc"] is not None for row in rows)
    board = browser.get(benchmarks_url + "leaderboard/1/", timeout=10)
    assert board.status_code == 200
    assert "CLIPSCORE <small>(zero-shot baseline)</small>" in board.text
    assert 'id="random-weights"' in board.text


def stop_with_ctrl_c(
    process: subprocess.Popen, drain: threading.Thread | None, drained: list[str]
) -> str:
    """SIGINT, as Ctrl-C sends it; returns the output printed after the ready line."""
    process.send_signal(signal.SIGINT)
    try:
        if drain is None:
            rest, _ = process.communicate(timeout=30)
            return rest
        process.wait(timeout=30)
        drain.join(timeout=10)
        return "".join(drained)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
