"""`python manage.py demo`: everything a newcomer needs, in one command.

Migrates, creates an admin account, loads the demo study, then runs a Celery worker
(both queues, so a small retrain runs on CPU) and the web server until Ctrl-C.
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

        base = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS("\nThe demo is ready:"))
        self.stdout.write(f"  Dashboard:      {base}/")
        self.stdout.write(f"  Admin:          {base}/admin/")
        self.stdout.write(f"  API docs:       {base}/api/docs/")
        self.stdout.write(f"  Sign in as:     {ADMIN_USERNAME} / {password}")
        for token in demo.live_tokens[:1]:
            self.stdout.write(f"  Subject invite: {base}/s/{token}/")
        self.stdout.flush()
        if no_serve:
            return
        self._serve(host, port)

    def _serve(self, host: str, port: int) -> None:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        worker = subprocess.Popen(worker_argv(hostname="demo@%h"), cwd=settings.BASE_DIR)
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
