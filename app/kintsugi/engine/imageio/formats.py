"""Which formats Kintsugi reads and writes, by name and extension, and the pixel limit."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


DEFAULT_MAX_PIXELS = 400_000_000
READ_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP", "BMP", "DIB", "GIF", "AVIF", "HEIF"})
WRITE_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP", "AVIF", "HEIF"})
# A result is written in its source's format when that is one of these, else as PNG
# (HEIC and AVIF only on request: few programs open them yet).
_KEPT_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP"})
EXTENSION_FOR = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "TIFF": ".tif",
    "WEBP": ".webp",
    "AVIF": ".avif",
    "HEIF": ".heic",
}
# 8 bits per sample, whatever the image: asking these for 16 is an error.
EIGHT_BIT_FORMATS = frozenset({"JPEG", "WEBP", "AVIF", "HEIF"})
DEFAULT_QUALITY = 95
PROVENANCE_KEY = "Kintsugi"
_EXTENSIONS = {
    ".png": "PNG",
    ".apng": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".mpo": "JPEG",  # a camera JPEG with extra pictures (stereo, depth)
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".dib": "BMP",
    ".gif": "GIF",
    ".avif": "AVIF",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".hif": "HEIF",
}


# Pillow opens camera JPEGs with extra pictures (MPO) through its JPEG plugin, and a
# headerless DIB (a clipboard bitmap) by its header size alone: DIB goes last. AVIF comes
# before HEIF: for a generic "mif1" file, Pillow's AVIF plugin declines what is not AV1.
_PIL_FORMATS = ["PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF", "AVIF", "HEIF", "DIB"]


def pillow_formats() -> list[str]:
    """Pillow's format ids to try when opening, less the optional ones not installed."""
    from PIL import Image as PILImage

    if "AVIF" not in PILImage.OPEN:
        PILImage.init()  # what Image.open would do itself for a TIFF or WebP
    return [f for f in _PIL_FORMATS if f in PILImage.OPEN]


_max_pixels_override: int | None = None


def format_for_path(path: str | os.PathLike[str]) -> str | None:
    return _EXTENSIONS.get(Path(path).suffix.lower())


def output_format_for(input_format: str | None) -> str:
    """The format to write a result in by default: the input's own if it is PNG, JPEG,
    TIFF or WebP, else PNG."""
    fmt = (input_format or "").upper()
    return fmt if fmt in _KEPT_FORMATS else "PNG"


def set_max_pixels(n: int | None) -> None:
    """Override the pixel limit for this process (None goes back to env/default)."""
    global _max_pixels_override
    if n is not None and n <= 0:
        raise ValueError("max_pixels must be positive")
    _max_pixels_override = n


def effective_max_pixels(max_pixels: int | None) -> int:
    if max_pixels is not None:
        return max_pixels
    if _max_pixels_override is not None:
        return _max_pixels_override
    env = os.environ.get("KINTSUGI_MAX_PIXELS")
    if env:
        try:
            return int(float(env))
        except ValueError:
            log.warning("ignoring KINTSUGI_MAX_PIXELS=%r: not a number", env)
    return DEFAULT_MAX_PIXELS
