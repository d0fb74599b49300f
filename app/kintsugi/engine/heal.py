"""Healing regions (GLEAN paper, section 6): shrink the painted region until retouching
artefacts vanish, super-resolve it back with a model, blend it in with a feathered mask.

Only the region's bounding box (plus the feather and some context for the model) is
processed, so healing a spot on a 50 MP photo costs what the spot costs. Pixels where the
feathered mask is 0 are copied untouched: bit-identical in the saved file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.imageio import Image
from kintsugi.engine.job import Job, ensure_job

if TYPE_CHECKING:  # the registry loads torch; the command line reads the constants below
    from kintsugi.engine.registry import Model

log = logging.getLogger(__name__)

DEFAULT_FACTOR = 2  # keeps the most of the photo's own detail (METHODS.md)
MIN_FACTOR, MAX_FACTOR = 2, 8
DEFAULT_FEATHER = 16  # px the blend reaches beyond the painted mask, at most
MAX_FEATHER = 256
# Photo around the feathered region the model sees, so its border effects fall outside
# what is blended in.
CONTEXT = 16
# The healed region keeps the photo's tones at scales above this many shrunk pixels (sigma).
TONE_SCALE = 4


def heal(
    image: Image,
    mask: np.ndarray,
    model: Model | str | Path | None = None,
    factor: int | None = None,
    feather: int | None = None,
    job: Job | None = None,
    device: str = "auto",
) -> Image:
    """Heal the painted region of `image` (mask: HxW, 0..1, 1 = heal).

    The region is shrunk `factor` times (2..8, default 2) and enlarged back by `model`
    (default: an imported GLEAN model if there is one, else the default upscaler), then
    blended in through the mask feathered by `feather` px (default 16). Size, bit depth,
    alpha and metadata are the input's.
    """
    job = ensure_job(job)
    factor = _checked_factor(factor)
    feather = _checked_feather(feather)
    if min(image.width, image.height) < 4 * factor:
        raise KintsugiError(f"the photo is too small to heal at factor {factor}")
    y0, y1, x0, x1, weight = _region(_checked_mask(mask, image), feather, factor)
    net = _pick_model(model, device)
    job.set_progress(0.0, f"healing a {x1 - x0}x{y1 - y0} px region")
    crop = image.pixels[y0:y1, x0:x1]
    healed = _shrink_and_enlarge(image.replace(pixels=np.ascontiguousarray(crop), alpha=None),
                                 factor, net, device, job.sub(0.0, 0.95))
    healed = _with_tones_of(crop, healed, TONE_SCALE * factor)
    pixels = image.pixels.copy()
    region = pixels[y0:y1, x0:x1]
    w = weight[:, :, None]
    mixed = region + w * (healed - region)
    np.copyto(region, np.clip(mixed, 0.0, 1.0), where=w > 0)  # w == 0: untouched bits
    job.set_progress(1.0, "done")
    return image.replace(pixels=pixels)


def feathered(painted: np.ndarray, feather: int) -> np.ndarray:
    """The painted map grown and softened so it reaches at most `feather` px beyond it.

    A grey dilation by a disc of half the feather, then a Gaussian cut to a disc of the
    other half (a square kernel would reach sqrt(2) further along diagonals): a hard mask
    stays exactly 1 inside and falls smoothly to exactly 0 at `feather` px.
    """
    if feather <= 0:
        return painted.astype(np.float32, copy=True)
    blur = feather // 2
    grow = feather - blur
    grown = cv2.dilate(painted.astype(np.float32), _disc(grow).astype(np.uint8),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
    if blur > 0:
        kernel = _disc(blur) * np.exp(-_radius(blur) ** 2 / (2 * (blur / 2) ** 2))
        kernel = (kernel / kernel.sum()).astype(np.float32)
        grown = cv2.filter2D(grown, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        # Large kernels go through an FFT, which leaves 1e-17 crumbs far away: cut them.
        reach = cv2.dilate((painted > 0).astype(np.uint8), _disc(feather).astype(np.uint8))
        grown[reach == 0] = 0.0
    # Fully covered pixels sum the kernel to 1 give or take a rounding: make them exactly 1.
    return np.clip(grown * np.float32(1 + 1e-5), 0.0, 1.0)


def _radius(r: int) -> np.ndarray:
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return np.hypot(yy, xx)


def _disc(r: int) -> np.ndarray:
    return (_radius(r) <= r).astype(np.float32)


def _region(painted: np.ndarray, feather: int, factor: int) -> tuple[int, int, int, int, np.ndarray]:
    """(y0, y1, x0, x1, weight): the box the model runs on and the feathered mask over it.

    Only a window around the painted pixels is feathered, so a spot on a 50 MP photo
    costs what the spot costs.
    """
    height, width = painted.shape
    rows = np.flatnonzero(painted.max(axis=1) > 0)
    cols = np.flatnonzero(painted.max(axis=0) > 0)
    if rows.size == 0:
        raise KintsugiError("the heal mask is empty: paint the region to heal in white")
    margin = feather + CONTEXT + factor
    wy0, wy1 = max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin)
    wx0, wx1 = max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin)
    weight = feathered(painted[wy0:wy1, wx0:wx1], feather)
    reach_rows = np.flatnonzero(weight.max(axis=1) > 0) + wy0
    reach_cols = np.flatnonzero(weight.max(axis=0) > 0) + wx0
    y0, y1 = _span(int(reach_rows[0]), int(reach_rows[-1]) + 1, factor, height)
    x0, x1 = _span(int(reach_cols[0]), int(reach_cols[-1]) + 1, factor, width)
    box = np.zeros((y1 - y0, x1 - x0), np.float32)
    oy0, oy1 = max(y0, wy0), min(y1, wy1)
    ox0, ox1 = max(x0, wx0), min(x1, wx1)
    box[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0] = weight[oy0 - wy0 : oy1 - wy0, ox0 - wx0 : ox1 - wx0]
    return y0, y1, x0, x1, box


def _span(first: int, end: int, factor: int, limit: int) -> tuple[int, int]:
    lo, hi = max(0, first - CONTEXT), min(limit, end + CONTEXT)
    size = -(-(hi - lo) // factor) * factor  # round up to a multiple of the factor
    if size > limit:
        size = limit // factor * factor
    hi = min(limit, lo + size)
    return hi - size, hi


def _with_tones_of(crop: np.ndarray, healed: np.ndarray, sigma: float) -> np.ndarray:
    """`healed` with the crop's broad tones: its detail, the crop's Gaussian low-pass.

    Upscalers shift tones (Real-ESRGAN lifts a mid-grey by ~2.6 levels and darkens light
    tones), which showed as a brighter patch with a visible edge. Tones vary over more than
    a few shrunk pixels, so restoring them keeps what shrinking removed (noise, block
    offsets) removed.
    """
    def low(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), sigma).reshape(x.shape)

    return healed + low(crop) - low(healed)


def _shrink_and_enlarge(crop: Image, factor: int, model: Model, device: str, job: Job) -> np.ndarray:
    h, w = crop.height, crop.width
    # Anti-alias before shrinking (Gaussian, sigma factor/2): with a plain box average an
    # 8 px block edge survives a x2 shrink as a 4 px one, which the model then keeps.
    soft = cv2.GaussianBlur(crop.pixels, (0, 0), factor / 2).reshape(crop.pixels.shape)
    small = cv2.resize(soft, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    small_image = crop.replace(pixels=small.reshape(h // factor, w // factor, crop.channels))
    purpose = model.caps.purpose
    if purpose == "upscaler":
        from kintsugi.engine.pipeline import upscale

        out = upscale(small_image, model, scale=factor, job=job)
    elif purpose == "face-restorer":
        # GLEAN and other face priors: faces in the region are aligned and restored, the
        # rest enlarged by the default upscaler.
        from kintsugi.engine.restore import restore

        out = restore(small_image, model, scale=factor, device=device, job=job)
    else:
        raise KintsugiError(f"{model.info.id} is a {purpose}; healing needs an upscaler or a "
                            "face model such as GLEAN")
    return out.pixels


def _pick_model(model: Model | str | Path | None, device: str) -> Model:
    from kintsugi.engine.registry import Model, load_model

    if isinstance(model, Model):
        return model
    if model is None:
        model = default_healer()
    return load_model(model, device)


def default_healer() -> str:
    """An imported GLEAN model when the user has one, else the default upscaler."""
    from kintsugi.engine.catalog import default_model_id, list_models

    glean = [m.id for m in list_models() if m.arch == "glean"]
    return glean[0] if glean else default_model_id()


def _checked_factor(factor: int | None) -> int:
    if factor is None:
        return DEFAULT_FACTOR
    value = int(factor)
    if value != factor or not MIN_FACTOR <= value <= MAX_FACTOR:
        raise KintsugiError(f"the heal factor must be a whole number from {MIN_FACTOR} to "
                            f"{MAX_FACTOR}, not {factor}")
    return value


def _checked_feather(feather: int | None) -> int:
    if feather is None:
        return DEFAULT_FEATHER
    value = int(feather)
    if value != feather or not 0 <= value <= MAX_FEATHER:
        raise KintsugiError(f"the feather must be a whole number of px from 0 to {MAX_FEATHER}, "
                            f"not {feather}")
    return value


def _checked_mask(mask: np.ndarray, image: Image) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise KintsugiError(f"a heal mask must be one channel (HxW), got shape {m.shape}")
    if m.shape != (image.height, image.width):
        raise KintsugiError(f"the heal mask is {m.shape[1]}x{m.shape[0]}, the photo "
                            f"{image.width}x{image.height}; they must be the same size")
    if m.dtype == np.uint8:
        return m.astype(np.float32) / np.float32(255)
    return np.clip(np.nan_to_num(m.astype(np.float32)), 0.0, 1.0)
