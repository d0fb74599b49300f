"""Saving an edit of a JPEG without recompressing what the edit left alone.

Healing a spot on a JPEG and saving it as JPEG would otherwise decode and re-encode the
whole photo: every block loses a little more (generation loss), and the pixels the edit
never touched change in the file although they were bit-identical in memory. Instead,
the edit is encoded with the original's quantisation tables and chroma subsampling, and
then every 8x8 block of DCT coefficients the edit did not change is copied from the
original file (what jpegtran-style lossless editors do). Those blocks are the original's
bytes for bytes' worth of coefficients and decode as the original's, except within
DECODER_REACH px of a new block; only the blocks the edit changed are new, at the
original's own quality.

jpeglib (MPL-2.0) reads and writes the coefficients through libjpeg: Pillow and OpenCV
have no access to them, and a hand-written JPEG entropy coder is not worth owning.
"""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import JpegImagePlugin

from kintsugi.engine.imageio.image import Image

log = logging.getLogger(__name__)

# The decoder's reach across a block edge: chroma upsampling reads the neighbouring
# chroma sample (2 px at 2x subsampling), so pixels this close to a re-encoded block may
# decode a little differently; all others decode exactly as the original's (checked after
# every splice, _kept_pixels_exact). Re-encoding a margin of blocks around the edit
# instead would change more pixels, by more.
DECODER_REACH = 2
LIBJPEG = "6b"


@dataclass(frozen=True)
class Original:
    """The original JPEG: its quantisation tables and chroma subsampling (for Pillow's
    encoder) and each component's block size in pixels (8, or 16 where subsampled)."""

    path: Path
    qtables: Any
    subsampling: int
    block_px: tuple[tuple[int, int], ...]  # (rows, columns) per component


