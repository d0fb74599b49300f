"""Tiled inference that really bounds memory.

Tiles are cut from the image in CPU memory and moved to the device one at a time. Each tile
gets `context` input pixels of margin so the network sees its neighbourhood, and neighbouring
tiles overlap by a feather band whose linear weights sum to exactly 1 (a partition of unity),
so no weight buffer is needed and seams vanish. On out-of-memory the tile is halved and the
image restarted; any other error is re-raised unchanged.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kintsugi.engine.device import free_cached_memory, is_out_of_memory
from kintsugi.engine.job import Job

log = logging.getLogger(__name__)

Network = Callable[[torch.Tensor], torch.Tensor]
MIN_TILE = 32
# Feather band (input px each side of a tile seam) and the network context beyond it.
FEATHER = 8
DEFAULT_CONTEXT = 16


@dataclass(frozen=True)
class TilePlan:
    tile: int  # core tile side in input pixels
    context: int  # extra input pixels each side fed to the network
    feather: int  # half-width of the blend band, in input pixels (<= context)


def auto_tile(device: torch.device, scale: int, width: int, height: int) -> int:
    """Largest sensible tile for the device (a larger tile than the image means one tile)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        # ~1.2 KB of activations per output pixel for RRDBNet in fp16, with margin.
        side = int(math.sqrt(free * 0.5 / (1200 * scale * scale)))
    else:
        # CPU: larger tiles cost memory but not speed beyond ~256 px; 256 keeps peaks ~1 GB.
        side = 256
    return max(MIN_TILE, side)


def run_tiled(
    net: Network,
    image: np.ndarray,
    scale: int,
    plan: TilePlan,
    device: torch.device,
    dtype: torch.dtype,
    job: Job,
) -> np.ndarray:
    """Run `net` over an HxWx3 float32 image; returns the (sH)x(sW)x3 float32 result."""
    tile = plan.tile
    while True:
        try:
            with _cancel_inside(net, job):
                return _run_once(net, image, scale, TilePlan(tile, plan.context, plan.feather),
                                 device, dtype, job)
        except Exception as error:  # noqa: BLE001 - only OOM is handled, the rest re-raised
            if not is_out_of_memory(error) or tile <= MIN_TILE:
                raise
            free_cached_memory(device)
            tile = max(MIN_TILE, tile // 2)
            log.warning("out of memory; retrying with %d px tiles", tile)


@contextmanager
def _cancel_inside(net: Network, job: Job) -> Iterator[None]:
    """Check for cancel (and pause) before every sub-module call, not only between tiles.

    A 256 px tile of Real-ESRGAN takes seconds on a CPU; checking inside the network makes
    Cancel and closing the window answer within a fraction of a block. Only calls from this
    thread check this job: a model shared with another thread must not see our cancel.
    """
    if not isinstance(net, nn.Module):
        yield
        return
    owner = threading.get_ident()

    def hook(_module: nn.Module, _inputs: object) -> None:
        if threading.get_ident() == owner:
            job.check()

    handles = [module.register_forward_pre_hook(hook) for module in net.modules()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _run_once(net, image, scale, plan, device, dtype, job) -> np.ndarray:
    h, w, c = image.shape
    out = np.zeros((h * scale, w * scale, c), np.float32)
    ys = _cores(h, plan.tile)
    xs = _cores(w, plan.tile)
    total = len(ys) * len(xs)
    done = 0
    job.set_progress(0.0, f"tile 1/{total}")
    for y0, y1 in ys:
        wy = _weights(y0, y1, h, plan.feather, scale)
        for x0, x1 in xs:
            job.check()
            wx = _weights(x0, x1, w, plan.feather, scale)
            _process_tile(net, image, out, (y0, y1, x0, x1), (wy, wx), scale, plan, device, dtype)
            done += 1
            job.set_progress(done / total, f"tile {done}/{total}")
    return out


def _process_tile(net, image, out, core, weights, scale, plan, device, dtype) -> None:
    y0, y1, x0, x1 = core
    h, w, _ = image.shape
    f = plan.feather
    # Region written to the output: the core grown by the feather band (inside the image).
    wy0, wy1 = max(0, y0 - f), min(h, y1 + f)
    wx0, wx1 = max(0, x0 - f), min(w, x1 + f)
    # Region fed to the network: the written region grown by the context margin.
    iy0, iy1 = max(0, wy0 - plan.context), min(h, wy1 + plan.context)
    ix0, ix1 = max(0, wx0 - plan.context), min(w, wx1 + plan.context)
    patch = torch.from_numpy(np.ascontiguousarray(image[iy0:iy1, ix0:ix1].transpose(2, 0, 1)))
    with torch.inference_mode():
        result = net(patch[None].to(device=device, dtype=dtype))[0]
    result = result.float().cpu().numpy().transpose(1, 2, 0)
    oy, ox = (wy0 - iy0) * scale, (wx0 - ix0) * scale
    piece = result[oy : oy + (wy1 - wy0) * scale, ox : ox + (wx1 - wx0) * scale]
    wy, wx = weights
    piece *= wy[:, None, None]
    piece *= wx[None, :, None]
    out[wy0 * scale : wy1 * scale, wx0 * scale : wx1 * scale] += piece


def _cores(length: int, tile: int) -> list[tuple[int, int]]:
    count = max(1, math.ceil(length / tile))
    edges = [round(i * length / count) for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _weights(c0: int, c1: int, length: int, feather: int, scale: int) -> np.ndarray:
    """1-D blend weights over [c0-f, c1+f) in output pixels; neighbours sum to 1."""
    lo, hi = max(0, c0 - feather), min(length, c1 + feather)
    pos = np.arange(lo * scale, hi * scale, dtype=np.float32) + 0.5
    weight = np.ones_like(pos)
    band = 2 * feather * scale
    if band > 0 and c0 > 0:
        weight = np.minimum(weight, np.clip((pos - (c0 - feather) * scale) / band, 0, 1))
    if band > 0 and c1 < length:
        weight = np.minimum(weight, np.clip(((c1 + feather) * scale - pos) / band, 0, 1))
    return weight
