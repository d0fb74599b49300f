"""Image files in and out, keeping everything a photographer cares about.

Reading gives an `Image`: float32 pixels in [0, 1] (gray or RGB, upright: the EXIF
orientation is applied), alpha kept apart, and `Metadata` (ICC profile, EXIF with
Orientation reset to 1, XMP, text, DPI). Writing puts all of it back.

Decisions (see tests/engine/test_imageio.py for each):
- 8-bit files are decoded by Pillow; files with more than 8 bits per sample by OpenCV
  (Pillow truncates 16-bit RGB to 8 bits). Pillow always reads the metadata.
- PNG and TIFF are written by the small encoders below (numpy + zlib, metadata
  chunks/tags written by us), so 8 and 16 bits, gray, RGB and alpha share one path.
  JPEG and WebP are written by Pillow.
- JPEG and WebP are 8-bit only: an explicit bit_depth=16 raises ImageWriteError; a
  16-bit image saved there with bit_depth=None is written as 8-bit (info log).
- JPEG has no alpha: a transparent image is composited over white (warning logged).
- WebP has no gray: gray is written as RGB (the gray ICC profile is then dropped).
- An ICC profile whose colour space does not match the pixels is dropped (warning).
- A CMYK source is converted to RGB through its ICC profile when it has one; the CMYK
  profile is dropped either way (the pixels are no longer CMYK).
- Pillow's decompression-bomb check is replaced by ours (max_pixels), checked from the
  header before any pixel is decoded.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import struct
import tempfile
import threading
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageFile, TiffImagePlugin, TiffTags, UnidentifiedImageError

from kintsugi.engine.errors import (
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    UnsupportedFormatError,
)

log = logging.getLogger(__name__)
# OpenCV prints its own decoder warnings to stderr; Kintsugi reports failures as typed errors.
_cv_logging = getattr(getattr(cv2, "utils", None), "logging", None)
if _cv_logging is not None:
    _cv_logging.setLogLevel(_cv_logging.LOG_LEVEL_ERROR)

DEFAULT_MAX_PIXELS = 400_000_000
READ_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF"})
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
# Pillow opens camera JPEGs with extra pictures (MPO) through its JPEG plugin.
_PIL_FORMATS = ["PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF"]

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005
_ORIENTATION = 0x0112
_SOFTWARE = 0x0131
_USER_COMMENT = 0x9286
_PIXEL_X_DIMENSION = 0xA002
_PIXEL_Y_DIMENSION = 0xA003
_ASCII_COMMENT_PREFIX = b"ASCII\x00\x00\x00"
# TIFF tags that describe a file's layout rather than the photo: never copied
# between files (a TIFF source's first IFD doubles as its EXIF IFD0).
_STRUCTURAL_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284}
    | {290, 291, 292, 293, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347}
    | set(range(512, 522))
    | {529, 530, 532, 700, 34377, 34675, 37724, 50838, 50839}
)

_max_pixels_override: int | None = None
_pillow_guard_lock = threading.Lock()


# ----------------------------------------------------------------------------- data


@dataclass
class Metadata:
    icc_profile: bytes | None = None
    exif: bytes | None = None  # b"Exif\0\0" + TIFF-structured block, Orientation = 1
    xmp: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)
    source_format: str | None = None
    source_path: str | None = None
    dpi: tuple[float, float] | None = None


_KEEP: Any = object()


@dataclass
class Image:
    pixels: np.ndarray
    alpha: np.ndarray | None
    metadata: Metadata
    bit_depth: int

    def __post_init__(self) -> None:
        p = self.pixels
        if p.ndim != 3 or p.shape[2] not in (1, 3) or p.dtype != np.float32:
            raise ValueError(f"pixels must be float32 HxWx1 or HxWx3, got {p.dtype} {p.shape}")
        if self.alpha is not None:
            a = self.alpha
            if a.shape != p.shape[:2] or a.dtype != np.float32:
                raise ValueError(f"alpha must be float32 {p.shape[:2]}, got {a.dtype} {a.shape}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {self.bit_depth}")

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def is_gray(self) -> bool:
        return self.channels == 1

    @classmethod
    def from_array(cls, arr: np.ndarray, bit_depth: int | None = None) -> Image:
        """uint8 / uint16 / float (taken as [0, 1]); HxW, HxWx1/2/3/4 (last of 2/4 = alpha)."""
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
            raise ValueError(f"expected HxW or HxWx1/2/3/4, got shape {arr.shape}")
        values = _to_float(arr)
        if bit_depth is None:
            bit_depth = 16 if arr.dtype == np.uint16 else 8
        has_alpha = arr.shape[2] in (2, 4)
        pixels = values[:, :, :-1] if has_alpha else values
        alpha = values[:, :, -1] if has_alpha else None
        return cls(np.ascontiguousarray(pixels), _contiguous(alpha), Metadata(), bit_depth)

    def replace(self, pixels: np.ndarray = _KEEP, alpha: np.ndarray | None = _KEEP) -> Image:
        """A new Image sharing this one's metadata and bit depth."""
        new_pixels = self.pixels if pixels is _KEEP else pixels
        new_alpha = self.alpha if alpha is _KEEP else alpha
        return Image(new_pixels, new_alpha, self.metadata, self.bit_depth)

    def to_uint(self, bit_depth: int) -> np.ndarray:
        """HxWxC (+1 alpha channel) as uint8 or uint16, rounded to nearest.

        Converted in bands of rows so a 50 MP result needs no full-size float temporaries.
        """
        if bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
        top = np.float32(255 if bit_depth == 8 else 65535)
        channels = self.channels + (self.alpha is not None)
        out = np.empty((self.height, self.width, channels), np.uint8 if bit_depth == 8 else np.uint16)
        for r0 in range(0, self.height, _BAND_ROWS):
            r1 = min(self.height, r0 + _BAND_ROWS)
            out[r0:r1, :, : self.channels] = _quantize(self.pixels[r0:r1], top)
            if self.alpha is not None:
                out[r0:r1, :, -1] = _quantize(self.alpha[r0:r1], top)
        return out


