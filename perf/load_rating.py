"""Load benchmark of the rating hot path: gunicorn + PostgreSQL, K simulated subjects.

    .venv/bin/python perf/load_rating.py --subjects 200 --duration 60

What it does, in order:
1. creates the database `--db-name` (default `loadtest`) on the server named by
   `--database-url` if it is missing (never the URL's own database, so the test
   database is never touched), migrates and flushes it, and collects static files;
2. loads a demo-shaped study (60 images, 3 training, 3 dimensions, session 60,
   3 repeats, break every 20) with one invite per simulated subject;
3. serves the site with gunicorn on 127.0.0.1 (DEBUG off, production settings);
4. drives every subject through consent and its trials from this process with
   asyncio and a small HTTP/1.1 keep-alive client, at most `--max-in-flight`
   requests at once, until every session is done or `--duration` has passed. Each
   subject does what the browser does: the trial page once, then one POST per trial
   (the answer describes the next trial), and the break page plus the trial page
   after each break. Image downloads are not part of the load;
5. prints ratings/s, p50/p95/p99 latency of the submit endpoint and the trial page,
   and the ratings acknowledged (200 answers) against those stored in the database.

A "rating" is one stored row (subject x stimulus x dimension), so one trial of the
three-dimension study is three ratings.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

# Run as `python perf/load_rating.py`: perf/ is on sys.path, so its sibling imports.
from support import ROOT, database_arguments, database_prepare, site_settings

WORK = Path(tempfile.gettempdir()) / "load_rating"
DIMENSIONS = 3


# --- database and server --------------------------------------------------------------


def server_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        site_settings(database_url, WORK, allowed_host="127.0.0.1"),
        DATABASE_CONN_MAX_AGE="600",
        PYTHONPATH=str(ROOT),
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def study_setup(subjects: int, tokens_file: Path) -> None:
    """Runs inside Django (`--setup`): the study, its images and one invite per subject."""
    import django

    django.setup()
    from PIL import Image

    from annotation.models import Stimulus, Study
    from annotation.services.stimuli import stimulus_create_from_path
    from annotation.services.studies import study_create
    from annotation.services.subjects import subject_invite_create

    study = study_create(
        name="Load test",
        slug="load-test",
        consent_text="Load test.",
        instructions="Rate.",
        scale_labels=["Bad", "Poor", "Fair", "Good", "Excellent"],
        status=Study.Status.OPEN,
        target_ratings_per_stimulus=20,
        session_size=60,
        break_interval=20,
        repeats_per_session=3,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(63):
            path = Path(tmp) / f"img{index:03d}.jpg"
            Image.new("RGB", (512, 512), (index * 4 % 256, 90, 200 - index)).save(path)
            role = Stimulus.Role.TRAINING if index >= 60 else Stimulus.Role.NORMAL
            stimulus_create_from_path(
                study=study,
                image_path=path,
                reference_path=path if index % 2 == 0 else None,
                prompt=f"prompt {index}",
                role=role,
                explanation="anchor" if role == Stimulus.Role.TRAINING else "",
                expected_scores={"quality": 50} if role == Stimulus.Role.TRAINING else None,
            )
    tokens = [subject_invite_create(study=study)[1] for _ in range(subjects)]
    tokens_file.write_text(json.dumps(tokens))


def gunicorn_start(env, port: int, workers: int, threads: int, worker_class: str, log=None):
    """gunicorn on 127.0.0.1:`port`; its output to `log` (an open file) if given."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "study_site.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=log and subprocess.STDOUT
    )


