"""Typed readers for environment variables, so settings fail loudly on bad values."""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no."
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def cache_from_url(url: str) -> dict:
    """A CACHES entry from a URL: redis:// or rediss:// (shared), locmem:// (this process)."""
    if url.startswith(("redis://", "rediss://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if url.startswith("locmem://"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    raise ImproperlyConfigured(
        f"CACHE_URL={url!r} is not supported; use redis://host:6379/1 or locmem://."
    )


def media_storage_from_env() -> dict:
    """STORAGES["default"]: the local MEDIA_ROOT folder, or with MEDIA_STORAGE=s3 an
    S3-compatible bucket (django-storages' S3 backend; docs/operations.md, "Workers on
    other machines")."""
    kind = env_str("MEDIA_STORAGE", "local").strip().lower()
    if kind == "local":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if kind != "s3":
        raise ImproperlyConfigured(f"MEDIA_STORAGE={kind!r} is not supported; use local or s3.")
    bucket = env_str("MEDIA_S3_BUCKET")
    if not bucket:
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs MEDIA_S3_BUCKET (the bucket's name).")
    options = {
        "bucket_name": bucket,
        "endpoint_url": env_str("MEDIA_S3_ENDPOINT_URL") or None,
        "region_name": env_str("MEDIA_S3_REGION") or None,
        # Empty: boto3's own chain (AWS_* variables, ~/.aws, an instance role).
        "access_key": env_str("MEDIA_S3_ACCESS_KEY_ID") or None,
        "secret_key": env_str("MEDIA_S3_SECRET_ACCESS_KEY") or None,
        "location": env_str("MEDIA_S3_PREFIX").strip("/"),
        "addressing_style": env_str("MEDIA_S3_ADDRESSING_STYLE", "path") or None,
        "signature_version": "s3v4",
        # Objects stay private: the site streams them after its own access checks.
        "default_acl": None,
        "querystring_auth": True,
        # A name already taken gets a new one, as in a local folder: nothing is replaced.
        "file_overwrite": False,
        # An object read through its file object spills to disk past this (default: never).
        "max_memory_size": 64 * 1024 * 1024,
    }
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
