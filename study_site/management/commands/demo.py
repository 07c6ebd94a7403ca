"""`python manage.py demo`: everything a newcomer needs, in one command.

Migrates, creates an admin account, loads the demo study, queues a tiny benchmark sweep
on its label release, then runs a Celery worker (both queues, so the retrain runs on CPU)
and the web server until Ctrl-C.
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

from fixtures.demo_study import load_demo_study
from study_site.worker import worker_argv

ADMIN_USERNAME = "admin"
DEMO_SWEEP_NAME = "Demo: tiny NR retrain on CPU"


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

    def _ensure_demo_sweep(self, study, admin) -> None:
        """Queue a tiny CPU retrain on the demo's latest label release, once per database.

        It runs on the demo's own worker (which serves the gpu queue too), so a newcomer
        sees a benchmark go from queued to a results table within a minute or two.
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
            models=("nr",),
            backbones=("resnet18",),
            split={"protocol": "random"},
            repeats=1,
            hyper={"epochs": 2, "batch_size": 8, "lr": 1e-3, "image_size": 32, "weights": "none"},
        )
        try:
            sweep = sweep_launch(spec=spec, created_by=admin)
        except LaunchRejected as exc:
            self.stderr.write(f"Demo benchmark sweep not queued: {exc}")
            return
        self.stdout.write(
            f"Queued benchmark sweep {sweep.pk} on {release} (NR, resnet18, 32 px, 2 epochs, "
            "CPU); the demo's worker runs it."
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
