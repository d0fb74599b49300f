"""Opening image files: identification, size check, decoding, typed errors naming the file."""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import threading
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageFile, UnidentifiedImageError

from kintsugi.engine.errors import (
    ImageReadError,
    ImageTooLargeError,
    UnsupportedFormatError,
)
from kintsugi.engine.imageio.decode import (
    apply_orientation,
    bits_per_sample,
    opencv_decode,
    pixels_from_opencv,
    pixels_from_pillow,
    read_orientation,
    refuse_undecodable_tiff,
    source_is_gray,
    split_alpha,
    tiff_size,
)
from kintsugi.engine.imageio.formats import (
    PROVENANCE_KEY,
    effective_max_pixels,
    format_for_path,
    pillow_formats,
)
from kintsugi.engine.imageio.heif import (
    INSTALL_HINT,
    heif_readable,
    is_heif_header,
    is_hevc_header,
)
from kintsugi.engine.imageio.image import Image, Metadata
from kintsugi.engine.imageio.libraries import library_messages_to_debug
from kintsugi.engine.imageio.metadata import comment_from_exif, read_metadata

log = logging.getLogger(__name__)


_pillow_guard_lock = threading.Lock()


def open_image(path: str | os.PathLike[str], max_pixels: int | None = None) -> Image:
    """Read an image file; every failure is an ImageReadError subclass naming the file."""
    p = Path(path)
    limit = effective_max_pixels(max_pixels)
    fh = open_for_reading(p)
    with fh, library_messages_to_debug():
        try:
            pil = open_pillow(p, fh)
        except ImageReadError:
            image = _tiff_only_opencv_reads(p, limit)
            if image is None:
                raise
            return image
        with pil:
            _check_size(p, pil.size, limit)
            return _decode(p, pil)


def _tiff_only_opencv_reads(p: Path, limit: int) -> Image | None:
    """A valid TIFF that Pillow cannot open (32-bit float RGB, for one) but OpenCV decodes:
    its pixels, without its metadata. None if it is no such file."""
    data = np.fromfile(str(p), dtype=np.uint8)
    size = tiff_size(data)
    if size is None:
        return None
    _check_size(p, size, limit)
    raw = opencv_decode(data, gray_source=False)  # OpenCV applies the orientation itself
    if raw is None:
        return None
    log.warning("%s: read without its metadata (a kind of TIFF only OpenCV decodes)", p.name)
    pixels, alpha, bit_depth = split_alpha(raw, p.name)
    metadata = Metadata(source_format="TIFF", source_path=str(p.resolve()))
    return Image(pixels, alpha, metadata, bit_depth)


def sniff(path: str | os.PathLike[str]) -> str | None:
    """The format Kintsugi reads `path` as, judged by its content (not its name), or None.

    "PNG", "JPEG", "MPO" (a camera JPEG holding extra pictures), "TIFF", "WEBP", "BMP",
    "DIB" (a BMP without its file header, as on the clipboard), "GIF", "AVIF", "HEIF"
    (HEIC, through pi-heif or pillow-heif). Only the header is parsed; no
    pixel is decoded, so this is cheap enough to sort a folder by (about 0.1 ms a file).
    A file that cannot be opened, or holds something else, gives None.
    """
    try:
        with open(path, "rb") as fh, library_messages_to_debug(), _identify(fh) as pil:
            return str(pil.format)
    except Exception:  # noqa: BLE001 - any failure to identify means "not ours"
        return None


def _identify(fh: io.BufferedReader) -> ImageFile.ImageFile:
    """Pillow's lazy open (header only) among our formats, its bomb check off: ours follows."""
    prefix = fh.read(12)
    fh.seek(0)
    if is_heif_header(prefix) and not heif_readable() and is_hevc_header(prefix):
        raise UnsupportedFormatError(
            f"HEIC/HEIF needs pi-heif, part of the default install (reinstall, or {INSTALL_HINT})"
        )
    formats = pillow_formats()
    with _pillow_guard_lock:
        saved = PILImage.MAX_IMAGE_PIXELS
        PILImage.MAX_IMAGE_PIXELS = None
        try:
            return PILImage.open(fh, formats=formats)
        finally:
            PILImage.MAX_IMAGE_PIXELS = saved