_BAND_ROWS = 256


def _quantize(values: np.ndarray, top: np.float32) -> np.ndarray:
    band = np.clip(values, 0.0, 1.0) * top
    return np.rint(band, out=band)


def _to_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(65535)
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(arr, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"unsupported pixel type {arr.dtype}")


def _contiguous(arr: np.ndarray | None) -> np.ndarray | None:
    return None if arr is None else np.ascontiguousarray(arr)


# -------------------------------------------------------------------------- formats


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


def _effective_max_pixels(max_pixels: int | None) -> int:
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


# -------------------------------------------------------------------------- reading


def open_image(path: str | os.PathLike[str], max_pixels: int | None = None) -> Image:
    """Read an image file; every failure is an ImageReadError subclass naming the file."""
    p = Path(path)
    fh = _open_for_reading(p)
    with fh:
        pil = _open_pillow(p, fh)
        with pil:
            _check_size(p, pil.size, _effective_max_pixels(max_pixels))
            return _decode(p, pil)


def sniff(path: str | os.PathLike[str]) -> str | None:
    """The format Kintsugi reads `path` as, judged by its content (not its name), or None.

    "PNG", "JPEG", "MPO" (a camera JPEG holding extra pictures), "TIFF", "WEBP", "BMP",
    "GIF". Only the header is parsed; no pixel is decoded, so this is cheap enough to sort
    a folder by. A file that cannot be opened, or holds something else, gives None.
    """
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a sniff reports nothing; open_image will
            with _identify(fh) as pil:
                return str(pil.format)
    except Exception:  # noqa: BLE001 - any failure to identify means "not ours"
        return None


def _identify(fh: io.BufferedReader) -> ImageFile.ImageFile:
    """Pillow's lazy open (header only) among our formats, its bomb check off: ours follows."""
    with _pillow_guard_lock:
        saved = PILImage.MAX_IMAGE_PIXELS
        PILImage.MAX_IMAGE_PIXELS = None
        try:
            return PILImage.open(fh, formats=_PIL_FORMATS)
        finally:
            PILImage.MAX_IMAGE_PIXELS = saved


def _open_for_reading(p: Path) -> io.BufferedReader:
    name = p.name
    if p.is_dir():
        raise ImageReadError(f"{name} is a folder, not an image file")
    try:
        fh = open(p, "rb")  # noqa: SIM115 - closed by the caller's with-block
    except FileNotFoundError:
        raise ImageReadError(f"{name} does not exist ({p.parent})") from None
    except PermissionError:
        raise ImageReadError(f"{name}: permission denied") from None
    except OSError as exc:
        raise ImageReadError(f"{name} cannot be opened: {exc.strerror or exc}") from None
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise ImageReadError(f"{name} is empty (0 bytes)")
    return fh


