"""JPEG, WebP, AVIF (Pillow) and HEIC (the pillow-heif plugin), from 8-bit pixels."""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image as PILImage

from kintsugi.engine.errors import ImageWriteError
from kintsugi.engine.imageio.formats import DEFAULT_QUALITY
from kintsugi.engine.imageio.heif import INSTALL_HINT, avif_available, heif_writable
from kintsugi.engine.imageio.image import Image
from kintsugi.engine.imageio.metadata import (
    PHOTOSHOP_IPTC,
    output_exif,
    output_icc,
    output_xmp,
    usable_dpi,
)

log = logging.getLogger(__name__)


def _pillow_rgb(image: Image, fmt: str) -> PILImage.Image:
    """8-bit Pillow image for JPEG (no alpha), or WebP, AVIF, HEIC (RGB, alpha kept)."""
    pixels, alpha = image.pixels, image.alpha
    if fmt == "JPEG" and alpha is not None:
        if float(alpha.min()) < 1.0:
            log.warning("JPEG has no transparency: composited over white")
            pixels = pixels * alpha[:, :, None] + (1.0 - alpha[:, :, None])
        alpha = None
    if fmt != "JPEG" and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    flat = Image(np.ascontiguousarray(pixels, dtype=np.float32), alpha, image.metadata, 8)
    arr = flat.to_uint(8)
    return PILImage.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def _pillow_metadata(
    image: Image, pil: PILImage.Image, provenance: Mapping[str, str] | None
) -> dict[str, Any]:
    meta = image.metadata
    params: dict[str, Any] = {}
    icc = output_icc(image, 1 if pil.mode == "L" else 3)
    exif = output_exif(image, provenance)
    xmp = output_xmp(meta.xmp)
    for key, value in (("icc_profile", icc), ("exif", exif), ("xmp", xmp)):
        if value:
            params[key] = value
    dpi = usable_dpi(meta.dpi)
    if dpi:
        params["dpi"] = dpi
    return params


def encode_jpeg(
    image: Image, depth: int, quality: int | None, provenance: Mapping[str, str] | None,
    tables: tuple[Any, int] | None = None,
) -> bytes:
    """JPEG bytes; `tables` (quantisation tables, subsampling) replace quality's."""
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
    if tables is not None:
        params.update(qtables=tables[0], subsampling=tables[1])
    else:  # 4:4:4 keeps colour edges at high quality
        params.update(quality=q, subsampling=0 if q >= 90 else -1)
    pil.save(buf, "JPEG", optimize=True, **params)
    iptc = image.metadata.iptc
    return _with_iptc(buf.getvalue(), iptc) if iptc else buf.getvalue()


def _with_iptc(jpeg: bytes, iptc: bytes) -> bytes:
    """The JPEG with an APP13 segment holding the IPTC records (a Photoshop image
    resource, as Photoshop, exiftool and Lightroom write it), after its other APPn."""
    resource = b"8BIM" + struct.pack(">H", PHOTOSHOP_IPTC) + b"\x00\x00"  # no name
    resource += struct.pack(">I", len(iptc)) + iptc + b"\x00" * (len(iptc) % 2)
    body = b"Photoshop 3.0\x00" + resource
    if len(body) + 2 > 0xFFFF:
        log.warning("IPTC is larger than a JPEG segment allows (64 KB); not written")
        return jpeg
    segment = b"\xff\xed" + struct.pack(">H", len(body) + 2) + body
    pos = 2  # after SOI
    while jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        pos += 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
    return jpeg[:pos] + segment + jpeg[pos:]


def encode_webp(
    image: Image, depth: int, quality: int | None, provenance: Mapping[str, str] | None
) -> bytes:
    pil = _pillow_rgb(image, "WEBP")
    q = DEFAULT_QUALITY if quality is None else int(quality)
    params = _pillow_metadata(image, pil, provenance)
    params.pop("dpi", None)  # WebP has no resolution field (it stays in EXIF, if any)
    buf = io.BytesIO()
    pil.save(buf, "WEBP", quality=q, lossless=q >= 100, method=4, exact=True, **params)
    return buf.getvalue()


def encode_avif(
    image: Image, depth: int, quality: int | None, provenance: Mapping[str, str] | None
) -> bytes:
    if not avif_available():
        raise ImageWriteError("this Pillow cannot write AVIF (Pillow 11.3 or later can)")
    pil = _pillow_rgb(image, "AVIF")
    q = DEFAULT_QUALITY if quality is None else int(quality)
    params = _pillow_metadata(image, pil, provenance)
    params.pop("dpi", None)  # no resolution field (it stays in EXIF, if any)
    buf = io.BytesIO()
    # 4:4:4 at high quality, as for JPEG. Speed 8 instead of libavif's 6: on a 1 MP photo
    # at q95, 1.3 s instead of 3.7 s for 4% more bytes at the same PSNR (46.1 dB; JPEG
    # q95 4:4:4 also 46.1 dB, in 31% more bytes).
    subsampling = "4:4:4" if q >= 90 else "4:2:0"
    pil.save(buf, "AVIF", quality=q, subsampling=subsampling, speed=8, **params)
    return buf.getvalue()


def encode_heif(
    image: Image, depth: int, quality: int | None, provenance: Mapping[str, str] | None
) -> bytes:
    if not heif_writable():
        raise ImageWriteError(
            f"HEIC output needs the optional pillow-heif encoder ({INSTALL_HINT}); "
            "the default install reads HEIC only"
        )
    pil = _pillow_rgb(image, "HEIF")
    q = DEFAULT_QUALITY if quality is None else int(quality)
    params = _pillow_metadata(image, pil, provenance)
    params.pop("dpi", None)
    buf = io.BytesIO()
    # x265's "fast" preset: on a 1 MP photo at q95, 3.9 s instead of 8.7 s, 8% more bytes
    fast = {"preset": "fast"}
    pil.save(buf, "HEIF", quality=q, chroma=444 if q >= 90 else 420, enc_params=fast, **params)
    return buf.getvalue()
