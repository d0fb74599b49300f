"""TIFF encoder: baseline, Deflate + horizontal predictor, one IFD holding all metadata."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from fractions import Fraction

import numpy as np
from PIL import Image as PILImage
from PIL import TiffImagePlugin, TiffTags

from kintsugi.engine.imageio.image import Image
from kintsugi.engine.imageio.metadata import (
    EXIF_IFD,
    GPS_IFD,
    IPTC_TAG,
    STRUCTURAL_TAGS,
    output_exif,
    output_icc,
    output_xmp,
    usable_dpi,
    with_interop,
)


def encode_tiff(
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
    exif_bytes = output_exif(image, provenance)
    if exif_bytes:
        exif = PILImage.Exif()
        exif.load(exif_bytes)
        for tag, value in exif.items():
            if tag not in STRUCTURAL_TAGS:
                ifd[tag] = exif.get_ifd(tag) if tag in (EXIF_IFD, GPS_IFD) else value
        if EXIF_IFD in exif:
            ifd[EXIF_IFD] = with_interop(exif)
    if meta.iptc:
        ifd[IPTC_TAG] = meta.iptc
        ifd.tagtype[IPTC_TAG] = TiffTags.UNDEFINED
    icc = output_icc(image, 1 if planes <= 2 else 3)
    if icc:
        ifd[34675] = icc
        ifd.tagtype[34675] = TiffTags.UNDEFINED
    xmp = output_xmp(meta.xmp)
    if xmp:
        ifd[700] = xmp
        ifd.tagtype[700] = TiffTags.BYTE
    dpi = usable_dpi(meta.dpi)
    if dpi:
        ifd[282] = Fraction(dpi[0]).limit_denominator(10000)
        ifd[283] = Fraction(dpi[1]).limit_denominator(10000)
        ifd[296] = 2
