import json

from study_site.tests.helpers import run_manage, run_python

SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
    "'name': str(s.DATABASES['default']['NAME']), 'broker': s.CELERY_BROKER_URL, "
    "'media': str(s.MEDIA_ROOT), 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, "
    "'queues': sorted(q.name for q in s.CELERY_TASK_QUEUES), "
    "'serializer': s.CELERY_TASK_SERIALIZER, 'accept': s.CELERY_ACCEPT_CONTENT}))"
)


def _settings(**env) -> dict:
    result = run_python(SHOW, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_defaults_are_embedded_sqlite_and_filesystem_broker(tmp_path):
    shown = _settings(DEBUG="1", VAR_DIR=str(tmp_path))
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["name"] == str(tmp_path / "db.sqlite3")
    assert shown["broker"] == "filesystem://"
    assert (tmp_path / "broker" / "in").is_dir()
    assert shown["media"] == str(tmp_path / "media")
    assert shown["queues"] == ["default", "gpu"]
    assert shown["serializer"] == "json" and shown["accept"] == ["json"]


def test_environment_overrides_database_broker_media_and_hosts(tmp_path):
    shown = _settings(
        DEBUG="0",
        SECRET_KEY="x" * 60,
        DATABASE_URL="postgres://u:p@db.example:5432/studies",
        CELERY_BROKER_URL="redis://broker.example:6379/0",
        MEDIA_ROOT=str(tmp_path / "m"),
        ALLOWED_HOSTS="a.example, b.example",
        VAR_DIR=str(tmp_path),
    )
    assert shown["engine"] == "django.db.backends.postgresql"
    assert shown["name"] == "studies"
    assert shown["broker"] == "redis://broker.example:6379/0"
    assert shown["media"] == str(tmp_path / "m")
    assert shown["debug"] is False
    assert shown["hosts"] == ["a.example", "b.example"]


def test_missing_secret_key_in_production_mode_fails_with_a_clear_message(tmp_path):
    result = run_python("import django; django.setup()", DEBUG="0", VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "DEBUG=1" in result.stderr


def test_a_malformed_boolean_is_rejected(tmp_path):
    result = run_python("import django; django.setup()", DEBUG="maybe", VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_check_deploy_passes_with_production_values(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="k9" * 30 + "-production-like-secret",
        ALLOWED_HOSTS="studies.example",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
