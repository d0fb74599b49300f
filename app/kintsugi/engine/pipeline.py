"""Upscaling pipeline: Image in, Image out, with tiling, consistency lock and alpha."""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from kintsugi.engine.consistency import deviation, lock_to
from kintsugi.engine.device import choose_precision, pick_device, same_device
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.imageio.image import Image, as_rgb
from kintsugi.engine.job import Job, ensure_job
from kintsugi.engine.registry import Model, load_model
from kintsugi.engine.spec import TilePolicy
from kintsugi.engine.tiling import DEFAULT_CONTEXT, FEATHER, TilePlan, auto_tile, run_tiled

log = logging.getLogger(__name__)


def upscale(
    image: Image,
    model: Model | str,
    scale: int | None = None,
    consistency: bool = False,
    tile: TilePolicy | int | str = "auto",
    device: str = "auto",
    job: Job | None = None,
    precision: str = "auto",
) -> Image:
    """Upscale `image` by an integer `scale` (default: the model's own).

    `precision`: "auto" (the fastest the model is safe in on the device: bf16 on CPUs with
    native bf16, fp16 on GPUs, else fp32), or "fp32", "bf16", "fp16". A Model passed in is
    never changed: another device or precision runs on a copy.
    """
    job = ensure_job(job)
    tiles = TilePolicy.parse(tile)
    model = _ready(model, device, precision)
    if model.caps.purpose != "upscaler":
        raise KintsugiError(f"{model.info.id} is a {model.caps.purpose}, not an upscaler; "
                            "use restore for face models")
    scale = model.scale if scale is None else int(scale)
    if scale < 1:
        raise KintsugiError(f"scale must be a whole number of at least 1, not {scale}")
    passes = _passes(model.scale, scale)
    rgb = as_rgb(image.pixels)
    for index in range(passes):
        step = job.sub(index / passes, 1 / passes)
        rgb = _run_model(model, rgb, tiles, step)
    rgb = _resize_to(rgb, image.width * scale, image.height * scale)
    if consistency:
        job.set_progress(1.0, "consistency lock")
        rgb = lock_to(rgb, image.pixels, scale, image.bit_depth)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    pixels = rgb.mean(axis=2, keepdims=True) if image.is_gray else rgb
    alpha = None if image.alpha is None else _resize_alpha(image.alpha, scale)
    job.set_progress(1.0, "done")
    return image.replace(pixels=np.ascontiguousarray(pixels, dtype=np.float32), alpha=alpha)


def deviation_map(image: Image, result: Image) -> np.ndarray:
    """Per-pixel magnitude of the detail invented beyond the input (null-space part).

    Euclidean RGB distance in the image's [0, 1] units (0 .. sqrt(3)): how far each output
    pixel is from the mean of its s x s block, i.e. the part that shrinking would remove.
    """
    scale = _integer_scale(image, result)
    return deviation(result.pixels, scale)


def _ready(model: Model | str, device: str, precision: str) -> Model:
    """The model to run: loaded, or the caller's on the asked device and precision."""
    if isinstance(model, str):
        return load_model(model, device, precision)
    target = model.device if device == "auto" else pick_device(device)
    if precision == "auto" and same_device(target, model.device):
        return model  # loaded with its own choice (auto or explicit): keep it
    return model.on(target, choose_precision(model.caps.precisions, target, precision))


def _run_model(model: Model, rgb: np.ndarray, tiles: TilePolicy, job: Job) -> np.ndarray:
    h, w, _ = rgb.shape
    if not model.caps.tiles:
        side = max(h, w)  # the network needs the whole image at once
    elif tiles.side is None:
        side = auto_tile(model.net, model.device, model.dtype, model.scale)
    else:
        side = tiles.side
    feather = min(FEATHER, side // 4)
    context = max(model.caps.tile_context, DEFAULT_CONTEXT)
    plan = TilePlan(tile=side, context=context, feather=feather)
    return run_tiled(model.net, rgb, model.scale, plan, model.device, model.dtype, job)


def _passes(model_scale: int, scale: int) -> int:
    """How many model runs reach `scale`; anything left over is area-downsampled."""
    if model_scale <= 1 or scale <= 1:
        return 1
    return max(1, math.ceil(math.log(scale) / math.log(model_scale) - 1e-9))


def _resize_to(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    shrinking = rgb.shape[1] > width
    method = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(rgb, (width, height), interpolation=method)


def _resize_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    h, w = alpha.shape
    # Alpha is upscaled separately: a smooth interpolator keeps edges clean and cheap.
    big = cv2.resize(alpha, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
    return np.clip(big, 0.0, 1.0, out=big)


def _integer_scale(image: Image, result: Image) -> int:
    scale = result.width // image.width
    if scale * image.width != result.width or scale * image.height != result.height:
        raise KintsugiError("the result is not an integer-scale enlargement of the input")
    return scale
