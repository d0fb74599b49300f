"""Tiled inference that really bounds memory.

Tiles are cut from the image in CPU memory and moved to the device one at a time. Each tile
gets `context` input pixels of margin so the network sees its neighbourhood, and neighbouring
tiles overlap by a feather band whose linear weights sum to exactly 1 (a partition of unity),
so no weight buffer is needed and seams vanish. On out-of-memory the failed tile's tensors
are dropped, the device cache emptied, the tile halved and the image restarted; any other
error is re-raised unchanged.

Progress moves inside a tile too: the per-module hooks that check cancel also count the
network's module calls against a count taken on a small probe input.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

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


# Share of the free device memory a tile's activations may take (the rest: weights, the
# allocator's fragmentation, other programs).
MEMORY_SHARE = 0.5
# CPU and MPS: activations of one tile may take this much (RRDBNet x4 then gets ~250 px
# tiles, its peak ~1 GB); larger tiles than CPU_TILE_MAX cost memory but gain no speed.
CPU_ACTIVATION_BUDGET = 512 * 2**20
CPU_TILE_MAX = 512
PROBE_SIDE = 64  # input side of the memory probes
COUNT_SIDE = 16  # input side of the call-counting probe (cheap: ~1/250 of a 256 px tile)
# Per network: activation bytes per output pixel, by (device type, dtype).
_bytes_per_pixel: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, torch.dtype], float]] = (
    weakref.WeakKeyDictionary())
_calls: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, torch.dtype], int]] = (
    weakref.WeakKeyDictionary())


def auto_tile(net: Network, device: torch.device, dtype: torch.dtype, scale: int) -> int:
    """Largest tile (input px) whose activations fit the memory set aside for them.

    Each network's own activation bytes per output pixel are measured once (cached per
    network), so a wide GAN decoder and a thin waifu2x get tiles fitted to each rather than
    one formula tuned for RRDBNet: on CUDA by a probe forward against the free memory, on
    CPU and MPS by tracing the forward on the meta device (no memory, no arithmetic).
    """
    if device.type == "cuda":
        per_pixel = _measured_bytes_per_pixel(net, device, dtype, scale)
        free, _total = torch.cuda.mem_get_info(device)
        return tile_for_budget(free * MEMORY_SHARE, per_pixel, scale)
    if not isinstance(net, nn.Module):
        return CPU_TILE_MAX // 2
    per_pixel = _traced_bytes_per_pixel(net, dtype, scale)
    return min(CPU_TILE_MAX, tile_for_budget(CPU_ACTIVATION_BUDGET, per_pixel, scale))


def tile_for_budget(budget_bytes: float, bytes_per_output_pixel: float, scale: int) -> int:
    """The square input tile whose output activations take about `budget_bytes`."""
    side = math.sqrt(budget_bytes / max(bytes_per_output_pixel, 1.0)) / scale
    return max(MIN_TILE, int(side))


def _measured_bytes_per_pixel(net: Network, device: torch.device, dtype: torch.dtype, scale: int) -> float:
    known = _bytes_per_pixel.setdefault(net, {}) if isinstance(net, nn.Module) else {}
    if (device.type, dtype) in known:
        return known[(device.type, dtype)]
    probe = torch.rand(1, 3, PROBE_SIDE, PROBE_SIDE, device=device, dtype=dtype)
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode():
        net(probe)
    peak = torch.cuda.max_memory_allocated(device) - base
    per_pixel = peak / float((PROBE_SIDE * scale) ** 2)
    log.debug("activations: %.0f bytes per output pixel", per_pixel)
    known[(device.type, dtype)] = per_pixel
    return per_pixel


def _traced_bytes_per_pixel(net: nn.Module, dtype: torch.dtype, scale: int) -> float:
    """Peak bytes of live tensors per output pixel in one forward, traced on the meta device.

    The plain (unfused) path runs there, which holds more at once than the fused CPU path:
    the estimate errs on the safe side.
    """
    known = _bytes_per_pixel.setdefault(net, {})
    if ("meta", dtype) in known:
        return known[("meta", dtype)]
    meta = {name: torch.empty_like(t, device="meta", dtype=dtype if t.is_floating_point() else t.dtype)
            for name, t in [*net.named_parameters(), *net.named_buffers()]}
    probe = torch.empty(1, 3, PROBE_SIDE, PROBE_SIDE, device="meta", dtype=dtype)
    tracker = _LiveBytes()
    try:
        with torch.inference_mode(), tracker:
            functional_call(net, meta, (probe,))
    except Exception as error:  # noqa: BLE001 - an estimate only: fall back to a plain guess
        log.debug("cannot trace activations (%s); assuming RRDBNet's", error)
        return _RRDBNET_BYTES_PER_PIXEL * torch.finfo(dtype).bits / 32
    per_pixel = tracker.peak / float((PROBE_SIDE * scale) ** 2)
    known[("meta", dtype)] = per_pixel
    return per_pixel


# fp32 RRDBNet x4 traced as above; the guess for networks that cannot be traced.
_RRDBNET_BYTES_PER_PIXEL = 528.0


class _LiveBytes(TorchDispatchMode):
    """Counts the bytes of tensor storages alive during a forward, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                self._count(tensor.untyped_storage())
        return out

    def _count(self, storage: torch.UntypedStorage) -> None:
        key = id(storage)
        if key in self._seen:
            return
        self._seen.add(key)
        size = storage.nbytes()
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, key, size)

    def _free(self, key: int, size: int) -> None:
        self.live -= size
        self._seen.discard(key)


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
            with _watched(net, job, _calls_per_forward(net, image, device, dtype)) as meter:
                return _run_once(net, image, scale, TilePlan(tile, plan.context, plan.feather),
                                 device, dtype, job, meter)
        except Exception as error:  # noqa: BLE001 - only OOM is handled, the rest re-raised
            if not is_out_of_memory(error) or tile <= MIN_TILE:
                raise
        # Out of the except block: the error's traceback, which holds the failed tile's
        # frames and so its device tensors, is gone; only now can the cache give them back.
        free_cached_memory(device)
        tile = max(MIN_TILE, tile // 2)
        log.warning("out of memory; retrying with %d px tiles", tile)


class _Meter:
    """Counts this run's module calls; reports the fraction of the current tile done."""

    def __init__(self, job: Job, per_forward: int) -> None:
        self.job = job
        self.per_forward = per_forward
        self.calls = 0
        self.tile_start = 0.0
        self.tile_share = 0.0
        self.message = ""
        self.reported = -1.0

    def start_tile(self, start: float, share: float, message: str) -> None:
        self.calls, self.tile_start, self.tile_share, self.message = 0, start, share, message
        self.report(start)

    def called(self) -> None:
        self.calls += 1
        if self.per_forward > 0:
            inside = min(self.calls / self.per_forward, 0.99)  # the tile's end is reported after
            self.report(self.tile_start + self.tile_share * inside)

    def report(self, fraction: float) -> None:
        if fraction > self.reported:  # never repeat or go back: bars and ETAs stay sane
            self.reported = fraction
            self.job.set_progress(fraction, self.message)


def _calls_per_forward(net: Network, image: np.ndarray, device: torch.device, dtype: torch.dtype) -> int:
    """Module calls in one forward, counted once per network, device type and dtype on a
    small crop (the fused CPU path calls fewer modules); 0 when it cannot be counted."""
    if not isinstance(net, nn.Module):
        return 0
    known = _calls.setdefault(net, {})
    key = (device.type, dtype)
    if key not in known:
        known[key] = _count_calls(net, image, device, dtype)
    return known[key]


def _count_calls(net: nn.Module, image: np.ndarray, device: torch.device, dtype: torch.dtype) -> int:
    count = [0]
    owner = threading.get_ident()

    def hook(_module: nn.Module, _inputs: object) -> None:
        if threading.get_ident() == owner:
            count[0] += 1

    crop = image[:COUNT_SIDE, :COUNT_SIDE]
    patch = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]
    handles = [module.register_forward_pre_hook(hook) for module in net.modules()]
    try:
        with torch.inference_mode():
            net(patch.to(device=device, dtype=dtype))
    except Exception as error:  # noqa: BLE001 - a probe only: progress falls back to per tile
        log.debug("cannot count module calls (%s); progress per tile only", error)
        return 0
    finally:
        for handle in handles:
            handle.remove()
    return count[0]


