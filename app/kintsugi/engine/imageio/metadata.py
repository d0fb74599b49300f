"""What a photo carries besides pixels (EXIF, XMP, ICC, text, DPI): read from a source
and prepared for writing (Orientation reset to 1, size and provenance updated)."""

from __future__ import annotations

import json
import logging
import math
import re
import struct
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from PIL import ExifTags, ImageFile, IptcImagePlugin
from PIL import Image as PILImage

from kintsugi.engine.imageio.image import Image, Metadata

log = logging.getLogger(__name__)

MAX_DPI = 65535  # JPEG's limit, and far beyond any scanner

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
INTEROP_IFD = 0xA005
ORIENTATION = 0x0112
SOFTWARE = 0x0131
USER_COMMENT = 0x9286
_PIXEL_X_DIMENSION = 0xA002
_PIXEL_Y_DIMENSION = 0xA003
ASCII_COMMENT_PREFIX = b"ASCII\x00\x00\x00"
IPTC_TAG = 33723  # TIFF's IPTC-NAA tag (carried as Metadata.iptc, not as an EXIF tag)
PHOTOSHOP_IPTC = 0x0404  # the Photoshop image resource that holds a JPEG's IPTC


# TIFF tags that describe a file's layout rather than the photo: never copied
# between files (a TIFF source's first IFD doubles as its EXIF IFD0).
STRUCTURAL_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284}
    | {290, 291, 292, 293, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347}
    | set(range(512, 522))
    | {529, 530, 532, 700, 33723, 34377, 34675, 37724, 50838, 50839}
)


def read_metadata(p: Path, pil: ImageFile.ImageFile, fmt: str) -> Metadata:
    info = pil.info
    icc = info.get("icc_profile") or None
    return Metadata(
        icc_profile=bytes(icc) if icc else None,
        exif=_source_exif(pil, p.name),
        xmp=_as_bytes(info.get("xmp")),
        text=_source_text(pil),
        source_format=fmt,
        source_path=str(p.resolve()),
        dpi=_source_dpi(info),
        iptc=_source_iptc(pil, p.name),
    )


def _source_iptc(pil: ImageFile.ImageFile, name: str) -> bytes | None:
    """The IPTC records of a JPEG (Photoshop APP13) or TIFF (tag 33723).

    Read through Pillow's own IPTC reader: it takes the TIFF tag's raw bytes, which the
    tag API would cut to one value when Photoshop types it LONG.
    """
    try:
        records = IptcImagePlugin.getiptcinfo(pil)
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        log.warning("%s: its IPTC is damaged and was dropped (%s)", name, exc)
        return None
    if not records:
        return None
    out = bytearray()
    for (record, dataset), value in sorted(records.items()):  # IIM: records in order
        for item in value if isinstance(value, list) else [value]:
            if len(item) < 0x8000:  # longer ones need the extended form; none in practice
                out += struct.pack(">BBBH", 0x1C, record, dataset, len(item)) + item
    return bytes(out) or None


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)) and value:
        return bytes(value)
    return None


def _source_exif(pil: ImageFile.ImageFile, name: str) -> bytes | None:
    try:
        exif = pil.getexif()
        if not exif and not exif.get_ifd(EXIF_IFD) and not exif.get_ifd(GPS_IFD):
            return None
        clean = clean_exif(exif)
        if not _writes(clean):
            dropped = _drop_unwritable(clean)
            log.warning("%s: EXIF tags that cannot be written back were dropped: %s", name,
                        ", ".join(dropped))
        if len(clean) == 0:
            return None
        return clean.tobytes()
    except Exception as exc:  # noqa: BLE001 - damaged EXIF must not stop the photo
        log.warning("%s: its EXIF is damaged and was dropped (%s)", name, exc)
        return None


def _drop_unwritable(tags: MutableMapping[int, Any], parents: tuple[int, ...] = ()) -> list[str]:
    """Delete (and name) the tags that cannot be written, each tried alone where it sits.

    A resolution stored as text (Pillow's broken_exif_dpi.jpg) cannot be written as the
    number the tag must be, and one such tag used to drop the whole EXIF: make, model,
    artist, copyright, exposure. `parents`: the sub-IFD pointers above `tags`.
    """
    dropped: list[str] = []
    for tag, value in list(tags.items()):
        if isinstance(value, dict):
            dropped += _drop_unwritable(value, (*parents, tag))
            if not value:
                del tags[tag]
            continue
        alone: dict[int, Any] = {tag: value}
        for parent in reversed(parents):
            alone = {parent: alone}
        if not _writes(alone):
            del tags[tag]
            dropped.append(ExifTags.TAGS.get(tag, f"tag {tag:#06x}"))
    return dropped


