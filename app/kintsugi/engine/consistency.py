"""Consistency lock: null-space projection with pooling-based decomposition (PD).

P_down = s x s average pooling, P_up = nearest replication, so P_down(P_up(y)) = y.
x_hat = x_r + P_up(y - P_down(x_r)) makes P_down(x_hat) = y exactly for any x_r. Clamping
to [0, 1] afterwards would break that, so the clamp error of each s x s block is handed back
to the block's other pixels in proportion to their headroom: one exact step, no iteration.
"""

from __future__ import annotations

import numpy as np

# Rows of blocks processed at once: bounds temporaries on 50+ MP outputs.
_BAND_BLOCKS = 64


def pool(x: np.ndarray, s: int) -> np.ndarray:
    """s x s average pooling of an HxWxC array whose sides are multiples of s."""
    h, w, c = x.shape
    return x.reshape(h // s, s, w // s, s, c).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def project(out: np.ndarray, low: np.ndarray, s: int) -> None:
    """Make avgpool_s(out) == low and keep out in [0, 1]; works in place, band by band."""
    _check_shapes(out, low, s)
    for r0 in range(0, low.shape[0], _BAND_BLOCKS):
        r1 = min(r0 + _BAND_BLOCKS, low.shape[0])
        band = out[r0 * s : r1 * s]
        band[...] = _project_band(band, low[r0:r1], s)


def _project_band(x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    h, w, c = x.shape
    blocks = x.reshape(h // s, s, w // s, s, c).astype(np.float64)
    target = y.astype(np.float64)[:, None, :, None, :]
    blocks += target - blocks.mean(axis=(1, 3), keepdims=True)
    np.clip(blocks, 0.0, 1.0, out=blocks)
    _redistribute(blocks, target)
    return blocks.reshape(h, w, c).astype(np.float32)


def _redistribute(blocks: np.ndarray, target: np.ndarray) -> None:
    """Give each block back the mean it lost to clamping, proportionally to headroom."""
    n = blocks.shape[1] * blocks.shape[3]
    missing = (target - blocks.mean(axis=(1, 3), keepdims=True)) * n
    room_up = (1.0 - blocks).sum(axis=(1, 3), keepdims=True)
    room_down = blocks.sum(axis=(1, 3), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(missing > 0, missing / room_up, 0.0)
        down = np.where(missing < 0, missing / room_down, 0.0)
    up = np.nan_to_num(up, nan=0.0, posinf=0.0)
    down = np.nan_to_num(down, nan=0.0, neginf=0.0)
    blocks += up * (1.0 - blocks) + down * blocks


def lock(out: np.ndarray, low: np.ndarray, s: int, bit_depth: int) -> None:
    """The consistency lock: exact after clamping and after saving at `bit_depth` bits.

    Snapping to the file's levels only helps when the input itself lies on them (it came
    from an 8- or 16-bit file); for other float inputs the float-exact projection is kept.
    """
    project(out, low, s)
    levels = 2**bit_depth - 1
    if _on_levels(low, levels):
        snap_to_levels(out, low, s, levels)


def _on_levels(values: np.ndarray, levels: int) -> bool:
    scaled = values.astype(np.float64) * levels
    return bool(np.abs(scaled - np.rint(scaled)).max(initial=0.0) < 1e-3)


def snap_to_levels(out: np.ndarray, low: np.ndarray, s: int, levels: int) -> None:
    """Round `out` to multiples of 1/levels so each block's sum is kept (in place).

    Plain rounding when the file is written would shift block means by up to half a level;
    handing the rounding remainder to the pixels that lost most keeps avgpool(out) == low
    exactly once written, whenever `low` itself lies on the same grid (an 8- or 16-bit input).
    """
    _check_shapes(out, low, s)
    for r0 in range(0, low.shape[0], _BAND_BLOCKS):
        r1 = min(r0 + _BAND_BLOCKS, low.shape[0])
        band = out[r0 * s : r1 * s]
        band[...] = _snap_band(band, low[r0:r1], s, levels)


def _snap_band(x: np.ndarray, y: np.ndarray, s: int, levels: int) -> np.ndarray:
    h, w, c = x.shape
    # (block row, block col, channel, pixel in block)
    v = x.reshape(h // s, s, w // s, s, c).transpose(0, 2, 4, 1, 3).reshape(h // s, w // s, c, -1)
    v = np.clip(v.astype(np.float64) * levels, 0, levels)
    floor = np.floor(v)
    remainder = v - floor
    target = np.rint(y.astype(np.float64) * levels * s * s)
    missing = (target - floor.sum(axis=-1)).astype(np.int64)[..., None]
    # Rank pixels by remainder (largest first); the first `missing` of each block round up.
    rank = np.argsort(np.argsort(-remainder, axis=-1, kind="stable"), axis=-1)
    snapped = floor + (rank < missing)
    snapped = snapped.reshape(h // s, w // s, c, s, s).transpose(0, 3, 1, 4, 2).reshape(h, w, c)
    return (snapped / levels).astype(np.float32)


def deviation(out: np.ndarray, s: int) -> np.ndarray:
    """Per-pixel magnitude of the null-space part (detail invented beyond the input)."""
    h, w, c = out.shape
    result = np.empty((h, w), np.float32)
    for r0 in range(0, h // s, _BAND_BLOCKS):
        band = out[r0 * s : min(h, (r0 + _BAND_BLOCKS) * s)]
        bh = band.shape[0]
        blocks = band.reshape(bh // s, s, w // s, s, c)
        detail = blocks - blocks.mean(axis=(1, 3), keepdims=True)
        result[r0 * s : r0 * s + bh] = np.sqrt((detail**2).sum(axis=-1)).reshape(bh, w)
    return result


def _check_shapes(out: np.ndarray, low: np.ndarray, s: int) -> None:
    if out.shape[0] != low.shape[0] * s or out.shape[1] != low.shape[1] * s:
        raise ValueError(f"output {out.shape[:2]} is not {s}x the input {low.shape[:2]}")
    if out.shape[2] != low.shape[2]:
        raise ValueError("input and output channel counts differ")
