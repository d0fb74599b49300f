"""Pixels out of an opened file: Pillow for 8-bit, OpenCV for deeper samples, then turned
upright by the EXIF orientation."""

from __future__ import annotations

import io
import logging
import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageFile, TiffImagePlugin

from kintsugi.engine.imageio.image import to_float
from kintsugi.engine.imageio.metadata import ORIENTATION, icc_space

log = logging.getLogger(__name__)
# OpenCV prints its own decoder warnings to stderr; Kintsugi reports failures as typed errors.
_cv_logging = getattr(getattr(cv2, "utils", None), "logging", None)
if _cv_logging is not None:
    _cv_logging.setLogLevel(_cv_logging.LOG_LEVEL_ERROR)


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


def pixels_from_pillow(
    pil: PILImage.Image, icc: bytes | None
) -> tuple[np.ndarray, np.ndarray | None, bytes | None]:
    pil.load()  # LOAD_TRUNCATED_IMAGES stays False: a truncated file raises here
    pil, icc = _to_plain_mode(pil, icc)
    arr = np.asarray(pil)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    values = to_float(arr) if arr.dtype != np.int32 else to_float(arr.astype(np.uint16))
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


def pixels_from_opencv(p: Path, gray_source: bool) -> tuple[np.ndarray, np.ndarray | None]:
    data = np.fromfile(str(p), dtype=np.uint8)  # imdecode: no trouble with non-ASCII paths
    if data[:2].tobytes() in (b"II", b"MM"):
        _neutralise_tiff_orientation(data)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise OSError("OpenCV could not decode it")
    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"{arr.dtype} samples are not supported")
    if arr.ndim == 2:
        return to_float(arr[:, :, None]), None
    alpha = to_float(arr[:, :, 3]) if arr.shape[2] == 4 else None
    if gray_source:
        color = arr[:, :, :1]
    else:
        color = cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(to_float(color)), alpha


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
            if tag == ORIENTATION and kind == 3:  # SHORT, stored in the entry itself
                struct.pack_into(order + "H", buf, entry + 8, 1)
    except struct.error:
        return  # damaged: the decoder will say so


def read_orientation(pil: PILImage.Image) -> int:
    try:
        value = int(pil.getexif().get(ORIENTATION, 1))
    except (TypeError, ValueError, SyntaxError, struct.error, OSError):
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
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
