"""Checks that an image file is safe and fit to show subjects, and thumbnails for dashboards."""

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from common.files import sha256_of

# Browsers show these formats natively; anything else would need converting, which would
# change the stimulus the database claims to have rated.
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
# RGBA is accepted and shown over the page's grey background; CMYK, 16-bit and float
# images are rejected because browsers render them inconsistently (colour shifts,
# clipping), so two subjects would not see the same stimulus.
ACCEPTED_MODES = {"RGB", "RGBA", "L", "LA", "P"}
THUMBNAIL_SIZE = 256


@dataclass(frozen=True)
class CheckedImage:
    path: Path
    sha256: str
    width: int
    height: int
    file_size: int
    mode: str
    format: str


def max_pixels() -> int:
    return int(settings.STUDY_MAX_IMAGE_PIXELS)


def image_check(path: Path) -> CheckedImage:
    """Open, verify and fully decode `path`; raise ValueError with a reason a person can act on."""
    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own limit and twice it; treat both as errors.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as probe:
                width, height = probe.size
                fmt, mode = probe.format or "", probe.mode
                if width * height > limit:
                    raise ValueError(
                        f"image is {width}x{height} = {width * height:,} pixels, over the "
                        f"limit of {limit:,} (STUDY_MAX_IMAGE_PIXELS)"
                    )
                probe.verify()
            # verify() leaves the image unusable; reopen for a full decode, which catches
            # truncated files that verify() lets through.
            with Image.open(path) as full:
                full.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"image is too large to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise ValueError("not an image Pillow can read") from None
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"unreadable or corrupt image ({exc})") from None
    if fmt not in ACCEPTED_FORMATS:
        raise ValueError(
            f"format {fmt or 'unknown'} is not accepted; use {', '.join(sorted(ACCEPTED_FORMATS))}"
        )
    if mode not in ACCEPTED_MODES:
        raise ValueError(
            f"colour mode {mode} is not accepted; convert to RGB "
            f"(accepted: {', '.join(sorted(ACCEPTED_MODES))})"
        )
    return CheckedImage(
        path=path,
        sha256=sha256_of(path),
        width=width,
        height=height,
        file_size=path.stat().st_size,
        mode=mode,
        format=fmt,
    )


def thumbnail_name(sha256: str) -> str:
    """Storage name of a stimulus thumbnail: derived from its content, so no model field."""
    return f"thumbs/{sha256[:2]}/{sha256}.jpg"


def thumbnail_bytes(path: Path, size: int = THUMBNAIL_SIZE) -> bytes:
    with Image.open(path) as image:
        image.thumbnail((size, size))
        if image.mode != "RGB":
            background = Image.new("RGB", image.size, (128, 128, 128))
            rgba = image.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            image = background
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