def original_jpeg(edit_of: Image, edited: Image) -> Original | None:
    """The original JPEG when `edited` can keep its unchanged blocks, else None (with the
    reason in the log)."""
    source = edit_of.metadata.source_path
    why = _unsuitable(edit_of, edited, source)
    if why:
        log.info("saving the edit as a new JPEG: %s", why)
        return None
    path = Path(str(source))
    with PILImage.open(path) as pil:
        if not isinstance(pil, JpegImagePlugin.JpegImageFile) or pil.mode not in ("L", "RGB"):
            log.info("saving the edit as a new JPEG: %s is not an RGB or gray JPEG", path.name)
            return None
        if pil.getexif().get(0x0112, 1) != 1:
            log.info("saving the edit as a new JPEG: %s is stored rotated (EXIF)", path.name)
            return None
        factors = [(v, h) for _, h, v, _ in pil.layer]
        top_v, top_h = max(v for v, _ in factors), max(h for _, h in factors)
        block_px = tuple((8 * top_v // v, 8 * top_h // h) for v, h in factors)
        return Original(path, pil.quantization, JpegImagePlugin.get_sampling(pil), block_px)


def _unsuitable(edit_of: Image, edited: Image, source: str | None) -> str | None:
    if edit_of.metadata.source_format != "JPEG" or not source or not Path(source).is_file():
        return "the original is not a JPEG file on disk"
    if edited.pixels.shape != edit_of.pixels.shape:
        return "the edit's size or channels differ from the original's"
    if edited.alpha is not None and float(edited.alpha.min()) < 1.0:
        return "the edit has transparency"
    return None


def keep_unchanged_blocks(encoded: bytes, original: Original, changed: np.ndarray) -> bytes | None:
    """`encoded` (the edit, encoded with the original's tables) with every DCT block
    holding no changed pixel taken from `original`; None if the two
    files' block layouts differ or the result would not decode exactly where promised."""
    with tempfile.TemporaryDirectory(prefix="kintsugi-jpeg-") as folder:
        try:
            spliced = _splice(encoded, original, changed, Path(folder))
        except (OSError, RuntimeError, ValueError) as exc:  # e.g. arithmetic coding
            log.info("saving the edit as a new JPEG: libjpeg could not splice it (%s)", exc)
            return None
    if spliced is None:
        return None
    data, replaced = spliced
    if not _kept_pixels_exact(data, original.path, replaced):
        log.warning("saving the edit as a new JPEG: kept blocks did not decode exactly")
        return None
    return data


def _splice(encoded: bytes, original: Original, changed: np.ndarray,
            folder: Path) -> tuple[bytes, np.ndarray] | None:
    import jpeglib  # a large native library: loaded only when an edit is saved

    # The IJG reference library; the app bundle carries only this one of jpeglib's builds.
    jpeglib.version.set(LIBJPEG)
    new_path, out_path = folder / "edit.jpg", folder / "spliced.jpg"
    new_path.write_bytes(encoded)
    old, new = jpeglib.read_dct(str(original.path)), jpeglib.read_dct(str(new_path))
    if not _same_layout(old, new):
        log.info("saving the edit as a new JPEG: its block layout differs from the original's")
        return None
    replaced = _replace_changed_blocks(old, new, changed, original.block_px)
    new.write_dct(str(out_path))
    return out_path.read_bytes(), replaced


def _components(jpeg: Any) -> list[str]:
    return ["Y", "Cb", "Cr"] if jpeg.has_chrominance else ["Y"]


def _same_layout(old: Any, new: Any) -> bool:
    if _components(old) != _components(new) or not np.array_equal(old.qt, new.qt):
        return False
    same_tables = np.array_equal(old.quant_tbl_no, new.quant_tbl_no)
    return same_tables and all(
        getattr(old, c).shape == getattr(new, c).shape for c in _components(old)
    )


def _replace_changed_blocks(old: Any, new: Any, changed: np.ndarray,
                        block_px: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Copy the original's blocks into `new` where the edit changed nothing; returns the
    pixel map of what is re-encoded (HxW bool)."""
    height, width = changed.shape
    replaced = np.zeros_like(changed)
    for name, (step_y, step_x) in zip(_components(old), block_px, strict=True):
        blocks_h, blocks_w = getattr(old, name).shape[:2]
        touched = _touched_blocks(changed, blocks_h, blocks_w, step_y, step_x)
        setattr(new, name, np.where(touched[:, :, None, None], getattr(new, name),
                                    getattr(old, name)))
        pixels = np.repeat(np.repeat(touched, step_y, axis=0), step_x, axis=1)
        replaced |= pixels[:height, :width]
    return replaced


def _touched_blocks(changed: np.ndarray, blocks_h: int, blocks_w: int, step_y: int,
                    step_x: int) -> np.ndarray:
    padded = np.zeros((blocks_h * step_y, blocks_w * step_x), bool)
    h, w = min(changed.shape[0], padded.shape[0]), min(changed.shape[1], padded.shape[1])
    padded[:h, :w] = changed[:h, :w]
    return padded.reshape(blocks_h, step_y, blocks_w, step_x).sum(axis=(1, 3)) > 0


def _kept_pixels_exact(data: bytes, original: Path, replaced: np.ndarray) -> bool:
    """The promise, checked: away from re-encoded blocks the new file decodes exactly
    as the original (Pillow's libjpeg decoder, the one open_image uses for 8-bit JPEG)."""
    reach = np.ones((2 * DECODER_REACH + 1,) * 2, np.uint8)
    kept = (cv2.dilate(replaced.astype(np.uint8), reach) == 0).astype(np.uint8)
    with PILImage.open(original) as a, PILImage.open(io.BytesIO(data)) as b:
        before, after = np.asarray(a), np.asarray(b)
    if before.shape != after.shape:
        return False
    # OpenCV's masked AND instead of boolean indexing: a 12 MP check in tens of ms.
    diff = cv2.absdiff(before, after)
    return int(np.count_nonzero(cv2.bitwise_and(diff, diff, mask=kept))) == 0


def changed_pixels(edited: Image, edit_of: Image) -> np.ndarray:
    """HxW bool: where the edit's pixels differ from the original's (any channel)."""
    differs = edited.pixels != edit_of.pixels
    changed = differs[:, :, 0]
    for channel in range(1, differs.shape[2]):
        changed = changed | differs[:, :, channel]
    return changed
