"""Test overlay: fast hashing, eager-free Celery, isolated media; database from the env.

TEST_DATABASE_URL picks the server (CI sets it to PostgreSQL); SQLite otherwise.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
if os.environ.get("TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="study-test-var-"))

from study_site.settings.base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="study-test-media-"))  # noqa: F405
SECURE_SSL_REDIRECT = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# SQLite: the test database lives in a file, not in shared-cache memory. The live server's
# threads then wait on a lock (up to the timeout) instead of failing at once with "database
# table is locked" when a page's requests overlap, as browser tests' requests do.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(Path(os.environ["VAR_DIR"]) / "test.sqlite3")}  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30  # noqa: F405
