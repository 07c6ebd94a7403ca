"""Outages, measured: the rating load on real servers while its database, broker, workers and
media disk fail, one fault at a time.

    sudo .venv/bin/python perf/outages.py            # root: loop mount, postgres user

Nothing here touches a server this script did not start. In a temporary folder, on free
ports, it starts:
- its own PostgreSQL cluster (initdb + pg_ctl; as the `postgres` OS user when run as
  root, since PostgreSQL refuses to run as root);
- its own redis-server (append-only file on, so queued tasks survive a restart), the
  Celery broker and the cache (CACHE_URL), as docs/operations.md runs them;
- gunicorn (production settings, DEBUG off) and one Celery worker per queue, with the
  operations guide's pools (default: prefork; gpu: solo);
- MEDIA_ROOT on a small loop-mounted ext4 image (`--media-mb`; a size-limited tmpfs where
  loop devices are refused; a plain folder, said so, where mounts are refused too).

Each fault gets fresh subjects (`--subjects` per fault) who rate the demo-shaped study of
perf/load_rating.py as a browser does, and who, as trial.js does, send a failed request
(connection refused or reset, a 5xx) again unchanged until it is answered: the trial's
address and body are its idempotency key. The faults, in order:
1. PostgreSQL stopped in immediate mode (a crash) and started again;
2. Redis stopped and started again; while it is down a retrain is launched;
3. the default worker's pool process SIGKILLed mid-import, then the import run again;
4. the same mid-package (a dataset package of a frozen release), then packaged again;
5. the gpu worker (solo pool) SIGKILLed mid-training, and a new one started;
6. the media disk filled: a package and an import are asked for, then space is freed
   and both run again.
Per fault it prints ratings acknowledged (200 answers) against those stored for that
fault's subjects, what subjects saw (requests retried, the longest wait for an answer,
answers given up), and every job's end state with its reason. At the end it lists every
job of every kind that is not in a clear end state (finished, or failed with a reason).
It prints figures; it is not a test.
"""

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

# Run as `python perf/outages.py`: perf/ is on sys.path, so its siblings import.
from load_rating import Driver, gunicorn_start, server_pids, study_setup
from support import ROOT, site_settings

sys.path.insert(0, str(ROOT))

DIMENSIONS = 3
GIVE_UP_S = 120.0  # a subject's browser would go on; the script has to end


# --- servers of its own ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")


def pg_binary(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if not found:
        sys.exit(f"{name} not found: install the PostgreSQL server binaries")
    return found


class Postgres:
    """A cluster in `folder` on `port`; as root its commands run as the postgres user."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.data = folder / "data"
        self.url = f"postgres://postgres@127.0.0.1:{port}/outages"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, stdout=subprocess.DEVNULL)

    def create(self) -> None:
        self.folder.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(pg_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self.start()
        self._run(pg_binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "outages")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "server.log")
        self._run(
            pg_binary("pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(pg_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


class Redis:
    """redis-server on `port` with its append-only file in `folder`."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True)

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.folder), "--appendonly", "yes", "--save", ""]
        log = (self.folder / "server.log").open("a")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis writes its append-only file and exits
            self.process.wait(timeout=30)


