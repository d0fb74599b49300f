"""Pixels out of an opened file: Pillow for 8-bit, OpenCV for deeper samples, then turned
upright by the EXIF orientation."""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageFile, TiffImagePlugin

from kintsugi.engine.errors import UnsupportedFormatError
from kintsugi.engine.imageio.image import to_float
from kintsugi.engine.imageio.libraries import native_stderr_to_debug
from kintsugi.engine.imageio.metadata import ORIENTATION, icc_space

log = logging.getLogger(__name__)

Decoded = tuple[np.ndarray, np.ndarray | None, int]  # pixels, alpha, bit depth (8 or 16)

# TIFF compressions this build's libtiff (Pillow's and OpenCV's) cannot decode: refused by
# name before libtiff prints "... compression support is not configured" to the terminal.
UNDECODABLE_TIFF_COMPRESSION = {50001: "WebP"}


def bits_per_sample(pil: ImageFile.ImageFile, fmt: str) -> int:
    if fmt == "PNG":
        rawmode = pil.tile[0][3] if pil.tile else ""
        return 16 if isinstance(rawmode, str) and ";16" in rawmode else 8
    if fmt == "TIFF" and isinstance(pil, TiffImagePlugin.TiffImageFile):
        bits = pil.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return max(int(b) for b in bits)
    return 8


def source_is_gray(pil: ImageFile.ImageFile, fmt: str) -> bool:
    if fmt == "TIFF" and isinstance(pil, TiffImagePlugin.TiffImageFile):
        return pil.tag_v2.get(262) in (0, 1)
    rawmode = pil.tile[0][3] if fmt == "PNG" and pil.tile else None
    if isinstance(rawmode, str):
        return rawmode.startswith(("L", "I", "1"))
    return pil.mode in ("1", "L", "LA", "La", "I", "F") or pil.mode.startswith("I;16")


