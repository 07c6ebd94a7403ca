"""Media files through Django's storage API, for machines that do not share a disk.

Media is a local folder (MEDIA_ROOT, the embedded default) or an S3-compatible bucket
(MEDIA_STORAGE=s3). Code that needs a real file on this machine (the training library,
pandas, torch) asks :func:`media_local_path`: the file itself when media is local, else a
copy in this machine's cache, fetched once per stored version of the object and reused
across runs. Code that writes a folder of files (a run's checkpoints, a scoring job's
table) writes under :func:`media_workdir` and calls :func:`media_publish`: a no-op when
media is local (the folder *is* media), an upload of every file when it is a bucket.
"""

import hashlib
import io
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

COPY_CHUNK = 1024 * 1024


def storage_is_local() -> bool:
    """True when stored names are files under MEDIA_ROOT on this machine."""
    try:
        default_storage.path("")
    except NotImplementedError:
        return False
    return True


def _bucket_object(name: str):
    """The boto3 Object of a stored name (its key carries the storage's prefix), or None
    when media is not a bucket."""
    bucket = getattr(default_storage, "bucket", None)
    if bucket is None:
        return None
    return bucket.Object(default_storage._normalize_name(name))


def _missing(name: str, error: Exception) -> FileNotFoundError:
    return FileNotFoundError(f"{name} is not in the media bucket ({error})")


def object_version(name: str) -> str:
    """What changes when the object is replaced: its ETag in a bucket (one HEAD request),
    else its size and modification time."""
    from botocore.exceptions import ClientError

    stored = _bucket_object(name)
    if stored is None:
        modified = default_storage.get_modified_time(name).timestamp()
        return f"{default_storage.size(name)}-{modified}"
    try:
        return str(stored.e_tag).strip('"')
    except ClientError as error:
        raise _missing(name, error) from None


class _BodyReader(io.RawIOBase):
    """A bucket object's body as a raw stream: blocks as they arrive, never held whole."""

    def __init__(self, body) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class StoredReader(io.BufferedReader):
    """What :func:`media_open` returns: a binary file object with the object's ``size``."""

    size: int


def stream_response(handle: BinaryIO, **options):
    """A FileResponse streaming ``handle`` (from :func:`media_open`) with its length."""
    from django.http import FileResponse

    response = FileResponse(handle, **options)
    if isinstance(handle, StoredReader):  # not seekable: FileResponse cannot measure it
        response["Content-Length"] = str(handle.size)
    return response


def media_open(name: str) -> BinaryIO:
    """The stored file for reading, streamed: from the folder, or from the bucket block
    by block (django-storages' own file object downloads the whole object first)."""
    from botocore.exceptions import ClientError

    stored = _bucket_object(name)
    if stored is None:
        return default_storage.open(name, "rb")
    try:
        response = stored.get()
    except ClientError as error:
        raise _missing(name, error) from None
    reader = StoredReader(_BodyReader(response["Body"]), buffer_size=COPY_CHUNK)
    reader.size = int(response["ContentLength"])
    return reader


def cache_key(name: str, version: str) -> str:
    return hashlib.sha256(f"{name}\0{version}".encode()).hexdigest()


class MediaCache:
    """Local copies of stored objects, one file per (name, version), in ``root``.

    Files are written to a temporary name and renamed, so two processes fetching the same
    object never see half a file. :meth:`trim` keeps the folder under ``max_bytes``
    (0: unbounded) by removing the least recently used copies.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_for(self, name: str, version: str) -> Path:
        key = cache_key(name, version)
        return self.root / key[:2] / f"{key}{PurePosixPath(name).suffix.lower()}"

    def fetch(self, name: str) -> Path:
        target = self.path_for(name, object_version(name))
        if target.is_file():
            os.utime(target)  # recently used: trimmed last
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with media_open(name) as source, partial.open("wb") as out:
                shutil.copyfileobj(source, out, COPY_CHUNK)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def size(self) -> int:
        return sum(path.stat().st_size for path in self.root.rglob("*") if path.is_file())

    def trim(self, keep: Iterable[Path] = ()) -> int:
        """Remove least recently used copies until the cache fits; ``keep`` (the files a
        run is about to read) stays even when it alone is larger. Returns bytes removed."""
        if self.max_bytes <= 0 or not self.root.is_dir():
            return 0
        kept = {Path(path) for path in keep}
        files = [path for path in self.root.rglob("*") if path.is_file()]
        total = sum(path.stat().st_size for path in files)
        removed = 0
        for path in sorted(files, key=lambda candidate: candidate.stat().st_mtime):
            if total - removed <= self.max_bytes:
                break
            if path in kept:
                continue
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            removed += size
        return removed


def media_cache() -> MediaCache:
    return MediaCache(Path(settings.MEDIA_CACHE_DIR), settings.MEDIA_CACHE_MAX_MB * 1024 * 1024)


def media_local_path(name: str) -> Path:
    """A file on this machine with the stored object's bytes (see the module's doc)."""
    if storage_is_local():
        return Path(default_storage.path(name))
    return media_cache().fetch(name)


def media_workdir(relative: str) -> Path:
    """Where this machine writes the files of ``relative`` (a media folder) before
    :func:`media_publish`: the media folder itself when local, else a scratch folder."""
    if storage_is_local():
        return Path(settings.MEDIA_ROOT) / relative
    return work_root() / relative


def work_root() -> Path:
    """The local folder that stands for media's root while files are written."""
    if storage_is_local():
        return Path(settings.MEDIA_ROOT)
    return Path(settings.MEDIA_CACHE_DIR).parent / "media-work"


def media_name(path: str | Path) -> str:
    """The stored name of a file written under :func:`work_root`."""
    return Path(path).resolve().relative_to(work_root().resolve()).as_posix()


def media_publish(relative: str) -> list[str]:
    """Store every file written under ``media_workdir(relative)``; a bucket gets a copy of
    each and the scratch folder is removed. Returns the stored names."""
    folder = media_workdir(relative)
    names = sorted(
        posixpath.join(relative, path.relative_to(folder).as_posix())
        for path in folder.rglob("*")
        if path.is_file()
    )
    if storage_is_local():
        return names
    for name in names:
        # Replaced, as a local file would be: a re-delivered job writes the same names.
        default_storage.delete(name)
        with (folder / PurePosixPath(name).relative_to(relative)).open("rb") as handle:
            stored = default_storage.save(name, File(handle))
        if stored != name:
            raise OSError(f"media already holds {name}; stored as {stored} instead")
    shutil.rmtree(folder, ignore_errors=True)
    return names


def media_exists(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def scratch_dir(prefix: str) -> Path:
    """A new private folder on this machine for files that are not media."""
    return Path(tempfile.mkdtemp(prefix=prefix))