# --- a minimal HTTP/1.1 client (keep-alive; the stdlib has no async one) ----------------


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method, path, headers, body=b""):
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
            lines += [f"{key}: {value}" for key, value in headers.items()]
            lines.append(f"Content-Length: {len(body)}")
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            status_line = await self.reader.readline()
            if status_line:
                break
            # The server closed an idle keep-alive connection: reconnect and send again
            # (safe for every request here; the submit endpoint is idempotent).
            await self.close()
            if attempt:
                raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        response_headers: dict[str, list[str]] = defaultdict(list)
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            response_headers[key.strip().lower()].append(value.strip())
        if "chunked" in response_headers.get("transfer-encoding", [""])[0]:
            payload = bytearray()
            while size := int((await self.reader.readline()).strip(), 16):
                payload += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
            data = bytes(payload)
        elif "content-length" in response_headers:
            data = await self.reader.readexactly(int(response_headers["content-length"][0]))
        else:
            data = await self.reader.read()
            await self.close()
        if response_headers.get("connection", [""])[0].lower() == "close":
            await self.close()
        return status, response_headers, data


class Driver:
    def __init__(self, port: int, max_in_flight: int, deadline: float) -> None:
        self.port = port
        self.deadline = deadline
        self.pool: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(max_in_flight):
            self.pool.put_nowait(Connection(port))
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.acknowledged: dict[tuple[str, int], int] = {}
        self.completed = 0

    async def call(self, kind, method, path, headers, body=b""):
        connection = await self.pool.get()
        try:
            started = time.perf_counter()
            status, response_headers, data = await connection.request(method, path, headers, body)
            self.latency[kind].append(time.perf_counter() - started)
            return status, response_headers, data
        except Exception:
            await connection.close()
            raise
        finally:
            self.pool.put_nowait(connection)

    async def consent(self, token: str) -> str | None:
        """Open the invite and accept; returns the csrftoken cookie for the session."""
        try:
            base = f"/s/{token}"
            _, headers, _ = await self.call("consent page", "GET", f"{base}/consent/", {})
            cookie = next(
                c.split(";")[0] for c in headers["set-cookie"] if c.startswith("csrftoken=")
            )
            csrf = cookie.split("=", 1)[1]
            form = urllib.parse.urlencode({"decision": "accept", "csrfmiddlewaretoken": csrf})
            status, _, _ = await self.call(
                "consent",
                "POST",
                f"{base}/consent/",
                {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                form.encode(),
            )
        except Exception as error:  # a broken subject is counted, not fatal
            self.errors[f"consent {type(error).__name__}"] += 1
            return None
        if status != 302:
            self.errors[f"consent {status}"] += 1
            return None
        # The display check every subject passes before the first trial page.
        check = {
            "window_width": 1366,
            "window_height": 768,
            "screen_width": 1366,
            "screen_height": 768,
            "device_pixel_ratio": 1,
            "fullscreen": False,
            "grey_steps_distinguishable": True,
        }
        try:
            status, _, _ = await self.call(
                "display check",
                "POST",
                f"{base}/display-check/",
                {"Cookie": cookie, "X-CSRFToken": csrf, "Content-Type": "application/json"},
                json.dumps(check).encode(),
            )
        except Exception as error:  # a broken subject is counted, not fatal
            self.errors[f"display check {type(error).__name__}"] += 1
            return None
        if status != 200:
            self.errors[f"display check {status}"] += 1
            return None
        return cookie

    async def rate(self, token: str, cookie: str, rng: random.Random, think: float) -> None:
        try:
            await self._rate(token, cookie, rng, think)
        except Exception as error:  # a broken subject is counted, not fatal
            self.errors[f"exception {type(error).__name__}"] += 1

    async def _trial_page(self, token: str, cookie: str, index: int) -> dict | None:
        status, _, page = await self.call(
            "trial page", "GET", f"/s/{token}/trials/{index}/", {"Cookie": cookie}
        )
        if status != 200:
            self.errors[f"trial page {status}"] += 1
            return None
        start = page.index(b'<script id="trial-data" type="application/json">') + 48
        return json.loads(page[start : page.index(b"</script>", start)])

    async def _rate(self, token: str, cookie: str, rng: random.Random, think: float) -> None:
        """The trial loop of one subject, as the browser runs it: the trial page once (and
        after each break), then one POST per trial whose answer describes the next trial.
        """
        csrf = cookie.split("=", 1)[1]
        index = 0
        trial = await self._trial_page(token, cookie, index)
        if trial is None:
            return
        keys = [d["key"] for d in trial["dimensions"]]
        while time.perf_counter() < self.deadline:
            body = json.dumps(
                {
                    "stimulus": trial["stimulus"],
                    "scores": {key: round(rng.uniform(0, 100), 1) for key in keys},
                    "response_time_ms": rng.randint(800, 6000),
                }
            ).encode()
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))
            status, _, data = await self.call(
                "submit",
                "POST",
                trial["submitUrl"],
                {"Cookie": cookie, "X-CSRFToken": csrf, "Content-Type": "application/json"},
                body,
            )
            if status != 200:
                self.errors[f"submit {status}"] += 1
                return
            answer = json.loads(data)
            self.acknowledged[(token, index)] = answer["ratings"]
            if answer["complete"]:
                self.completed += 1
                return
            index += 1
            if answer["next_trial"] is not None:
                trial = answer["next_trial"]
                continue
            # A break: the browser shows the break page, then loads the trial page.
            status, _, _ = await self.call(
                "break page", "GET", answer["next_url"], {"Cookie": cookie}
            )
            if status != 200:
                self.errors[f"break page {status}"] += 1
                return
            trial = await self._trial_page(token, cookie, index)
            if trial is None:
                return


