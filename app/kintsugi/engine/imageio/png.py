"""PNG encoder (numpy + zlib): 8/16-bit gray, RGB and alpha, metadata chunks written by us."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

import numpy as np

from kintsugi.engine.imageio.formats import PROVENANCE_KEY
from kintsugi.engine.imageio.image import Image
from kintsugi.engine.imageio.metadata import (
    output_exif,
    output_icc,
    output_xmp,
    provenance_json,
    usable_dpi,
)


def encode_png(
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
    icc = output_icc(image, 1 if planes <= 2 else 3)
    if icc:
        chunks.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    dpi = usable_dpi(meta.dpi)
    if dpi:
        ppm = [max(1, round(d / 0.0254)) for d in dpi]
        chunks.append(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    exif = output_exif(image, provenance)
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")))
    xmp = output_xmp(meta.xmp)
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
        entries.append((PROVENANCE_KEY, provenance_json(provenance)))
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
