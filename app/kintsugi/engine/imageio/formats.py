"""Which formats Kintsugi reads and writes, by name and extension, and the pixel limit."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


DEFAULT_MAX_PIXELS = 400_000_000


READ_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP", "BMP", "DIB", "GIF"})


WRITE_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP"})


DEFAULT_QUALITY = 95


PROVENANCE_KEY = "Kintsugi"


_EXTENSIONS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".dib": "BMP",
    ".gif": "GIF",
}


# Pillow opens camera JPEGs with extra pictures (MPO) through its JPEG plugin, and a
# headerless DIB (a clipboard bitmap) by its header size alone.
PIL_FORMATS = ["PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF", "DIB"]  # DIB last: its test is loose


_max_pixels_override: int | None = None


def format_for_path(path: str | os.PathLike[str]) -> str | None:
    return _EXTENSIONS.get(Path(path).suffix.lower())


def output_format_for(input_format: str | None) -> str:
    """The format to write a result in: the input's own, or PNG if it cannot be written."""
    fmt = (input_format or "").upper()
    return fmt if fmt in WRITE_FORMATS else "PNG"


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