async def drive(port, tokens, max_in_flight, duration, think, seed, on_rating_start):
    """Everyone consents first (session starts), then all rate at once until the deadline."""
    driver = Driver(port, max_in_flight, deadline=0.0)
    rng = random.Random(seed)
    cookies = await asyncio.gather(*(driver.consent(token) for token in tokens))
    on_rating_start()
    started = time.perf_counter()
    driver.deadline = started + duration
    await asyncio.gather(
        *(
            driver.rate(token, cookie, random.Random(rng.random()), think)
            for token, cookie in zip(tokens, cookies, strict=True)
            if cookie is not None
        )
    )
    elapsed = time.perf_counter() - started
    while not driver.pool.empty():
        await driver.pool.get_nowait().close()
    return driver, elapsed


# --- CPU accounting (Linux /proc): per-trial cost, whatever else the machine runs ---------


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pids_where(predicate) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if predicate(int(entry.name), entry):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def server_pids(master: int) -> list[int]:
    def child(pid: int, entry: Path) -> bool:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master

    return [master, *_pids_where(child)]


def postgres_pids(db_name: str) -> list[int]:
    def backend(pid: int, entry: Path) -> bool:
        command = (entry / "cmdline").read_bytes()
        return command.startswith(b"postgres: ") and f" {db_name} ".encode() in command

    return _pids_where(backend)


def cpu_snapshot(master: int, db_name: str) -> dict[str, dict[int, float]]:
    return {
        "web": {pid: _cpu_of(pid) for pid in server_pids(master)},
        "postgres": {pid: _cpu_of(pid) for pid in postgres_pids(db_name)},
        "driver": {os.getpid(): time.process_time()},
    }


def cpu_used(before, after) -> dict[str, float]:
    used = {}
    for part, now in after.items():
        if part == "driver":
            used[part] = sum(now.values()) - sum(before[part].values())
        else:
            used[part] = sum(cpu - before[part].get(pid, 0.0) for pid, cpu in now.items())
    return used