def media_mount(folder: Path, megabytes: int) -> str:
    """A size-limited filesystem at `folder`; says which kind it got."""
    folder.mkdir(parents=True)
    image = folder.parent / "media.ext4"
    attempts = [
        (
            "loop-mounted ext4",
            [
                ["truncate", "-s", f"{megabytes}M", str(image)],
                ["mkfs.ext4", "-q", "-F", "-m", "0", str(image)],
                ["mount", "-o", "loop", str(image), str(folder)],
            ],
        ),
        ("tmpfs", [["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)]]),
    ]
    refusals = []
    for kind, commands in attempts:
        try:
            for command in commands:
                subprocess.run(command, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as error:
            refusals.append(f"{kind}: {getattr(error, 'stderr', '') or error}".strip())
            continue
        folder.chmod(0o777)
        return f"{kind} of {megabytes} MB"
    return "a plain folder (no size limit: " + "; ".join(refusals) + ")"


def media_unmount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], capture_output=True)


# --- the site's processes -------------------------------------------------------------------


def site_env(work: Path, database_url: str, redis_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        site_settings(database_url, work, allowed_host="127.0.0.1"),
        MEDIA_ROOT=str(work / "media"),
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        CACHE_URL=f"redis://127.0.0.1:{redis_port}/1",
        # Short, so a task whose worker died with it comes back within the run; the
        # tiny training here is far shorter than that (docs/benchmarks.md).
        CELERY_BROKER_VISIBILITY_TIMEOUT="30",
        BENCHMARK_DEVICE="cpu",
        BENCHMARK_TORCH_THREADS="1",
        BENCHMARK_WEIGHTS_DIR=str(work / "weights"),
        BENCHMARK_CACHE_DIR=str(work / "cache"),
        PYTHONPATH=str(ROOT),
    )
    return env


class Worker:
    """One Celery worker in its own process group, logging to `log`."""

    def __init__(self, env: dict[str, str], queue: str, log: Path) -> None:
        from study_site.worker import worker_argv

        self.argv = worker_argv(hostname=f"{queue}-{{n}}@%h", queues=queue)
        self.env, self.log, self.started = env, log, 0
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.started += 1
        argv = [part.replace("{n}", str(self.started)) for part in self.argv]
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def pool_children(self) -> list[int]:
        assert self.process is not None
        return [pid for pid in server_pids(self.process.pid) if pid != self.process.pid]

    def kill_group(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_group()


# --- subjects who retry as trial.js does ------------------------------------------------------


class RetryingDriver(Driver):
    """load_rating's subjects, except that a request that meets a refused or reset connection
    or a 5xx answer is sent again unchanged (0.25 s doubling to 2 s) until it is answered."""

    def __init__(self, port: int, max_in_flight: int) -> None:
        super().__init__(port, max_in_flight, deadline=float("inf"))
        self.retried: dict[str, int] = defaultdict(int)
        self.waits: list[float] = []  # first failure to answer, per request that failed
        self.given_up = 0

    async def call(self, kind, method, path, headers, body=b""):
        first_failure = None
        for attempt in range(10_000):
            try:
                reply = await asyncio.wait_for(
                    Driver.call(self, kind, method, path, headers, body), timeout=30
                )
            except (
                OSError,
                ConnectionError,
                asyncio.IncompleteReadError,
                TimeoutError,
                ValueError,
            ):
                reply = None
            if reply is not None and reply[0] < 500:
                if first_failure is not None:
                    self.waits.append(time.perf_counter() - first_failure)
                return reply
            self.retried[kind] += 1
            first_failure = first_failure or time.perf_counter()
            if time.perf_counter() - first_failure > GIVE_UP_S:
                self.given_up += 1
                raise ConnectionError(f"{kind}: no answer for {GIVE_UP_S:.0f} s")
            await asyncio.sleep(min(0.25 * 2**attempt, 2.0))
        raise ConnectionError(f"{kind}: too many tries")


class Load:
    """The subjects of one fault, rating in a thread of their own until `stop`."""

    def __init__(self, port: int, tokens: list[str], think: float, seed: int) -> None:
        self.driver = RetryingDriver(port, max_in_flight=4)
        self.tokens, self.think, self.seed = tokens, think, seed
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.consented = threading.Event()  # every subject has started a session

    async def _run(self) -> None:
        import random

        rng = random.Random(self.seed)
        cookies = await asyncio.gather(*(self.driver.consent(token) for token in self.tokens))
        self.consented.set()
        await asyncio.gather(
            *(
                self.driver.rate(token, cookie, random.Random(rng.random()), self.think)
                for token, cookie in zip(self.tokens, cookies, strict=True)
                if cookie is not None
            )
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.driver.deadline = 0.0  # every subject ends after its current trial
        self.thread.join(timeout=GIVE_UP_S + 60)


def stored_for(database_url: str, tokens: list[str]) -> dict[tuple[str, int], int]:
    import psycopg

    hashes = [hashlib.sha256(token.encode()).hexdigest() for token in tokens]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT s.token_hash, r.trial_index, count(*) FROM annotation_rating r "
            "JOIN annotation_ratingsession rs ON rs.id = r.session_id "
            "JOIN annotation_subject s ON s.id = rs.subject_id "
            "WHERE s.token_hash = ANY(%s) GROUP BY s.token_hash, r.trial_index",
            (hashes,),
        ).fetchall()
    return {(token_hash, index): count for token_hash, index, count in rows}


def ratings_report(load: Load, database_url: str) -> tuple[int, int, bool]:
    driver = load.driver
    stored = stored_for(database_url, load.tokens)
    acknowledged = {
        (hashlib.sha256(token.encode()).hexdigest(), index): count
        for (token, index), count in driver.acknowledged.items()
    }
    lost = sorted(set(acknowledged) - set(stored))
    unacknowledged = sorted(set(stored) - set(acknowledged))
    partial = [key for key, count in stored.items() if count != DIMENSIONS]
    sums = sum(acknowledged.values()), sum(stored.values())
    same = sums[0] == sums[1] and not (lost or unacknowledged or partial)
    print(
        f"  ratings acknowledged {sums[0]}  stored {sums[1]}  {'EQUAL' if same else 'MISMATCH'}"
        f"  (trials acknowledged, not stored: {len(lost)}; stored, not acknowledged: "
        f"{len(unacknowledged)}; stored with other than {DIMENSIONS} ratings: {len(partial)})"
    )
    waits = sorted(driver.waits)
    retried = dict(driver.retried)
    longest = f"{waits[-1]:.1f} s" if waits else "-"
    print(
        f"  subjects saw: {sum(retried.values())} failed requests retried {retried or ''}, "
        f"{len(waits)} waits for an answer (longest {longest}), {driver.given_up} given up, "
        f"other errors {dict(driver.errors) or 'none'}"
    )
    return sums[0], sums[1], same


# --- jobs (this process runs Django on the same database, broker and media) -----------------


def wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    """True once `condition()` holds; a database that is away for a moment is waited for."""
    from django.db import OperationalError, connections

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if condition():
                return True
        except OperationalError:
            connections.close_all()
        time.sleep(every)
    return False


def import_source(folder: Path, count: int) -> dict[str, str]:
    """`count` noise JPEGs and their manifest, outside MEDIA_ROOT as an upload waits."""
    from PIL import Image

    images = folder / "images"
    images.mkdir(parents=True)
    rows = ["image,generator,prompt"]
    for index in range(count):
        noise = Image.effect_noise((384, 384), 40 + index % 50).convert("RGB")
        noise.save(images / f"noise{index:04d}.jpg", quality=90)
        rows.append(f"noise{index:04d}.jpg,gen{index % 3},noise {index}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return {"manifest": str(folder / "manifest.csv"), "images": str(images)}


def import_launch(study, source: dict[str, str]):
    from annotation.models import ImportJob
    from annotation.services.imports import import_job_create

    return import_job_create(
        kind=ImportJob.Kind.MANIFEST, created_by=None, study=study, options=dict(source)
    )


def import_ended(job) -> bool:
    job.refresh_from_db()
    return job.status in ("done", "failed")


def import_state(job) -> str:
    job.refresh_from_db()
    reason = job.error_report[0]["message"] if job.error_report else ""
    return f"import {job.pk}: {job.status} {reason[:240]}".rstrip()


def package_request(release):
    from annotation.services.release_package import release_package_request

    return release_package_request(release=release)


def package_ended(release) -> bool:
    release.refresh_from_db()
    return release.package_status in ("done", "failed")


def package_state(release) -> str:
    """The package's status, and whether a zip is visible and right."""
    from django.core.files.storage import default_storage

    release.refresh_from_db()
    shown = "no package file on the release"
    if release.package_file:
        with default_storage.open(release.package_file.name, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        match = "sha256 matches" if digest == release.package_sha256 else "SHA256 MISMATCH"
        shown = f"package {release.package_size} bytes, {match}"
    reason = f" ({release.package_error[:240]})" if release.package_error else ""
    return f"package of release {release.pk}: {release.package_status}{reason}; {shown}"


def retrain_launch(release, epochs: int):
    """One tiny run (resnet18, 32 px, CPU), launched as the sweep form launches it."""
    from benchmark.forms import LaunchForm
    from benchmark.services.launch import sweep_launch
    from benchmark.tests.factories import tiny_form

    form = LaunchForm(tiny_form(release, name="outage", epochs=epochs))
    if not form.is_valid():
        sys.exit(f"the launch form refused the retrain: {form.errors.as_text()}")
    return sweep_launch(spec=form.spec(), created_by=None).runs.get()


def run_ended(run) -> bool:
    run.refresh_from_db()
    return run.is_terminal


def run_state(run) -> str:
    run.refresh_from_db()
    requeued = [e["event"] for e in run.events if "re-queued" in e["event"]]
    reason = f" ({run.error[:240]})" if run.error else ""
    again = f"; {requeued[0][:120]}" if requeued else ""
    return f"retrain run {run.pk}: {run.status}{reason}, attempts {run.attempts}{again}"


def unclear_jobs() -> list[str]:
    """Every job of every kind not finished, nor failed with a reason."""
    from annotation.models import AnalysisRun, ImportJob, LabelRelease
    from benchmark.models import BenchmarkRun, ScoringJob

    unclear = [
        f"import {job.pk} {job.status}"
        for job in ImportJob.objects.all()
        if job.status != "done" and not (job.status == "failed" and job.error_report)
    ]
    unclear += [
        f"analysis {run.pk} {run.status}"
        for run in AnalysisRun.objects.all()
        if run.status != "done" and not (run.status == "failed" and run.error)
    ]
    unclear += [
        f"package of release {r.pk} {r.package_status}"
        for r in LabelRelease.objects.exclude(package_status="")
        if r.package_status != "done" and not (r.package_status == "failed" and r.package_error)
    ]
    for model in (BenchmarkRun, ScoringJob):
        unclear += [
            f"{model.__name__} {job.pk} {job.status}"
            for job in model.objects.all()
            if job.status not in ("succeeded", "cancelled")
            and not (job.status == "failed" and job.error)
        ]
    return unclear


# --- the faults ---------------------------------------------------------------------------------


class Site:
    """Everything the faults act on: servers, workers, the study's invites and fixtures."""

    def __init__(self, args, work: Path) -> None:
        self.args, self.work = args, work
        self.pg = Postgres(work / "postgres", free_port())
        self.redis = Redis(work / "redis", free_port())
        self.port = free_port()
        self.env = site_env(work, self.pg.url, self.redis.port)
        (work / "logs").mkdir(parents=True)
        self.default = Worker(self.env, "default", work / "logs" / "default.log")
        self.gpu = Worker(self.env, "gpu", work / "logs" / "gpu.log")
        self.web: subprocess.Popen | None = None
        self.tokens: list[str] = []
        self.fixtures: dict = {}

    def next_subjects(self) -> list[str]:
        batch, self.tokens = self.tokens[: self.args.subjects], self.tokens[self.args.subjects :]
        return batch

    def say(self, text: str) -> None:
        print(f"  {text}", flush=True)


def fault_postgres(site: Site) -> None:
    from django.db import connections

    site.pg.stop(mode="immediate")
    site.say(f"PostgreSQL stopped (immediate: a crash); down {site.args.down_s:.0f} s")
    time.sleep(site.args.down_s)
    site.pg.start()
    connections.close_all()
    site.say("PostgreSQL started again (crash recovery)")


def fault_redis(site: Site) -> None:
    from benchmark.models import BenchmarkRun
    from benchmark.services.control import run_retry

    site.redis.stop()
    site.say(f"Redis stopped; down {site.args.down_s:.0f} s; a retrain is launched meanwhile")
    launched = time.monotonic()
    run = retrain_launch(site.fixtures["train_release"], epochs=2)
    site.say(f"launch took {time.monotonic() - launched:.1f} s -> {run_state(run)}")
    time.sleep(max(0.0, site.args.down_s - (time.monotonic() - launched)))
    site.redis.start()
    site.say("Redis started again; the failed run is retried from its page's action")
    run = run_retry(run=BenchmarkRun.objects.get(pk=run.pk), by=None)
    wait_until(lambda: run_ended(run), timeout=240)
    site.say(run_state(run))


def kill_pool_child(site: Site, ready: Callable[[], bool], what: str) -> bool:
    if not wait_until(ready, timeout=120, every=0.01):
        site.say(f"{what} never started: nothing killed")
        return False
    children = site.default.pool_children()
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    site.say(f"SIGKILL to the default worker's pool process {children} {what}")
    return True


def fault_import(site: Site) -> None:
    study, source = site.fixtures["import_study"], site.fixtures["import_source"]
    job = import_launch(study, source)

    def writing() -> bool:
        job.refresh_from_db()
        return job.status in ("validating", "writing") and job.progress > 0

    kill_pool_child(site, writing, f"mid-import (job {job.pk})")
    wait_until(lambda: import_ended(job), timeout=120)
    site.say(f"{import_state(job)}; stimuli visible in its study: {study.stimuli.count()}")
    again = import_launch(study, source)
    wait_until(lambda: import_ended(again), timeout=300)
    site.say(f"run again: {import_state(again)}; stimuli: {study.stimuli.count()}")


def fault_package(site: Site) -> None:
    release = site.fixtures["package_release"]
    package_request(release)

    def packaging() -> bool:
        release.refresh_from_db()
        return release.package_status == "running" and release.package_step != "queued"

    kill_pool_child(site, packaging, f"mid-package (release {release.pk})")
    wait_until(lambda: package_ended(release), timeout=120)
    site.say(package_state(release))
    package_request(release)
    wait_until(lambda: package_ended(release), timeout=300)
    site.say(f"packaged again: {package_state(release)}")


def fault_training(site: Site) -> None:
    run = retrain_launch(site.fixtures["train_release"], epochs=site.args.epochs)

    def training() -> bool:
        run.refresh_from_db()
        return run.status == "running" and run.progress.get("epoch", 0) >= 1

    if not wait_until(training, timeout=240):
        site.say(f"the run never reached its first epoch: {run_state(run)}")
        return
    site.gpu.kill_group()
    site.say(f"SIGKILL to the gpu worker (solo pool) mid-training, epoch {run.progress['epoch']}")
    site.gpu.start()
    site.say("a new gpu worker started; the broker re-delivers the unacknowledged task")
    wait_until(lambda: run_ended(run), timeout=300)
    site.say(run_state(run))


def disk_fill(folder: Path) -> int:
    """Write a file until the filesystem is full; its size in MB."""
    written = 0
    chunk = b"\0" * (1 << 20)
    with (folder / "filler.bin").open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
                written += 1
        except OSError:
            pass
    return written


def fault_disk(site: Site) -> None:
    media = site.work / "media"
    site.say(f"media disk filled with {disk_fill(media)} MB; a package and an import asked for")
    release = site.fixtures["disk_release"]
    study, source = site.fixtures["disk_study"], site.fixtures["import_source"]
    package_request(release)
    job = import_launch(study, source)
    wait_until(lambda: package_ended(release) and import_ended(job), timeout=300)
    site.say(package_state(release))
    site.say(f"{import_state(job)}; stimuli visible in its study: {study.stimuli.count()}")
    (media / "filler.bin").unlink()
    site.say("space freed; both asked for again")
    package_request(release)
    again = import_launch(study, source)
    wait_until(lambda: package_ended(release) and import_ended(again), timeout=300)
    site.say(package_state(release))
    site.say(f"{import_state(again)}; stimuli: {study.stimuli.count()}")


FAULTS: list[tuple[str, Callable[[Site], None]]] = [
    ("PostgreSQL restart", fault_postgres),
    ("Redis (broker and cache) stopped and restarted", fault_redis),
    ("worker killed mid-import", fault_import),
    ("worker killed mid-package", fault_package),
    ("gpu worker killed mid-training", fault_training),
    ("media disk full", fault_disk),
]


# --- setting up, running, tearing down ----------------------------------------------------------


def site_setup(site: Site) -> None:
    """Servers up, the database migrated, the study, its invites and the jobs' fixtures."""
    site.pg.create()
    site.redis.start()
    os.environ.update(site.env)
    import django

    django.setup()
    from django.core.management import call_command

    from annotation.tests.factories import StudyFactory
    from benchmark.tests.factories import LabelReleaseFactory

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    tokens_file = site.work / "tokens.json"
    study_setup(site.args.subjects * len(FAULTS), tokens_file)
    site.tokens = json.loads(tokens_file.read_text())
    site.fixtures = {
        "import_study": StudyFactory(name="import target"),
        "disk_study": StudyFactory(name="import target, disk full"),
        "import_source": import_source(site.work / "upload", site.args.import_images),
        "package_release": frozen_release(site.args.package_images),
        "disk_release": frozen_release(site.args.package_images),
        "train_release": LabelReleaseFactory(groups=6, size=32),
    }


def frozen_release(images: int):
    """A frozen release of a study where 6 subjects rated `images` images on 2 dimensions."""
    from annotation.services.releases import release_freeze
    from annotation.tests.factories import rated_study_create

    study = rated_study_create(subjects=6, stimuli=images)
    return release_freeze(study=study, options={"screening": []})


def site_start(site: Site) -> None:
    log = (site.work / "logs" / "gunicorn.log").open("a")
    site.web = gunicorn_start(site.env, site.port, 2, 2, "gthread", log=log)
    site.default.start()
    site.gpu.start()
    wait_for_port(site.port)


def site_stop(site: Site) -> None:
    for worker in (site.default, site.gpu):
        worker.stop()
    if site.web is not None:
        site.web.send_signal(signal.SIGTERM)
        site.web.wait(timeout=30)
    site.redis.stop()
    try:
        site.pg.stop()
    except subprocess.CalledProcessError:
        print("PostgreSQL was not running at the end")


def fault_run(site: Site, title: str, fault: Callable[[Site], None], seed: int) -> bool:
    print(f"\n== {title}", flush=True)
    load = Load(site.port, site.next_subjects(), site.args.think_ms / 1000, seed)
    load.start()
    load.consented.wait(timeout=GIVE_UP_S)
    time.sleep(site.args.lead_s)  # the fault strikes while every subject is rating
    started = time.perf_counter()
    fault(site)
    site.say(f"fault and recovery: {time.perf_counter() - started:.1f} s")
    time.sleep(site.args.lead_s)
    load.stop()
    return ratings_report(load, site.pg.url)[2]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=12, help="fresh subjects per fault")
    parser.add_argument("--think-ms", type=float, default=1000, help="mean pause before a submit")
    parser.add_argument("--down-s", type=float, default=8, help="how long a server stays down")
    parser.add_argument("--lead-s", type=float, default=4, help="load before and after a fault")
    parser.add_argument("--import-images", type=int, default=300)
    parser.add_argument("--package-images", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=40, help="of the run killed mid-training")
    parser.add_argument("--media-mb", type=int, default=512)
    parser.add_argument("--only", help="comma-separated fault numbers (1-6) to run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    work = Path(tempfile.mkdtemp(prefix="outages-"))
    work.chmod(0o755)  # the postgres user must reach its cluster inside
    chosen = {int(n) for n in args.only.split(",")} if args.only else set(range(1, 7))
    site = Site(args, work)
    print(f"media: {media_mount(work / 'media', args.media_mb)}", flush=True)
    all_equal, unclear = True, ["(not checked)"]
    try:
        site_setup(site)
        site_start(site)
        print(
            f"own servers: PostgreSQL :{site.pg.port}, Redis :{site.redis.port}, gunicorn "
            f":{site.port} (2 workers x 2 threads), Celery default (prefork) + gpu (solo); "
            f"{args.subjects} subjects per fault, think {args.think_ms:.0f} ms",
            flush=True,
        )
        for number, (title, fault) in enumerate(FAULTS, start=1):
            if number in chosen:
                all_equal &= fault_run(site, f"{number}. {title}", fault, seed=number)
        unclear = unclear_jobs()
        print(f"\njobs not in a clear end state: {unclear or 'none'}")
        print(f"acknowledged = stored for every fault: {'yes' if all_equal else 'NO'}")
    finally:
        site_stop(site)
        media_unmount(work / "media")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all_equal and not unclear else 1


if __name__ == "__main__":
    sys.exit(main())
