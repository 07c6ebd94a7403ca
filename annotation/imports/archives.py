"""Safe extraction of an uploaded zip into a private temporary folder."""

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings

from annotation.imports.errors import ImportProblem, ImportRejected

# Defaults; deployments override them in settings.
DEFAULT_MAX_UNCOMPRESSED_BYTES = 20 * 1024**3
DEFAULT_MAX_ENTRIES = 200_000
_CHUNK = 1 << 20


def max_uncompressed_bytes() -> int:
    return int(
        getattr(settings, "STUDY_IMPORT_MAX_UNCOMPRESSED_BYTES", DEFAULT_MAX_UNCOMPRESSED_BYTES)
    )


def _entry_problem(info: zipfile.ZipInfo) -> str:
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "absolute path in the zip; entries must be relative"
    if ".." in path.parts:
        return "path leaves the extraction folder ('..'); refusing it"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link in the zip; only plain files are accepted"
    return ""


def zip_extract(*, archive: Path, dest: Path) -> Path:
    """Extract `archive` into `dest` after checking every entry; raise ImportRejected if unsafe."""
    limit = max_uncompressed_bytes()
    try:
        handle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRejected(
            [ImportProblem(0, archive.name, f"not a readable zip file ({exc})")]
        ) from None
    with handle:
        infos = handle.infolist()
        problems = [
            ImportProblem(0, info.filename, msg) for info in infos if (msg := _entry_problem(info))
        ]
        if len(infos) > DEFAULT_MAX_ENTRIES:
            problems.append(
                ImportProblem(
                    0, archive.name, f"{len(infos):,} entries; the limit is {DEFAULT_MAX_ENTRIES:,}"
                )
            )
        declared = sum(info.file_size for info in infos)
        if declared > limit:
            problems.append(
                ImportProblem(
                    0,
                    archive.name,
                    f"uncompressed size {declared:,} bytes is over the limit of {limit:,} "
                    "(STUDY_IMPORT_MAX_UNCOMPRESSED_BYTES)",
                )
            )
        if problems:
            raise ImportRejected(problems)
        # Declared sizes can lie; count the bytes actually written as well.
        written = 0
        for info in infos:
            target = dest / PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with handle.open(info) as source, target.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    written += len(chunk)
                    if written > limit:
                        out.close()
                        shutil.rmtree(dest, ignore_errors=True)
                        raise ImportRejected(
                            [
                                ImportProblem(
                                    0, archive.name, f"uncompressed data exceeds {limit:,} bytes"
                                )
                            ]
                        )
                    out.write(chunk)
    return dest