@contextmanager
def _watched(net: Network, job: Job, per_forward: int) -> Iterator[_Meter]:
    """Check for cancel (and pause) before every sub-module call, not only between tiles,
    and count the calls for progress inside a tile.

    A 256 px tile of Real-ESRGAN takes seconds on a CPU; checking inside the network makes
    Cancel and closing the window answer within a fraction of a block. Only calls from this
    thread check this job: a model shared with another thread must not see our cancel.
    """
    meter = _Meter(job, per_forward)
    if not isinstance(net, nn.Module):
        yield meter
        return
    owner = threading.get_ident()

    def hook(_module: nn.Module, _inputs: object) -> None:
        if threading.get_ident() == owner:
            job.check()
            meter.called()

    handles = [module.register_forward_pre_hook(hook) for module in net.modules()]
    try:
        yield meter
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def cancel_inside(net: Network, job: Job) -> Iterator[None]:
    """Cancel (and pause) checked before every sub-module call of `net` made on this thread,
    for networks run whole rather than tiled (face restorers)."""
    with _watched(net, job, 0):
        yield


def _run_once(net, image, scale, plan, device, dtype, job, meter: _Meter) -> np.ndarray:
    h, w, c = image.shape
    out = np.zeros((h * scale, w * scale, c), np.float32)
    ys = _cores(h, plan.tile)
    xs = _cores(w, plan.tile)
    total = len(ys) * len(xs)
    done = 0
    for y0, y1 in ys:
        wy = _weights(y0, y1, h, plan.feather, scale)
        for x0, x1 in xs:
            job.check()
            meter.start_tile(done / total, 1 / total, f"tile {done + 1}/{total}")
            wx = _weights(x0, x1, w, plan.feather, scale)
            _process_tile(net, image, out, (y0, y1, x0, x1), (wy, wx), scale, plan, device, dtype)
            done += 1
            meter.report(done / total)
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
