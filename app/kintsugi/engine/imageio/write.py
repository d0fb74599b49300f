"""Saving an Image: format and bit depth chosen, encoded, written atomically."""

from __future__ import annotations

import errno
import logging
import os
import struct
from pathlib import Path

from kintsugi.engine.atomic import write_atomically
from kintsugi.engine.errors import (
    ImageWriteError,
)
from kintsugi.engine.imageio import jpeg_edit
from kintsugi.engine.imageio.formats import EIGHT_BIT_FORMATS, WRITE_FORMATS, format_for_path
from kintsugi.engine.imageio.image import Image
from kintsugi.engine.imageio.pillow_codecs import (
    encode_avif,
    encode_heif,
    encode_jpeg,
    encode_webp,
)
from kintsugi.engine.imageio.png import encode_png
from kintsugi.engine.imageio.tiff import encode_tiff

log = logging.getLogger(__name__)


def save_image(
    image: Image,
    path: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002 - the public API's name
    bit_depth: int | None = None,
    quality: int | None = None,
    provenance: dict[str, str] | None = None,
    edit_of: Image | None = None,
) -> Path:
    """Write `image` with its metadata, atomically; returns the path written.

    `edit_of`: the photo `image` is an edit of, at its size (a heal). Saved as JPEG over
    a JPEG original with quality None, the original's quantisation is kept and so, bit
    for bit, is every block the edit did not reach (`jpeg_edit`)."""
    dest = Path(path)
    fmt = _output_format(dest, format)
    depth = _output_bit_depth(image, fmt, bit_depth, dest)
    _refuse_source_overwrite(image, dest)
    if image.metadata.iptc and fmt not in ("JPEG", "TIFF"):
        log.info(
            "%s: %s has no place for IPTC; it is kept only as far as XMP repeats it", dest.name, fmt
        )
    encoder = {
        "PNG": encode_png,
        "TIFF": encode_tiff,
        "JPEG": encode_jpeg,
        "WEBP": encode_webp,
        "AVIF": encode_avif,
        "HEIF": encode_heif,
    }
    try:
        data = None
        if fmt == "JPEG" and edit_of is not None and quality is None:
            data = _jpeg_edit(image, edit_of, provenance)
        data = data or encoder[fmt](image, depth, quality, provenance)
    except (ValueError, OSError, TypeError, struct.error) as exc:
        raise ImageWriteError(f"{dest.name}: could not encode as {fmt} ({exc})") from None
    _write_atomically(data, dest)
    return dest


def _jpeg_edit(image: Image, edit_of: Image, provenance: dict[str, str] | None) -> bytes | None:
    original = jpeg_edit.original_jpeg(edit_of, image)
    if original is None:
        return None
    tables = (original.qtables, original.subsampling)
    encoded = encode_jpeg(image, 8, None, provenance, tables=tables)
    return jpeg_edit.keep_unchanged_blocks(encoded, original,
                                           jpeg_edit.changed_pixels(image, edit_of))


def _output_format(dest: Path, format: str | None) -> str:  # noqa: A002
    fmt = (format or format_for_path(dest) or "").upper()
    fmt = {"JPG": "JPEG", "TIF": "TIFF", "HEIC": "HEIF"}.get(fmt, fmt)
    if fmt not in WRITE_FORMATS:
        what = f"format {format!r}" if format else f"extension {dest.suffix or '(none)'!r}"
        raise ImageWriteError(
            f"{dest.name}: cannot write {what} (use .png, .jpg, .tif, .webp, .avif or .heic)"
        )
    return fmt


def _output_bit_depth(image: Image, fmt: str, bit_depth: int | None, dest: Path) -> int:
    if bit_depth is not None and bit_depth not in (8, 16):
        raise ImageWriteError(f"{dest.name}: bit depth must be 8 or 16, not {bit_depth}")
    if fmt in EIGHT_BIT_FORMATS:
        if bit_depth == 16:
            raise ImageWriteError(
                f"{dest.name}: {fmt} is 8-bit only; save as PNG or TIFF for 16-bit"
            )
        if image.bit_depth == 16:
            log.info("%s: %s is 8-bit only; writing 8-bit", dest.name, fmt)
        return 8
    return bit_depth or image.bit_depth


def _refuse_source_overwrite(image: Image, dest: Path) -> None:
    source = image.metadata.source_path
    if not source:
        return
    same = os.path.realpath(source) == os.path.realpath(dest)
    if not same and dest.exists() and Path(source).exists():
        same = os.path.samefile(source, dest)
    if same:
        raise ImageWriteError(f"{dest.name} is the original photo; Kintsugi never overwrites it")


def _write_atomically(data: bytes, dest: Path) -> None:
    """dest is whole or untouched (kintsugi.engine.atomic)."""
    folder = dest.parent
    if not folder.is_dir():
        raise ImageWriteError(f"{dest.name}: folder {folder} does not exist")
    try:
        write_atomically(dest, data)
    except OSError as exc:
        raise ImageWriteError(_write_failure(dest, exc)) from None


def _write_failure(dest: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{dest.name}: the disk is full; nothing was written"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{dest.name}: folder {dest.parent} is read-only (permission denied)"
    return f"{dest.name}: could not be written ({exc.strerror or exc})"