def _writes(tags: Mapping[int, Any]) -> bool:
    exif = PILImage.Exif()
    exif.update(tags)
    try:
        exif.tobytes()
    except Exception:  # noqa: BLE001 - whatever Pillow's writer trips on, the tag cannot go
        return False
    return True


def clean_exif(exif: PILImage.Exif) -> PILImage.Exif:
    """A fresh Exif with the photo's tags, sub-IFDs as dicts, Orientation = 1."""
    clean = PILImage.Exif()
    for tag, value in exif.items():
        if tag not in STRUCTURAL_TAGS and tag not in (EXIF_IFD, GPS_IFD):
            clean[tag] = value
    exif_ifd = dict(exif.get_ifd(EXIF_IFD))
    if INTEROP_IFD in exif_ifd:
        exif_ifd[INTEROP_IFD] = dict(exif.get_ifd(INTEROP_IFD))
    if exif_ifd:
        clean[EXIF_IFD] = exif_ifd
    gps = dict(exif.get_ifd(GPS_IFD))
    if gps:
        clean[GPS_IFD] = gps
    if ORIENTATION in exif or len(clean):
        clean[ORIENTATION] = 1
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
    return usable_dpi((round(x, 2), round(y, 2)))


def usable_dpi(dpi: tuple[float, float] | None) -> tuple[float, float] | None:
    """The resolution if every format can store it, else None (with a note in the log).

    Files in the wild say 4294967295 dpi (an unset EXIF field); PNG cannot store that and
    JPEG's 16-bit field would wrap 70000 round to 4464. No photo has more than MAX_DPI.
    """
    if dpi is None:
        return None
    if all(math.isfinite(d) and 0 < d <= MAX_DPI for d in dpi):
        return dpi
    log.info("ignoring an impossible resolution of %s dpi", "x".join(f"{d:g}" for d in dpi))
    return None


def icc_space(icc: bytes | None) -> str | None:
    """'RGB', 'GRAY', 'CMYK'... from the ICC header's colour-space field."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("ascii", "replace").strip()


def output_exif(image: Image, provenance: Mapping[str, str] | None) -> bytes | None:
    """The EXIF to write: the source's, Orientation 1, size and provenance updated."""
    raw = image.metadata.exif
    if raw is None and not provenance:
        return None
    exif = PILImage.Exif()
    if raw:
        exif.load(raw)
    exif = clean_exif(exif)
    exif[ORIENTATION] = 1
    exif_ifd = dict(exif.get(EXIF_IFD, {}))
    if _PIXEL_X_DIMENSION in exif_ifd or _PIXEL_Y_DIMENSION in exif_ifd:
        exif_ifd[_PIXEL_X_DIMENSION] = image.width
        exif_ifd[_PIXEL_Y_DIMENSION] = image.height
    if provenance:
        if "software" in provenance:
            exif[SOFTWARE] = str(provenance["software"])
        exif_ifd[USER_COMMENT] = ASCII_COMMENT_PREFIX + provenance_json(provenance).encode()
    if exif_ifd:
        exif[EXIF_IFD] = exif_ifd
    return exif.tobytes()


def provenance_json(provenance: Mapping[str, str]) -> str:
    return json.dumps({str(k): str(v) for k, v in provenance.items()}, sort_keys=True)


def output_xmp(xmp: bytes | None) -> bytes | None:
    """XMP with any tiff:Orientation set to 1 (the pixels are upright now)."""
    if not xmp:
        return None
    xmp = re.sub(rb'(tiff:Orientation\s*=\s*["\'])\d(["\'])', rb"\g<1>1\g<2>", xmp)
    return re.sub(rb"(<tiff:Orientation>\s*)\d(\s*</tiff:Orientation>)", rb"\g<1>1\g<2>", xmp)


def output_icc(image: Image, channels: int) -> bytes | None:
    icc = image.metadata.icc_profile
    wanted = "GRAY" if channels == 1 else "RGB"
    space = icc_space(icc)
    if icc and space != wanted:
        what = f"a {space} ICC profile" if space else "a malformed ICC profile"
        log.warning("%s does not fit %s pixels; not written", what, wanted)
        return None
    return icc


def with_interop(exif: PILImage.Exif) -> dict[int, Any]:
    sub = dict(exif.get_ifd(EXIF_IFD))
    if INTEROP_IFD in sub:
        sub[INTEROP_IFD] = dict(exif.get_ifd(INTEROP_IFD))
    return sub


def comment_from_exif(pil: PILImage.Image) -> str | None:
    comment = pil.getexif().get_ifd(EXIF_IFD).get(USER_COMMENT)
    if isinstance(comment, bytes):
        comment = comment[len(ASCII_COMMENT_PREFIX) :].decode("utf-8", "replace")
    if isinstance(comment, str) and comment.lstrip().startswith("{"):
        return comment.strip("\x00 ")
    return None