# --- report ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(driver: Driver, elapsed: float, stored: int, cpu: dict[str, float], args) -> None:
    acknowledged = sum(driver.acknowledged.values())
    trials = len(driver.acknowledged)
    print(
        f"\nconfig: {args.subjects} subjects, max {args.max_in_flight} requests in flight, "
        f"gunicorn {args.workers} workers x {args.threads} threads ({args.worker_class}), "
        f"think {args.think_ms} ms, limit {args.duration} s"
    )
    print(f"rating phase {elapsed:.1f} s; sessions completed: {driver.completed}/{args.subjects}")
    print(
        f"throughput: {acknowledged / elapsed:.0f} ratings/s "
        f"({trials / elapsed:.0f} trials/s of {DIMENSIONS} ratings)"
    )
    for kind in ("submit", "trial page", "break page", "consent"):
        values = [v * 1000 for v in driver.latency.get(kind, [])]
        if values:
            print(
                f"{kind:>11}: n={len(values):6d}  p50={percentile(values, 50):6.1f} ms  "
                f"p95={percentile(values, 95):6.1f} ms  p99={percentile(values, 99):6.1f} ms  "
                f"mean={statistics.fmean(values):6.1f} ms"
            )
    if trials:
        parts = "  ".join(f"{part} {1000 * seconds / trials:.1f}" for part, seconds in cpu.items())
        total = sum(cpu.values()) / trials
        cores = os.cpu_count() or 1
        print(
            f"CPU per trial (ms): {parts}  total {1000 * total:.1f}  -> with {cores} idle "
            f"cores at most ~{cores / total:.0f} trials/s ({DIMENSIONS * cores / total:.0f} "
            "ratings/s)"
        )
    print(
        f"ratings acknowledged: {acknowledged}  stored: {stored}  "
        f"{'OK' if acknowledged == stored else 'MISMATCH'}"
    )
    if driver.errors:
        print("errors:", dict(driver.errors))


def stored_ratings(database_url: str, driver: Driver) -> int:
    """Rows in the database; trials stored but never acknowledged (or the reverse) are listed."""
    import hashlib

    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT s.token_hash, r.trial_index, count(*) FROM annotation_rating r "
            "JOIN annotation_ratingsession rs ON rs.id = r.session_id "
            "JOIN annotation_subject s ON s.id = rs.subject_id "
            "GROUP BY s.token_hash, r.trial_index"
        ).fetchall()
    stored = {(token_hash, index): count for token_hash, index, count in rows}
    acknowledged = {
        (hashlib.sha256(token.encode()).hexdigest(), index): count
        for (token, index), count in driver.acknowledged.items()
    }
    unacknowledged = sorted(set(stored) - set(acknowledged))
    lost = sorted(set(acknowledged) - set(stored))
    if unacknowledged or lost:
        print(f"stored, not acknowledged: {len(unacknowledged)} trials {unacknowledged[:5]}")
        print(f"acknowledged, not stored: {len(lost)} trials {lost[:5]}")
    return sum(stored.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    database_arguments(parser, "loadtest", url="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--max-in-flight", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60, help="seconds, at most")
    parser.add_argument("--think-ms", type=float, default=0, help="mean pause before a submit")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--setup", metavar="TOKENS_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        study_setup(args.subjects, Path(args.setup))
        return

    url = database_prepare(args.database_url, args.db_name)
    env = server_env(url)
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"database {url}: migrate, flush, load the study ...", flush=True)
    manage(env, "migrate", "--no-input", "-v", "0")
    manage(env, "flush", "--no-input", "-v", "0")
    manage(env, "collectstatic", "--no-input", "-v", "0")
    tokens_file = WORK / "tokens.json"
    subprocess.run(
        [sys.executable, __file__, "--setup", str(tokens_file), "--subjects", str(args.subjects)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    tokens = json.loads(tokens_file.read_text())
    server = gunicorn_start(env, args.port, args.workers, args.threads, args.worker_class)
    try:
        _wait_until_up(server, args.port)
        print(f"gunicorn up on 127.0.0.1:{args.port}; driving {len(tokens)} subjects", flush=True)
        before = {}

        def on_rating_start() -> None:
            before.update(cpu_snapshot(server.pid, args.db_name))

        driver, elapsed = asyncio.run(
            drive(
                args.port,
                tokens,
                args.max_in_flight,
                args.duration,
                args.think_ms / 1000,
                args.seed,
                on_rating_start,
            )
        )
        cpu = cpu_used(before, cpu_snapshot(server.pid, args.db_name))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    report(driver, elapsed, stored_ratings(url, driver), cpu, args)


def _wait_until_up(server: subprocess.Popen, port: int, timeout: float = 30) -> None:
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited ({server.returncode}); is port {port} in use? (--port)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"gunicorn did not answer on 127.0.0.1:{port} within {timeout:.0f} s")


if __name__ == "__main__":
    main()
