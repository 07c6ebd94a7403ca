"""Settings for every environment, read from environment variables.

Every variable is listed with a comment in `.env.example`. The defaults are the
embedded ones (SQLite and a filesystem broker under var/) so the demo runs on a
bare machine; production sets DATABASE_URL, CELERY_BROKER_URL and SECRET_KEY.
See https://docs.djangoproject.com/en/5.2/ref/settings/ for the meaning of each.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from study_site.env import (
    cache_from_url,
    env_bool,
    env_int,
    env_list,
    env_str,
    media_storage_from_env,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=False)

_INSECURE_DEV_KEY = "insecure-development-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))"), '
            "or set DEBUG=1 for local development."
        )
    SECRET_KEY = _INSECURE_DEV_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served locally: /api/docs/ works offline
    "axes",  # sign-in brute-force protection (django-axes)
    "csp",  # Content-Security-Policy header (django-csp)
    "study_site",
    "annotation",
    "benchmark",
    "ops",  # backup and restore commands; no models
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "annotation.middleware.InviteGuessThrottle",
    # Last, as django-axes asks: it turns a locked-out sign-in into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "study_site.urls"
WSGI_APPLICATION = "study_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web server and worker write concurrently; WAL and a busy timeout
    # keep SQLite from answering "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out sign-in before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Languages a study's subject pages can be shown in (Study.language); catalogues live in
# annotation/locale/. The research pages stay in English.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# plotly.js (our partial bundle) lives with the analysis library, whose HTML report inlines
# it; the site serves the same file as static/vendor/... (hashed, compressed in production).
STATICFILES_DIRS = [("vendor", BASE_DIR / "analysis" / "vendor" / "js")]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# WhiteNoise warns on every request while the folder is missing (before collectstatic).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    # MEDIA_STORAGE=local (MEDIA_ROOT) or s3 (a bucket): media_storage_from_env's doc.
    "default": media_storage_from_env(),
    # Hashed, compressed static files in production (after collectstatic); plain in DEBUG.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = env_str("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# With media in a bucket, each machine keeps the files it reads (training images,
# checkpoints) here, reused across runs, least recently used removed past the bound
# (0: unbounded). docs/operations.md, "Workers on other machines".
MEDIA_CACHE_DIR = Path(env_str("MEDIA_CACHE_DIR", str(VAR_DIR / "media-cache")))
MEDIA_CACHE_MAX_MB = env_int("MEDIA_CACHE_MAX_MB", 20_000)
# Stimulus images are served by Django (not a public web server) so that access can be
# checked; large files stream from disk.
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Security (production values when DEBUG is off) -------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Reverse proxies in front of the site that append to X-Forwarded-For (nginx: 1); the
# client address for sign-in lockouts and link throttling is taken from there.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Every page's scripts and styles are files from this site: no inline script, no CDN.
# Style *attributes* stay allowed (the subject pages' per-study grey surround and scale
# ticks are computed per request); they cannot run script, and <style> elements cannot
# be injected (style-src-elem has no 'unsafe-inline'). The one hash allowed is that of
# the empty string: plotly.js adds an empty <style> and fills it through the CSSOM.
EMPTY_STYLE_HASH = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-elem": [SELF, EMPTY_STYLE_HASH],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Sign-in brute-force protection: a username is locked for one address after this many
# failed sign-ins, until the cool-off ends (or `manage.py axes_reset_username NAME`).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every manage.py command
AXES_CLIENT_IP_CALLABLE = "core.http.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Subject links: an address that opens this many unknown links within the window is
# answered 429 on every subject URL until the window ends.
INVITE_GUESS_LIMIT = env_int("INVITE_GUESS_LIMIT", 20)
INVITE_GUESS_WINDOW_S = env_int("INVITE_GUESS_WINDOW_S", 600)
# New participants one address may start through a recruitment link per window (a lab or
# a household shares an address, a script starting dozens does not).
RECRUIT_START_LIMIT = env_int("RECRUIT_START_LIMIT", 10)
RECRUIT_START_WINDOW_S = env_int("RECRUIT_START_WINDOW_S", 600)

# --- Cache: sign-in lockouts live in the database; link throttling counts here -----
# Several web processes must share it (CACHE_URL=redis://host:6379/1); the default,
# one process's memory, suits the demo's single process.
CACHES = {"default": cache_from_url(env_str("CACHE_URL", "locmem://"))}

# --- REST API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # Second: unauthenticated requests keep answering 403 (a bad token too, with the
        # message "Invalid or revoked token."), as before tokens existed.
        "annotation.api.authentication.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AIGC image-quality studies API",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema reveals the API's shape; only staff need it.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    # Swagger UI from the sidecar package's static files instead of a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Every API list is paged (?page=, ?page_size=); the schema documents it.
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 100)

# --- Celery (https://docs.celeryq.dev/en/stable/userguide/configuration.html) -------
# Default broker: kombu's filesystem transport under var/, which needs no server.
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("in", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "in"),
        "data_folder_out": str(_BROKER_DIR / "in"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        # Fan-out exchanges (worker control) would otherwise land in the working directory.
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
# Results live in the database rows the tasks update; the backend only serves tests
# and ad-hoc inspection.
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (
    Queue("default", Exchange("default"), routing_key="default"),
    Queue("gpu", Exchange("gpu"), routing_key="gpu"),
)
CELERY_TASK_ROUTES = {"benchmark.tasks.*": {"queue": "gpu", "routing_key": "gpu"}}
# A worker takes one task at a time so a long training run never holds others hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Periodic work, sent by `celery -A study_site beat` (the demo's worker runs beat itself).
CELERY_BEAT_SCHEDULE = {
    "crowd-sessions-sweep": {
        "task": "annotation.crowd_sessions_sweep",
        "schedule": float(env_int("CROWD_SWEEP_SECONDS", 60)),
    },
}
# No global time limit: each task declares its own (a retrain runs for hours).
CELERY_TASK_TIME_LIMIT = None
CELERY_TASK_SOFT_TIME_LIMIT = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Study platform ----------------------------------------------------------------
STUDY_MAX_IMAGE_PIXELS = env_int("STUDY_MAX_IMAGE_PIXELS", 40_000_000)
# Studies with at most this many ratings are analysed in the request (the demo takes about
# a second); larger ones go to a Celery task whose progress the analysis page polls.
ANALYSIS_INLINE_MAX_RATINGS = env_int("ANALYSIS_INLINE_MAX_RATINGS", 50_000)
# The same for pairwise studies, counted in choices: their analysis costs far more per row
# (perf/pairwise_analysis.py).
ANALYSIS_INLINE_MAX_CHOICES = env_int("ANALYSIS_INLINE_MAX_CHOICES", 1_000)

# --- Benchmark retrains (benchmark app; README "Benchmark retrains and GPU workers") -
# Pretrained ImageNet weights are read from this folder, never downloaded; file names as
# torchvision / timm publish them (resnet18-f37072fd.pth, ...). Web and GPU workers must
# both see it (the web checks the file exists before queueing).
BENCHMARK_WEIGHTS_DIR = Path(env_str("BENCHMARK_WEIGHTS_DIR", str(VAR_DIR / "weights")))
# Decoded-image cache of the training library; empty: ~/.cache/aigc-quality/images.
BENCHMARK_CACHE_DIR = env_str("BENCHMARK_CACHE_DIR", "")
# Per-run hard time limit in seconds; the soft limit (60 s earlier) marks the run failed.
BENCHMARK_TASK_TIME_LIMIT = env_int("BENCHMARK_TASK_TIME_LIMIT", 12 * 3600)
# A run whose worker dies this many times is marked failed instead of re-queued again.
BENCHMARK_MAX_ATTEMPTS = env_int("BENCHMARK_MAX_ATTEMPTS", 3)
# auto (CUDA when present), cpu, cuda or cuda:N; torch CPU threads (0: torch's default).
BENCHMARK_DEVICE = env_str("BENCHMARK_DEVICE", "auto")
BENCHMARK_TORCH_THREADS = env_int("BENCHMARK_TORCH_THREADS", 0)
# DataLoader processes per run when batches are streamed. -1 (auto): the cores this
# process may use where it may start processes (a `--pool solo` GPU worker, the CLI),
# 0 in a prefork child (daemonic: it may not start processes of its own).
BENCHMARK_DATALOADER_WORKERS = env_int("BENCHMARK_DATALOADER_WORKERS", -1)
# Where batches come from: auto (the packed images on the device when they fit in
# BENCHMARK_RESIDENT_SHARE of its free memory), resident or stream. docs/benchmarks.md.
BENCHMARK_DATA_PATH = env_str("BENCHMARK_DATA_PATH", "auto")
BENCHMARK_RESIDENT_SHARE = float(env_str("BENCHMARK_RESIDENT_SHARE", "0.5"))
# Redis re-delivers an unacknowledged task after this many seconds (a worker that died
# with the machine). It must exceed the longest run, or a live run gets a second copy.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int(
            "CELERY_BROKER_VISIBILITY_TIMEOUT", BENCHMARK_TASK_TIME_LIMIT + 600
        ),
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # django-axes logs every sign-in at INFO; failures and lockouts are WARNING.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