def pixels_from_pillow(pil: PILImage.Image, icc: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """The decoded samples (HxWxC, as stored: alpha last) and the ICC profile that fits them."""
    with native_stderr_to_debug():  # libtiff prints its complaints
        pil.load()  # LOAD_TRUNCATED_IMAGES stays False: a truncated file raises here
    pil, icc = _to_plain_mode(pil, icc)
    arr = np.asarray(pil)
    return (arr if arr.ndim == 3 else arr[:, :, None]), icc


def split_alpha(arr: np.ndarray, name: str) -> Decoded:
    """Samples of any type in [0, 1], the last of 2 or 4 channels taken as alpha."""
    depth = 8 if arr.dtype == np.uint8 else 16
    values = to_unit_range(arr, name)
    if values.shape[2] in (2, 4):
        return np.ascontiguousarray(values[:, :, :-1]), values[:, :, -1].copy(), depth
    return values, None, depth


def to_unit_range(arr: np.ndarray, name: str) -> np.ndarray:
    """float32 in [0, 1] from 8/16-bit, signed, 32-bit integer or floating-point samples.

    Samples within their type's usual range keep their meaning (float 0..1; int16 0..32767;
    32-bit integers holding 16-bit values 0..65535). Anything else, such as scientific
    floats (-pi..pi) or wide integers, is scaled linearly so its range fills [0, 1] (black
    stays at 0 when no sample is negative), and the log says so.
    """
    if arr.dtype in (np.uint8, np.uint16):
        return to_float(arr)
    values = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    top = _usual_top(arr.dtype, lo, hi)
    if top is not None:
        return np.clip(values / np.float32(top), 0.0, 1.0)
    base = min(lo, 0.0)
    log.info("%s: %s samples span %g..%g; scaled to fill the output range", name, arr.dtype, lo, hi)
    if hi <= base:
        return np.zeros_like(values)
    return np.clip((values - np.float32(base)) / np.float32(hi - base), 0.0, 1.0)


def _usual_top(dtype: np.dtype, lo: float, hi: float) -> float | None:
    """The value that means white for samples of this type in this range, if one is clear."""
    if lo < 0:
        return None
    if np.issubdtype(dtype, np.floating):
        return 1.0 if hi <= 1.0 else None
    if dtype == np.int8:
        return 127.0
    if dtype == np.int16:
        return 32767.0
    return 65535.0 if hi <= 65535 else None


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
    return pil.convert("RGBA" if has_alpha else "RGB"), icc if icc_space(icc) == "RGB" else None


def _cmyk_to_rgb(pil: PILImage.Image, icc: bytes | None) -> PILImage.Image:
    if icc is not None and icc_space(icc) == "CMYK":
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            converted = ImageCms.profileToProfile(pil, src, dst, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError) as exc:
            log.warning("CMYK profile unusable (%s); converting without it", exc)
    return pil.convert("RGB")


def pixels_from_opencv(p: Path, gray_source: bool) -> np.ndarray | None:
    """Deep samples as they are (Pillow would cut 16-bit RGB to 8 bits), HxWxC in RGB(A)
    order; None if OpenCV cannot decode the file, which Pillow then tries."""
    data = np.fromfile(str(p), dtype=np.uint8)  # imdecode: no trouble with non-ASCII paths
    if data[:2].tobytes() in (b"II", b"MM"):
        _neutralise_tiff_orientation(data)
    arr = opencv_decode(data, gray_source)
    if arr is None:
        log.debug("%s: OpenCV could not decode it; trying Pillow", p.name)
    return arr


def opencv_decode(data: np.ndarray, gray_source: bool) -> np.ndarray | None:
    with native_stderr_to_debug():
        arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        return None
    if arr.ndim == 2:
        return arr[:, :, None]
    if arr.shape[2] < 3:
        return arr
    if gray_source:  # a gray TIFF that OpenCV expanded: B, G and R are equal
        return arr[:, :, [0, 3]] if arr.shape[2] == 4 else arr[:, :, :1]
    return _bgr_to_rgb(arr)


def _bgr_to_rgb(arr: np.ndarray) -> np.ndarray:
    four = arr.shape[2] == 4
    if arr.dtype in (np.uint8, np.uint16, np.float32):  # cvtColor is several times faster
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if four else cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(arr[:, :, [2, 1, 0, 3] if four else [2, 1, 0]])


def refuse_undecodable_tiff(p: Path, pil: ImageFile.ImageFile) -> None:
    if not isinstance(pil, TiffImagePlugin.TiffImageFile):
        return
    compression = UNDECODABLE_TIFF_COMPRESSION.get(pil.tag_v2.get(259, 1))
    if compression:
        raise UnsupportedFormatError(
            f"{p.name}: TIFF with {compression} compression is not supported "
            "(save it with LZW, Deflate, JPEG or no compression)"
        )


def _neutralise_tiff_orientation(data: np.ndarray) -> None:
    """Set a TIFF's Orientation to 1 in memory: OpenCV would apply it, and so do we."""
    order = "<" if data[:2].tobytes() == b"II" else ">"
    buf = data.data  # the array's own buffer: packing into it edits ``data`` in place
    for tag, kind, entry in _tiff_entries(data):
        if tag == ORIENTATION and kind == 3:  # SHORT, stored in the entry itself
            struct.pack_into(order + "H", buf, entry + 8, 1)


def tiff_size(data: np.ndarray) -> tuple[int, int] | None:
    """Width and height from a classic TIFF's first IFD, without decoding anything."""
    order = "<" if data[:2].tobytes() == b"II" else ">"
    size: dict[int, int] = {}
    for tag, kind, entry in _tiff_entries(data):
        if tag in (256, 257) and kind in (3, 4):  # SHORT or LONG, in the entry itself
            size[tag] = struct.unpack_from(order + "HI"[kind - 3], data.data, entry + 8)[0]
    return (size[256], size[257]) if len(size) == 2 else None


def _tiff_entries(data: np.ndarray) -> list[tuple[int, int, int]]:
    """(tag, type, offset of the 12-byte entry) for a classic TIFF's first IFD; [] if none."""
    head = data[:4].tobytes()
    if head not in (b"II*\x00", b"MM\x00*"):  # BigTIFF keeps its offsets elsewhere
        return []
    order = "<" if head[:2] == b"II" else ">"
    buf = data.data
    try:
        (offset,) = struct.unpack_from(order + "I", buf, 4)
        (count,) = struct.unpack_from(order + "H", buf, offset)
        entries = range(offset + 2, offset + 2 + 12 * count, 12)
        return [(*struct.unpack_from(order + "HH", buf, e), e) for e in entries]
    except struct.error:
        return []  # damaged: the decoder will say so


def read_orientation(pil: PILImage.Image) -> int:
    try:
        value = int(pil.getexif().get(ORIENTATION, 1))
    except (TypeError, ValueError, SyntaxError, struct.error, OSError):
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored HxWxC pixels upright, as a viewer honouring the EXIF Orientation shows them.

    Done on the decoded integers, before the float conversion (a quarter of the bytes),
    and by OpenCV where it can: numpy's strided copy of a turned photo is 3x slower.
    """
    if orientation == 1:
        return arr
    if arr.dtype in (np.uint8, np.uint16, np.float32) and arr.shape[2] <= 4:
        turned = _CV_TURNS[orientation](arr)
        return turned.reshape(turned.shape[:2] + (arr.shape[2],))  # cv2 drops a 1-channel axis
    return np.ascontiguousarray(_NUMPY_TURNS[orientation](arr))


_NUMPY_TURNS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}
_CV_TURNS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: lambda a: cv2.transpose(a),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.flip(cv2.transpose(a), -1),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}