def _open_pillow(p: Path, fh: io.BufferedReader) -> ImageFile.ImageFile:
    """Open lazily (header only), with Pillow's own bomb check off: ours follows."""
    try:
        return _identify(fh)
    except UnidentifiedImageError:
        raise _unidentified_error(p) from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise ImageReadError(f"{p.name} is damaged or not a valid image ({exc})") from None


def _unidentified_error(p: Path) -> ImageReadError:
    fmt = format_for_path(p)
    if fmt is not None:
        return ImageReadError(f"{p.name} is damaged or is not really a {fmt} file")
    kind = p.suffix.lstrip(".").upper() or "this file type"
    readable = "JPEG, PNG, TIFF, WebP, BMP and GIF"
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
    # Before the metadata: Pillow's PNG getexif() decodes the pixels and drops the tile.
    deep = _bits_per_sample(pil, fmt) > 8
    gray = _source_is_gray(pil, fmt)
    try:
        # Pixels first: Pillow turns TIFFs upright while loading them and then drops their
        # Orientation tag, and its PNG text/EXIF lookups decode the pixels anyway.
        if deep:
            pixels, alpha = _pixels_from_opencv(p, gray)
            icc = pil.info.get("icc_profile")
            bit_depth = 16
        else:
            pixels, alpha, icc = _pixels_from_pillow(pil, pil.info.get("icc_profile"))
            bit_depth = 8
        metadata = _read_metadata(p, pil, fmt)
        metadata.icc_profile = bytes(icc) if icc else None
        orientation = _orientation(pil)
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, MemoryError) as exc:
        raise ImageReadError(f"{p.name} is truncated or damaged ({exc})") from None
    pixels = _apply_orientation(pixels, orientation)
    alpha = None if alpha is None else _apply_orientation(alpha[:, :, None], orientation)[:, :, 0]
    return Image(pixels, alpha, metadata, bit_depth)


def _bits_per_sample(pil: ImageFile.ImageFile, fmt: str) -> int:
    if fmt == "PNG":
        rawmode = pil.tile[0][3] if pil.tile else ""
        return 16 if isinstance(rawmode, str) and ";16" in rawmode else 8
    if fmt == "TIFF" and isinstance(pil, TiffImagePlugin.TiffImageFile):
        bits = pil.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return max(int(b) for b in bits)
    return 8


def _source_is_gray(pil: ImageFile.ImageFile, fmt: str) -> bool:
    if fmt == "TIFF" and isinstance(pil, TiffImagePlugin.TiffImageFile):
        return pil.tag_v2.get(262) in (0, 1)
    rawmode = pil.tile[0][3] if fmt == "PNG" and pil.tile else None
    if isinstance(rawmode, str):
        return rawmode.startswith(("L", "I", "1"))
    return pil.mode in ("1", "L", "LA", "La", "I", "F") or pil.mode.startswith("I;16")


def _pixels_from_pillow(
    pil: PILImage.Image, icc: bytes | None
) -> tuple[np.ndarray, np.ndarray | None, bytes | None]:
    pil.load()  # LOAD_TRUNCATED_IMAGES stays False: a truncated file raises here
    pil, icc = _to_plain_mode(pil, icc)
    arr = np.asarray(pil)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    values = _to_float(arr) if arr.dtype != np.int32 else _to_float(arr.astype(np.uint16))
    if arr.shape[2] in (2, 4):
        return np.ascontiguousarray(values[:, :, :-1]), values[:, :, -1].copy(), icc
    return values, None, icc


def _to_plain_mode(pil: PILImage.Image, icc: bytes | None) -> tuple[PILImage.Image, bytes | None]:
    """One of L, LA, RGB, RGBA (or I;16 / F for deep gray), and the ICC that fits it."""
    mode = pil.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I;16", "F") and "transparency" not in pil.info:
        return pil, icc
    if mode == "CMYK":
        return _cmyk_to_rgb(pil, icc), None
    if mode == "1":
        return pil.convert("L"), icc
    if mode in ("La", "PA") or (mode == "L" and "transparency" in pil.info):
        return pil.convert("LA") if mode != "PA" else pil.convert("RGBA"), icc
    if mode.startswith("I;16"):
        return pil.convert("I;16"), icc
    if mode == "I":
        return pil, icc
    has_alpha = "transparency" in pil.info or mode in ("RGBa", "RGBA")
    return pil.convert("RGBA" if has_alpha else "RGB"), icc if _icc_space(icc) == "RGB" else None


