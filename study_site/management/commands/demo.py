"""`python manage.py demo`: everything a newcomer needs, in one command.

Migrates, creates an admin account, loads the demo study, makes the tiny random CLIP's
weights (offline, from a fixed seed), queues a tiny benchmark sweep on its label release
(NR and FR on EfficientNet-Lite0, Text and the CLIPScore baseline on the tiny CLIP), then
runs a Celery worker (both queues, so the sweep trains on CPU) and the web server until
Ctrl-C.
"""

import json
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from benchmark.training.catalog import RANDOM_CLIP_BACKBONE
from fixtures.demo_study import load_demo_study
from study_site.worker import worker_argv

ADMIN_USERNAME = "admin"
DEMO_SWEEP_NAME = "Demo: every model kind, tiny, on CPU"
# NR and FR on EfficientNet-Lite0 (its ImageNet weights come with its pip package), the
# text-image kinds on the tiny CLIP with random weights (no CLIP checkpoint can be had
# offline): every kind a sweep can mix, small enough for two CPU cores. The tiny CLIP
# takes 32 px only, so the image backbone trains at 32 px too.
DEMO_MODELS = ("nr", "fr", "text", "clipscore")
DEMO_BACKBONES = ("efficientnet_lite0", RANDOM_CLIP_BACKBONE)
DEMO_HYPER = {"epochs": 2, "batch_size": 8, "lr": 1e-3, "image_size": 32, "weights": "pretrained"}


class Command(BaseCommand):
    help = "Set up and run the demo: database, admin account, demo study, worker and web server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Set up and print the URLs, but start no server or worker.",
        )

    def handle(self, *args, host: str, port: int, no_serve: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        admin, password = _ensure_admin()
        demo = load_demo_study()
        if demo.study.owner_id is None:
            demo.study.owner = admin
            demo.study.save(update_fields=["owner"])
        self.stdout.write(("Loaded" if demo.created else "Found") + f" demo study '{demo.study}'.")
        self._ensure_random_clip_weights()
        self._ensure_demo_sweep(demo.study, admin)

        base = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS("\nThe demo is ready:"))
        self.stdout.write(f"  Dashboard:      {base}/")
        self.stdout.write(f"  Admin:          {base}/admin/")
        self.stdout.write(f"  API docs:       {base}/api/docs/")
        self.stdout.write(f"  Benchmarks:     {base}/benchmark/")
        self.stdout.write(f"  Sign in as:     {ADMIN_USERNAME} / {password}")
        for token in demo.live_tokens[:1]:
            self.stdout.write(f"  Subject invite: {base}/s/{token}/")
        self.stdout.flush()
        if no_serve:
            return
        self._serve(host, port)

    def _ensure_random_clip_weights(self) -> None:
        """The tiny CLIP's weights file in BENCHMARK_WEIGHTS_DIR, made once, offline."""
        from benchmark.services.configs import random_weights_prepare
        from benchmark.training.errors import WeightsError

        try:
            path, status = random_weights_prepare(backbone=RANDOM_CLIP_BACKBONE)
        except WeightsError as exc:
            self.stderr.write(f"The tiny CLIP's weights were not made: {exc}")
            return
        if status == "created":
            self.stdout.write(
                f"Made the weights of {RANDOM_CLIP_BACKBONE} ({path.name}): random, from a "
                "fixed seed, for trying the text-image kinds, not a quality model."
            )

    def _ensure_demo_sweep(self, study, admin) -> None:
        """Queue a tiny CPU sweep on the demo's latest label release, once per database.

        It runs on the demo's own worker (which serves the gpu queue too), so a newcomer
        sees a benchmark go from queued to a leaderboard within a few minutes.
        """
        from annotation.models import LabelRelease
        from benchmark.models import BenchmarkSweep
        from benchmark.services import LaunchRejected, SweepSpec, sweep_launch

        if BenchmarkSweep.objects.exists():
            self.stdout.write("Found benchmark sweep(s); not launching the demo sweep again.")
            return
        release = LabelRelease.objects.filter(study=study).order_by("-version").first()
        if release is None:
            self.stdout.write(
                "Note: the demo study has no label release yet, so no demo benchmark sweep "
                "was queued (freeze a release, then launch one from /benchmark/new/)."
            )
            return
        spec = SweepSpec(
            release=release,
            name=DEMO_SWEEP_NAME,
            models=DEMO_MODELS,
            backbones=DEMO_BACKBONES,
            split={"protocol": "random"},
            repeats=1,
            hyper=DEMO_HYPER,
            # Half the demo's rows are image-to-image (with a prompt image): FR trains on those.
            fr_reference_rows_only=True,
        )
        try:
            sweep = sweep_launch(spec=spec, created_by=admin)
        except LaunchRejected as exc:
            self.stderr.write(f"Demo benchmark sweep not queued: {exc}")
            return
        self.stdout.write(
            f"Queued benchmark sweep {sweep.pk} on {release}: NR and FR (FR on the rows with a "
            f"prompt image) on {DEMO_BACKBONES[0]}, Text and the CLIPScore baseline on "
            f"{RANDOM_CLIP_BACKBONE} (random weights), 32 px, 2 epochs, CPU; the demo's worker "
            "runs it."
        )

    def _serve(self, host: str, port: int) -> None:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        schedule = str(Path(settings.VAR_DIR) / "celerybeat-schedule")
        worker = subprocess.Popen(
            worker_argv(hostname="demo@%h", beat_schedule=schedule), cwd=settings.BASE_DIR
        )
        web = subprocess.Popen(
            [sys.executable, manage, "runserver", f"{host}:{port}", "--noreload"],
            cwd=settings.BASE_DIR,
        )
        self.stdout.write("Worker and web server started; press Ctrl-C to stop.\n")
        self.stdout.flush()
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and worker.poll() is None and web.poll() is None:
                time.sleep(0.3)
        finally:
            for process in (web, worker):
                if process.poll() is None:
                    process.terminate()
            for process in (web, worker):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        if not stopping:
            self.stderr.write("A demo process exited on its own; see its output above.")
            sys.exit(1)
        self.stdout.write("Demo stopped.")


def _ensure_admin() -> tuple[object, str]:
    """Create the demo admin once; its password is kept in var/ so re-runs print it again."""
    credentials = Path(settings.VAR_DIR) / "demo-credentials.json"
    User = get_user_model()
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is not None and credentials.exists():
        return user, json.loads(credentials.read_text())["password"]
    password = secrets.token_urlsafe(12)
    if user is None:
        user = User.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text(json.dumps({"username": ADMIN_USERNAME, "password": password}))
    credentials.chmod(0o600)
    return user, password