def open_for_reading(p: Path) -> io.BufferedReader:
    name = p.name
    if p.is_dir():
        raise ImageReadError(f"{name} is a folder, not an image file")
    try:
        fh = open(p, "rb")  # noqa: SIM115 - closed by the caller's with-block
    except FileNotFoundError:
        where = "" if str(p.parent) == "." else f" in {p.parent}"
        raise ImageReadError(f"{name}: no such file{where}") from None
    except PermissionError:
        raise ImageReadError(f"{name}: permission denied") from None
    except OSError as exc:
        raise ImageReadError(f"{name} cannot be opened: {exc.strerror or exc}") from None
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise ImageReadError(f"{name} is empty (0 bytes)")
    return fh


def open_pillow(p: Path, fh: io.BufferedReader) -> ImageFile.ImageFile:
    """Open lazily (header only), with Pillow's own bomb check off: ours follows."""
    try:
        return _identify(fh)
    except UnsupportedFormatError as exc:
        raise UnsupportedFormatError(f"{p.name}: {exc}") from None
    except UnidentifiedImageError:
        raise _unidentified_error(p) from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise ImageReadError(f"{p.name} is damaged or not a valid image ({exc})") from None


def _unidentified_error(p: Path) -> ImageReadError:
    fmt = format_for_path(p)
    if fmt is not None:
        return ImageReadError(f"{p.name} is damaged or is not really a {fmt} file")
    kind = p.suffix.lstrip(".").upper() or "this file type"
    readable = "JPEG, PNG, TIFF, WebP, BMP, GIF, AVIF and HEIC"
    return UnsupportedFormatError(f"{p.name}: {kind} is not supported (Kintsugi reads {readable})")


def _check_size(p: Path, size: tuple[int, int], limit: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageReadError(f"{p.name} claims an empty size ({w}x{h})")
    if w * h > limit:
        raise ImageTooLargeError(
            f"{p.name} is {w}x{h} ({_megapixels(w * h)} MP); the limit is "
            f"{_megapixels(limit)} MP (set KINTSUGI_MAX_PIXELS to raise it)"
        )


def _megapixels(n: int) -> str:
    mp = n / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.1f}"


def _decode(p: Path, pil: ImageFile.ImageFile) -> Image:
    fmt = "JPEG" if pil.format == "MPO" else str(pil.format)
    frames = getattr(pil, "n_frames", 1)  # only multi-frame formats define it
    if frames > 1 and fmt != "JPEG":
        log.warning("%s has %d frames; only the first is used", p.name, frames)
    refuse_undecodable_tiff(p, pil)
    # Before the metadata: Pillow's PNG getexif() decodes the pixels and drops the tile.
    deep = bits_per_sample(pil, fmt) > 8
    gray = source_is_gray(pil, fmt)
    try:
        # Pixels first: Pillow turns TIFFs upright while loading them and then drops their
        # Orientation tag, and its PNG text/EXIF lookups decode the pixels anyway.
        icc = pil.info.get("icc_profile")
        raw = pixels_from_opencv(p, gray) if deep else None
        if raw is None:
            raw, icc = pixels_from_pillow(pil, icc)
        metadata = read_metadata(p, pil, fmt)
        metadata.icc_profile = bytes(icc) if icc else None
        upright = apply_orientation(raw, read_orientation(pil))
        pixels, alpha, bit_depth = split_alpha(upright, p.name)
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, MemoryError) as exc:
        raise ImageReadError(_damage(p.name, exc)) from None
    return Image(pixels, alpha, metadata, bit_depth)


def _damage(name: str, exc: BaseException) -> str:
    # Pillow's "image file is truncated (61 bytes not processed)" counts the bytes left in
    # its decoder's buffer, not what is missing: a JPEG missing 8 KB said "2 bytes".
    if str(exc).startswith("image file is truncated"):
        return f"{name} is truncated: its image data ends early (the end of the file is missing)"
    return f"{name} is truncated or damaged ({exc})"


def read_provenance(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """The provenance note Kintsugi wrote into a file, or None."""
    p = Path(path)
    with open_for_reading(p) as fh, library_messages_to_debug(), open_pillow(p, fh) as pil:
        note = getattr(pil, "text", {}).get(PROVENANCE_KEY) if pil.format == "PNG" else None
        if note is None:
            note = comment_from_exif(pil)
    if not note:
        return None
    try:
        parsed = json.loads(note)
    except ValueError:
        return None
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else None