def _cmyk_to_rgb(pil: PILImage.Image, icc: bytes | None) -> PILImage.Image:
    if icc is not None and _icc_space(icc) == "CMYK":
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            converted = ImageCms.profileToProfile(pil, src, dst, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError) as exc:
            log.warning("CMYK profile unusable (%s); converting without it", exc)
    return pil.convert("RGB")


def _pixels_from_opencv(p: Path, gray_source: bool) -> tuple[np.ndarray, np.ndarray | None]:
    data = np.fromfile(str(p), dtype=np.uint8)  # imdecode: no trouble with non-ASCII paths
    if data[:2].tobytes() in (b"II", b"MM"):
        _neutralise_tiff_orientation(data)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise OSError("OpenCV could not decode it")
    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"{arr.dtype} samples are not supported")
    if arr.ndim == 2:
        return _to_float(arr[:, :, None]), None
    alpha = _to_float(arr[:, :, 3]) if arr.shape[2] == 4 else None
    if gray_source:
        color = arr[:, :, :1]
    else:
        color = cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(_to_float(color)), alpha


def _neutralise_tiff_orientation(data: np.ndarray) -> None:
    """Set a TIFF's Orientation to 1 in memory: OpenCV would apply it, and so do we."""
    order = "<" if data[:2].tobytes() == b"II" else ">"
    buf = data.data  # the array's own buffer: packing into it edits ``data`` in place
    try:
        magic, offset = struct.unpack_from(order + "HI", buf, 2)
        if magic != 42:  # BigTIFF keeps its offsets elsewhere; OpenCV rarely reads it anyway
            return
        (count,) = struct.unpack_from(order + "H", buf, offset)
        for entry in range(offset + 2, offset + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from(order + "HH", buf, entry)
            if tag == _ORIENTATION and kind == 3:  # SHORT, stored in the entry itself
                struct.pack_into(order + "H", buf, entry + 8, 1)
    except struct.error:
        return  # damaged: the decoder will say so


def _orientation(pil: PILImage.Image) -> int:
    try:
        value = int(pil.getexif().get(_ORIENTATION, 1))
    except (TypeError, ValueError, SyntaxError, struct.error, OSError):
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright, as a viewer honouring the EXIF Orientation tag shows them."""
    turned = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }[orientation](arr)
    return np.ascontiguousarray(turned)


# ------------------------------------------------------------------------- metadata


def _read_metadata(p: Path, pil: ImageFile.ImageFile, fmt: str) -> Metadata:
    info = pil.info
    icc = info.get("icc_profile") or None
    return Metadata(
        icc_profile=bytes(icc) if icc else None,
        exif=_source_exif(pil),
        xmp=_as_bytes(info.get("xmp")),
        text=_source_text(pil),
        source_format=fmt,
        source_path=str(p.resolve()),
        dpi=_source_dpi(info),
    )


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)) and value:
        return bytes(value)
    return None


def _source_exif(pil: ImageFile.ImageFile) -> bytes | None:
    try:
        exif = pil.getexif()
        if not exif and not exif.get_ifd(_EXIF_IFD) and not exif.get_ifd(_GPS_IFD):
            return None
        clean = _clean_exif(exif)
        if len(clean) == 0:
            return None
        return clean.tobytes()
    except Exception as exc:  # noqa: BLE001 - damaged EXIF must not stop the photo
        log.warning("EXIF of %s is damaged and was dropped (%s)", pil.filename or "image", exc)
        return None


def _clean_exif(exif: PILImage.Exif) -> PILImage.Exif:
    """A fresh Exif with the photo's tags, sub-IFDs as dicts, Orientation = 1."""
    clean = PILImage.Exif()
    for tag, value in exif.items():
        if tag not in _STRUCTURAL_TAGS and tag not in (_EXIF_IFD, _GPS_IFD):
            clean[tag] = value
    exif_ifd = dict(exif.get_ifd(_EXIF_IFD))
    if _INTEROP_IFD in exif_ifd:
        exif_ifd[_INTEROP_IFD] = dict(exif.get_ifd(_INTEROP_IFD))
    if exif_ifd:
        clean[_EXIF_IFD] = exif_ifd
    gps = dict(exif.get_ifd(_GPS_IFD))
    if gps:
        clean[_GPS_IFD] = gps
    if _ORIENTATION in exif or len(clean):
        clean[_ORIENTATION] = 1
    return clean


def _source_text(pil: PILImage.Image) -> dict[str, str]:
    text: dict[str, str] = {}
    for key, value in (getattr(pil, "text", None) or {}).items():
        if isinstance(value, str) and key != "XML:com.adobe.xmp":
            text[str(key)] = value
    comment = pil.info.get("comment")
    if isinstance(comment, bytes) and comment:
        text.setdefault("Comment", comment.decode("utf-8", "replace"))
    return text


def _source_dpi(info: Mapping[str | tuple[int, int], Any]) -> tuple[float, float] | None:
    dpi = info.get("dpi")
    if dpi is None:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    # PNG stores dots per metre: 300 dpi reads back as 299.9994
    return (round(x, 2), round(y, 2)) if x > 0 and y > 0 else None


def _icc_space(icc: bytes | None) -> str | None:
    """'RGB', 'GRAY', 'CMYK'... from the ICC header's colour-space field."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("ascii", "replace").strip()


def _output_exif(image: Image, provenance: Mapping[str, str] | None) -> bytes | None:
    """The EXIF to write: the source's, Orientation 1, size and provenance updated."""
    raw = image.metadata.exif
    if raw is None and not provenance:
        return None
    exif = PILImage.Exif()
    if raw:
        exif.load(raw)
    exif = _clean_exif(exif)
    exif[_ORIENTATION] = 1
    exif_ifd = dict(exif.get(_EXIF_IFD, {}))
    if _PIXEL_X_DIMENSION in exif_ifd or _PIXEL_Y_DIMENSION in exif_ifd:
        exif_ifd[_PIXEL_X_DIMENSION] = image.width
        exif_ifd[_PIXEL_Y_DIMENSION] = image.height
    if provenance:
        if "software" in provenance:
            exif[_SOFTWARE] = str(provenance["software"])
        exif_ifd[_USER_COMMENT] = _ASCII_COMMENT_PREFIX + _provenance_json(provenance).encode()
    if exif_ifd:
        exif[_EXIF_IFD] = exif_ifd
    return exif.tobytes()


def _provenance_json(provenance: Mapping[str, str]) -> str:
    return json.dumps({str(k): str(v) for k, v in provenance.items()}, sort_keys=True)


def _output_xmp(xmp: bytes | None) -> bytes | None:
    """XMP with any tiff:Orientation set to 1 (the pixels are upright now)."""
    if not xmp:
        return None
    xmp = re.sub(rb'(tiff:Orientation\s*=\s*["\'])\d(["\'])', rb"\g<1>1\g<2>", xmp)
    return re.sub(rb"(<tiff:Orientation>\s*)\d(\s*</tiff:Orientation>)", rb"\g<1>1\g<2>", xmp)


def _output_icc(image: Image, channels: int) -> bytes | None:
    icc = image.metadata.icc_profile
    wanted = "GRAY" if channels == 1 else "RGB"
    space = _icc_space(icc)
    if icc and space != wanted:
        log.warning("ICC profile (%s) does not fit %s pixels; not written", space, wanted)
        return None
    return icc


def read_provenance(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """The provenance note Kintsugi wrote into a file, or None."""
    p = Path(path)
    with _open_for_reading(p) as fh, _open_pillow(p, fh) as pil:
        note = getattr(pil, "text", {}).get(PROVENANCE_KEY) if pil.format == "PNG" else None
        if note is None:
            note = _comment_from_exif(pil)
    if not note:
        return None
    try:
        parsed = json.loads(note)
    except ValueError:
        return None
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else None


def _comment_from_exif(pil: PILImage.Image) -> str | None:
    comment = pil.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    if isinstance(comment, bytes):
        comment = comment[len(_ASCII_COMMENT_PREFIX) :].decode("utf-8", "replace")
    if isinstance(comment, str) and comment.lstrip().startswith("{"):
        return comment.strip("\x00 ")
    return None


# -------------------------------------------------------------------------- writing


def save_image(
    image: Image,
    path: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002 - the public API's name
    bit_depth: int | None = None,
    quality: int | None = None,
    provenance: dict[str, str] | None = None,
) -> Path:
    """Write `image` with its metadata, atomically; returns the path written."""
    dest = Path(path)
    fmt = _output_format(dest, format)
    depth = _output_bit_depth(image, fmt, bit_depth, dest)
    _refuse_source_overwrite(image, dest)
    encoder = {"PNG": _encode_png, "TIFF": _encode_tiff, "JPEG": _encode_jpeg, "WEBP": _encode_webp}
    try:
        data = encoder[fmt](image, depth, quality, provenance)
    except (ValueError, OSError, TypeError, struct.error) as exc:
        raise ImageWriteError(f"{dest.name}: could not encode as {fmt} ({exc})") from None
    _write_atomically(data, dest)
    return dest


def _output_format(dest: Path, format: str | None) -> str:  # noqa: A002
    fmt = (format or format_for_path(dest) or "").upper()
    fmt = {"JPG": "JPEG", "TIF": "TIFF"}.get(fmt, fmt)
    if fmt not in WRITE_FORMATS:
        what = f"format {format!r}" if format else f"extension {dest.suffix or '(none)'!r}"
        raise ImageWriteError(f"{dest.name}: cannot write {what} (use .png, .jpg, .tif or .webp)")
    return fmt


def _output_bit_depth(image: Image, fmt: str, bit_depth: int | None, dest: Path) -> int:
    if bit_depth is not None and bit_depth not in (8, 16):
        raise ImageWriteError(f"{dest.name}: bit depth must be 8 or 16, not {bit_depth}")
    if fmt in ("JPEG", "WEBP"):
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


def _process_umask() -> int:
    # Read once at import (single-threaded then): os.umask can only be read by setting it.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_process_umask()  # what open() would give; mkstemp alone gives 0600


def _write_atomically(data: bytes, dest: Path) -> None:
    """A temp file beside dest, then os.replace: dest is whole or untouched."""
    folder = dest.parent
    if not folder.is_dir():
        raise ImageWriteError(f"{dest.name}: folder {folder} does not exist")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        tmp = None
    except OSError as exc:
        raise ImageWriteError(_write_failure(dest, exc)) from None
    finally:
        if tmp is not None:
            _remove_quietly(tmp)


def _write_failure(dest: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{dest.name}: the disk is full; nothing was written"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{dest.name}: folder {dest.parent} is read-only (permission denied)"
    return f"{dest.name}: could not be written ({exc.strerror or exc})"


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        log.warning("could not remove temporary file %s", path)


# ------------------------------------------------------------------- PNG encoder


def _encode_png(
    image: Image, depth: int, quality: int | None, provenance: Mapping[str, str] | None
) -> bytes:
    planes = image.to_uint(depth)
    h, w, n = planes.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[n]
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))]
    chunks += _png_metadata_chunks(image, provenance, n)
    idat = _png_idat(planes, depth)
    for start in range(0, len(idat), 1 << 20):
        chunks.append(_png_chunk(b"IDAT", idat[start : start + (1 << 20)]))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png_metadata_chunks(
    image: Image, provenance: Mapping[str, str] | None, planes: int
) -> list[bytes]:
    meta = image.metadata
    chunks = []
    icc = _output_icc(image, 1 if planes <= 2 else 3)
    if icc:
        chunks.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    if meta.dpi:
        ppm = [max(1, round(d / 0.0254)) for d in meta.dpi]
        chunks.append(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    exif = _output_exif(image, provenance)
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")))
    xmp = _output_xmp(meta.xmp)
    if xmp:
        chunks.append(_png_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"), False))
    for key, value in _png_text_entries(meta.text, provenance):
        chunks.append(_png_text_chunk(key, value))
    return chunks


def _png_text_entries(
    text: Mapping[str, str], provenance: Mapping[str, str] | None
) -> list[tuple[str, str]]:
    # ImageMagick's hex EXIF copies would carry the old orientation: eXIf replaces them.
    skip = {PROVENANCE_KEY, "XML:com.adobe.xmp"}
    entries = [
        (k, v) for k, v in text.items() if k not in skip and not k.startswith("Raw profile type")
    ]
    if provenance:
        if "software" in provenance:
            entries = [(k, v) for k, v in entries if k != "Software"]
            entries.append(("Software", str(provenance["software"])))
        entries.append((PROVENANCE_KEY, _provenance_json(provenance)))
    return entries


def _png_text_chunk(key: str, value: str) -> bytes:
    keyword = key.encode("latin-1", "replace")[:79] or b"Comment"
    try:
        body = value.encode("latin-1")
    except UnicodeEncodeError:
        return _png_itxt(keyword.decode("latin-1"), value, len(value) > 1024)
    if len(body) > 1024:
        return _png_chunk(b"zTXt", keyword + b"\x00\x00" + zlib.compress(body))
    return _png_chunk(b"tEXt", keyword + b"\x00" + body)


def _png_itxt(key: str, value: str, compress: bool) -> bytes:
    body = value.encode("utf-8")
    if compress:
        body = zlib.compress(body)
    head = key.encode("latin-1", "replace")[:79] + b"\x00" + bytes([int(compress), 0])
    return _png_chunk(b"iTXt", head + b"\x00\x00" + body)


def _png_idat(planes: np.ndarray, depth: int) -> bytes:
    h, w, n = planes.shape
    if depth == 16:
        planes = planes.astype(">u2")
    rows = planes.view(np.uint8).reshape(h, -1)
    bpp = n * depth // 8
    compressor = zlib.compressobj(6)
    out = []
    step = max(1, (1 << 18) // max(1, rows.shape[1]))  # small blocks stay in cache: 4x faster
    for start in range(0, h, step):
        above = rows[start - 1 : start] if start else np.zeros_like(rows[:1])
        block = _png_filter_rows(rows[start : start + step], above, bpp)
        out.append(compressor.compress(block.tobytes()))
    out.append(compressor.flush())
    return b"".join(out)


def _png_filter_rows(raw: np.ndarray, above_first: np.ndarray, bpp: int) -> np.ndarray:
    """Each row gets the PNG filter (None/Sub/Up/Paeth) with the smallest residuals.

    All predictors use the unfiltered neighbours, so whole blocks are filtered at once.
    """
    up = np.concatenate([above_first, raw[:-1]]).astype(np.int16)
    cur = raw.astype(np.int16)
    left = np.zeros_like(cur)
    left[:, bpp:] = cur[:, :-bpp]
    up_left = np.zeros_like(cur)
    up_left[:, bpp:] = up[:, :-bpp]
    pa, pb, pc = np.abs(up - up_left), np.abs(left - up_left), np.abs(left + up - 2 * up_left)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    candidates = np.stack([cur, cur - left, cur - up, cur - paeth]).astype(np.uint8)
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
    choice = np.argmin(cost, axis=0)
    filter_ids = np.array([0, 1, 2, 4], dtype=np.uint8)[choice]
    chosen = candidates[choice, np.arange(raw.shape[0])]
    return np.concatenate([filter_ids[:, None], chosen], axis=1)


# ------------------------------------------------------------------ TIFF encoder


def _encode_tiff(
    image: Image, depth: int, quality: int | None, provenance: Mapping[str, str] | None
) -> bytes:
    """Baseline TIFF, Deflate + horizontal predictor, one IFD holding all metadata."""
    planes = image.to_uint(depth)
    if planes.shape[2] == 2 and depth == 16:
        # Pillow cannot open 16-bit gray+alpha TIFFs (so neither could we): write RGBA.
        planes = planes[:, :, [0, 0, 0, 1]]
    h, w, n = planes.shape
    strips, counts, rows_per_strip = _tiff_strips(planes)
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    _tiff_photo_tags(ifd, image, provenance, n)
    layout = {256: w, 257: h, 258: (depth,) * n, 259: 8, 262: 1 if n <= 2 else 2}
    layout |= {277: n, 278: rows_per_strip, 284: 1, 317: 2, 339: (1,) * n}
    for tag, value in layout.items():
        ifd[tag] = value
    if n in (2, 4):
        ifd[338] = 2  # unassociated alpha
    offsets = np.concatenate([[0], np.cumsum(counts[:-1])]).astype(int)
    ifd[273] = tuple(int(o) for o in offsets)  # relative: Pillow adds the IFD's end
    ifd[279] = tuple(int(c) for c in counts)
    ifd.tagtype[273] = ifd.tagtype[279] = TiffTags.LONG
    return b"II*\x00" + struct.pack("<I", 8) + ifd.tobytes(8) + b"".join(strips)


def _tiff_strips(planes: np.ndarray) -> tuple[list[bytes], list[int], int]:
    h, w, n = planes.shape
    predicted = planes.copy()
    predicted[:, 1:] -= planes[:, :-1]  # horizontal differencing, wraps like the decoder
    little = predicted.astype(predicted.dtype.newbyteorder("<"))
    row_bytes = w * n * planes.dtype.itemsize
    rows_per_strip = max(1, (1 << 18) // row_bytes)
    strips = [
        zlib.compress(little[top : top + rows_per_strip].tobytes(), 6)
        for top in range(0, h, rows_per_strip)
    ]
    return strips, [len(s) for s in strips], rows_per_strip


def _tiff_photo_tags(
    ifd: TiffImagePlugin.ImageFileDirectory_v2,
    image: Image,
    provenance: Mapping[str, str] | None,
    planes: int,
) -> None:
    meta = image.metadata
    exif_bytes = _output_exif(image, provenance)
    if exif_bytes:
        exif = PILImage.Exif()
        exif.load(exif_bytes)
        for tag, value in exif.items():
            if tag not in _STRUCTURAL_TAGS:
                ifd[tag] = exif.get_ifd(tag) if tag in (_EXIF_IFD, _GPS_IFD) else value
        if _EXIF_IFD in exif:
            ifd[_EXIF_IFD] = _with_interop(exif)
    icc = _output_icc(image, 1 if planes <= 2 else 3)
    if icc:
        ifd[34675] = icc
        ifd.tagtype[34675] = TiffTags.UNDEFINED
    xmp = _output_xmp(meta.xmp)
    if xmp:
        ifd[700] = xmp
        ifd.tagtype[700] = TiffTags.BYTE
    if meta.dpi:
        ifd[282] = Fraction(meta.dpi[0]).limit_denominator(10000)
        ifd[283] = Fraction(meta.dpi[1]).limit_denominator(10000)
        ifd[296] = 2


def _with_interop(exif: PILImage.Exif) -> dict[int, Any]:
    sub = dict(exif.get_ifd(_EXIF_IFD))
    if _INTEROP_IFD in sub:
        sub[_INTEROP_IFD] = dict(exif.get_ifd(_INTEROP_IFD))
    return sub


# ------------------------------------------------------------ JPEG / WebP (Pillow)


def _pillow_rgb(image: Image, fmt: str) -> PILImage.Image:
    """8-bit Pillow image for JPEG (no alpha) or WebP (no gray)."""
    pixels, alpha = image.pixels, image.alpha
    if fmt == "JPEG" and alpha is not None:
        if float(alpha.min()) < 1.0:
            log.warning("JPEG has no transparency: composited over white")
            pixels = pixels * alpha[:, :, None] + (1.0 - alpha[:, :, None])
        alpha = None
    if fmt == "WEBP" and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    flat = Image(np.ascontiguousarray(pixels, dtype=np.float32), alpha, image.metadata, 8)
    arr = flat.to_uint(8)
    return PILImage.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def _pillow_metadata(
    image: Image, pil: PILImage.Image, provenance: Mapping[str, str] | None
) -> dict[str, Any]:
    meta = image.metadata
    params: dict[str, Any] = {}
    icc = _output_icc(image, 1 if pil.mode == "L" else 3)
    exif = _output_exif(image, provenance)
    xmp = _output_xmp(meta.xmp)
    for key, value in (("icc_profile", icc), ("exif", exif), ("xmp", xmp)):
        if value:
            params[key] = value
    if meta.dpi:
        params["dpi"] = meta.dpi
    return params


def _encode_jpeg(
    image: Image, depth: int, quality: int | None, provenance: Mapping[str, str] | None
) -> bytes:
    pil = _pillow_rgb(image, "JPEG")
    q = DEFAULT_QUALITY if quality is None else int(quality)
    params = _pillow_metadata(image, pil, provenance)
    if len(params.get("exif", b"")) > 65533:
        log.warning("EXIF is larger than a JPEG segment allows (64 KB); not written")
        del params["exif"]
    comment = image.metadata.text.get("Comment")
    if comment:
        params["comment"] = comment.encode("utf-8")
    buf = io.BytesIO()
    subsampling = 0 if q >= 90 else -1  # 4:4:4 keeps colour edges at high quality
    pil.save(buf, "JPEG", quality=q, subsampling=subsampling, optimize=True, **params)
    return buf.getvalue()


def _encode_webp(
    image: Image, depth: int, quality: int | None, provenance: Mapping[str, str] | None
) -> bytes:
    pil = _pillow_rgb(image, "WEBP")
    q = DEFAULT_QUALITY if quality is None else int(quality)
    params = _pillow_metadata(image, pil, provenance)
    params.pop("dpi", None)  # WebP has no resolution field (it stays in EXIF, if any)
    buf = io.BytesIO()
    pil.save(buf, "WEBP", quality=q, lossless=q >= 100, method=4, exact=True, **params)
    return buf.getvalue()
