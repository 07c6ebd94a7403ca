"""How soon each page with figures is usable, and when its figures are drawn, in Chromium.

    .venv/bin/python perf/chart_pages.py [--repeats 3] [--keep]

What it does, in order:
1. makes a throw-away VAR_DIR with the embedded defaults (SQLite, filesystem broker) and
   runs `manage.py demo --no-serve` there: migrations, the demo admin, the demo study with
   its simulated ratings and release v1, and a queued tiny benchmark sweep;
2. trains that sweep's run here on the CPU (`run_execute`, 2 epochs at 32 px), so the sweep
   and run pages have results, curves and a scatter;
3. collects static files and serves the site with gunicorn and production settings
   (DEBUG=0: hashed, compressed static files, as WhiteNoise serves them in production);
4. signs in as the demo admin in headless Debian Chromium at 1366x768, presses Analyse
   once on the demo's analysis page, then loads each chart page (progress, analysis,
   sweep, run) --repeats times in a fresh browser context (empty cache) and once more in
   the same context (warm cache), and prints per page the median of:
   - usable: navigation start to DOMContentLoaded handled: text, tables, forms and links
     are there and answer; plotly.js is only fetched after the first paint;
   - painted: first contentful paint;
   - charts: navigation start until every figure on the page is drawn (plotly.js loaded,
     parsed and run, the page's data fetched);
   - block: the longest main-thread task (ms) between usable and charts, i.e. the longest
     an input could wait while plotly.js parses.
Numbers depend on the machine and its load; the docs give the figures of one run.
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1366, "height": 768}

LONG_TASKS = """
window.__long = [];
new PerformanceObserver(list => list.getEntries().forEach(
  e => window.__long.push([e.startTime, e.duration]))).observe({type: 'longtask', buffered: true});
"""
# Truthy (the time) once the page has figures and every one of them is drawn.
CHARTS_DRAWN = """() => {
  const figures = Array.from(document.querySelectorAll('.figure'));
  return figures.length > 0 && figures.every(f => f.querySelector('.main-svg'))
    ? performance.now() : false;
}"""
TIMINGS = """drawn => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const usable = nav.domContentLoadedEventEnd;
  const block = Math.max(0, ...window.__long.filter(([s, d]) => s + d > usable && s < drawn)
    .map(([s, d]) => d));
  const tasks = window.__long.map(([s, d]) => `${Math.round(s)}+${Math.round(d)}`).join(' ');
  return {usable, painted: paint ? paint.startTime : null, charts: drawn, block, tasks};
}"""


def base_env(work: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "VAR_DIR": str(work / "var"),
        "BENCHMARK_DEVICE": "cpu",
        "BENCHMARK_CACHE_DIR": str(work / "cache"),
    }


def production_env(work: Path) -> dict[str, str]:
    return {
        **base_env(work),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(work / "static"),
        # Plain http on the loopback interface.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
    }


def manage(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(work: Path) -> dict:
    started = time.perf_counter()
    manage("demo", "--no-serve", env=base_env(work))
    print(f"demo loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    started = time.perf_counter()
    ids = manage(
        "shell",
        "-c",
        "import json; from benchmark.models import BenchmarkRun; "
        "from benchmark.services import run_execute; "
        "from annotation.models import Study; "
        "run = BenchmarkRun.objects.get(); run_execute(run_id=run.pk, hostname='perf'); "
        "run.refresh_from_db(); "
        "print(json.dumps({'run': run.pk, 'sweep': run.sweep_id, 'status': run.status, "
        "'study': Study.objects.get(slug='demo-pku-i2iqa').pk}))",
        env=base_env(work),
    )
    print(f"demo run trained in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    found = json.loads(ids.strip().splitlines()[-1])
    if found["status"] != "succeeded":
        sys.exit(f"the demo run did not succeed: {found}")
    manage("collectstatic", "--noinput", env=production_env(work))
    credentials = json.loads((work / "var" / "demo-credentials.json").read_text())
    return {**found, **credentials}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(work: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "study_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=production_env(work),
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    sys.exit("gunicorn did not answer /healthz")


def sign_in(context, base: str, username: str, password: str) -> None:
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.close()


def measure(context, url: str) -> dict:
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    drawn = page.wait_for_function(CHARTS_DRAWN, timeout=60_000, polling=10).json_value()
    timings = page.evaluate(TIMINGS, drawn)
    page.goto("about:blank")  # stop the page's polling
    page.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--tasks", action="store_true", help="also print each load's long tasks (start+ms)"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="chart-pages-"))
    server = None
    try:
        demo = prepare(work)
        port = free_port()
        server = serve(work, port)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )

            def fresh_context():
                context = browser.new_context(viewport=VIEWPORT)
                context.add_init_script(LONG_TASKS)
                sign_in(context, base, demo["username"], demo["password"])
                return context

            setup = fresh_context()
            page = setup.new_page()
            page.goto(f"{base}/studies/{demo['study']}/analysis/")
            page.click("#analysis-options button[type=submit] >> nth=0")  # Analyse
            page.wait_for_selector("#figures .figure .main-svg", timeout=120_000)
            analysis_url = page.url
            setup.close()
            pages = {
                "progress": f"{base}/studies/{demo['study']}/progress/",
                "analysis": analysis_url,
                "sweep": f"{base}/benchmark/sweeps/{demo['sweep']}/",
                "run": f"{base}/benchmark/runs/{demo['run']}/",
            }
            print(
                f"{'page':10} {'cache':6} {'usable':>8} {'painted':>8} {'charts':>8} {'block':>7}"
            )
            for name, url in pages.items():
                cold, warm = [], []
                for _ in range(args.repeats):
                    context = fresh_context()
                    cold.append(measure(context, url))
                    warm.append(measure(context, url))
                    context.close()
                for label, runs in (("cold", cold), ("warm", warm)):
                    if args.tasks:
                        for r in runs:
                            print(f"  {name} {label} long tasks: {r['tasks']}", file=sys.stderr)
                    median = {
                        key: statistics.median(r[key] or 0 for r in runs)
                        for key in ("usable", "painted", "charts", "block")
                    }
                    print(
                        f"{name:10} {label:6} {median['usable']:6.0f}ms {median['painted']:6.0f}ms "
                        f"{median['charts']:6.0f}ms {median['block']:5.0f}ms"
                    )
            browser.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
