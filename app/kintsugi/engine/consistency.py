"""Consistency lock: null-space projection with pooling-based decomposition (PD).

P_down = s x s average pooling. Any correction c with P_down(c) = y - P_down(x_r) makes
P_down(x_r + c) = y exactly. The paper's choice, c = P_up(residual) (nearest replication),
adds constant s x s blocks that show as mottling in smooth skin. Here c is a bilinear
(smooth) upsampling of coefficients z solved so that P_down(bilinear(z)) equals the
residual: P_down o bilinear is a separable 3-tap filter on the low-resolution grid, whose
inverse is a short, fast-decaying filter. Clamping to [0, 1] moves block means again, so
the smooth step is repeated; what little is then left is removed by the exact block step
(constant add, clamp error handed back to each block's other pixels by headroom).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

# Rows of blocks processed at once: bounds temporaries on 50+ MP outputs.
_BAND_BLOCKS = 64
# Smooth correction rounds (each followed by a clamp); the exact block step finishes.
_SMOOTH_ROUNDS = 3
# Below this block-mean error (a hundredth of an 8-bit level) another round is not needed.
_SETTLED = 0.01 / 255
# Block-mean error the exact step leaves alone (float32 rounding of a pooled mean).
_EXACT = 5e-7
# Refinements of the low-resolution solve; the inverse filter is exact away from borders.
_SOLVE_STEPS = 4
# A block sum this close to its target (in levels) is left to the snap to level.
_SETTLE_TOLERANCE = 0.01
_INVERSE_RADIUS = 8


def pool(x: np.ndarray, s: int) -> np.ndarray:
    """s x s average pooling of an HxWxC array whose sides are multiples of s."""
    h, w, c = x.shape
    if s == 1:
        return x.astype(np.float32, copy=True)
    # OpenCV's area resampling at a whole-number factor is the block mean, ~50x numpy's.
    small = cv2.resize(np.ascontiguousarray(x, dtype=np.float32), (w // s, h // s),
                       interpolation=cv2.INTER_AREA)
    return small.reshape(h // s, w // s, c)


def project(out: np.ndarray, low: np.ndarray, s: int) -> None:
    """Make avgpool_s(out) == low and keep out in [0, 1], with a smooth correction (in place)."""
    _check_shapes(out, low, s)
    for _ in range(_SMOOTH_ROUNDS):
        residual = low - _pool_banded(out, s)
        if float(np.abs(residual).max(initial=0.0)) < _SETTLED:
            break
        _add_smooth(out, _smooth_coefficients(residual, s), s)
    _finish_exactly(out, low, s)


def _finish_exactly(out: np.ndarray, low: np.ndarray, s: int) -> None:
    """The exact block step, only on blocks whose mean is still off (after clamping)."""
    residual = np.abs(low - _pool_banded(out, s)).max(axis=2)
    rows, cols = np.nonzero(residual > _EXACT)
    if rows.size == 0:
        return
    h, w, c = out.shape
    blocks = out.reshape(h // s, s, w // s, s, c)  # a view: writing it writes `out`
    picked = blocks[rows, :, cols].astype(np.float64)  # (n, s, s, c)
    target = low[rows, cols].astype(np.float64)[:, None, None, :]
    picked += target - picked.mean(axis=(1, 2), keepdims=True)
    np.clip(picked, 0.0, 1.0, out=picked)
    _redistribute(picked, target)
    blocks[rows, :, cols] = picked.astype(np.float32)


def smooth_upsample(low: np.ndarray, s: int) -> np.ndarray:
    """The smoothest consistent enlargement: bilinear from coefficients pooling back to `low`."""
    h, w, c = low.shape
    out = np.zeros((h * s, w * s, c), np.float32)
    _add_smooth(out, _smooth_coefficients(low.astype(np.float32), s), s)
    return out


def _pool_banded(x: np.ndarray, s: int) -> np.ndarray:
    rows = x.shape[0] // s
    return np.concatenate([pool(x[r0 * s : min(rows, r0 + _BAND_BLOCKS) * s], s)
                           for r0 in range(0, rows, _BAND_BLOCKS)], axis=0)


def _taps(s: int) -> tuple[np.ndarray, np.ndarray]:
    """P_down o bilinear-upsample-by-s as a 3-tap filter [a, 1-2a, a], and its inverse."""
    offsets = (np.arange(s) + 0.5) / s - 0.5  # sub-pixel centres in low-res pixel units
    a = float(-offsets[offsets < 0].sum() / s)  # at most 1/8: diagonally dominant
    forward = np.array([a, 1 - 2 * a, a])
    if a == 0.0:
        return forward, np.array([1.0])
    b = 1 - 2 * a
    root = np.sqrt(b * b - 4 * a * a)
    rho = (root - b) / (2 * a)
    k = np.arange(-_INVERSE_RADIUS, _INVERSE_RADIUS + 1)
    return forward, rho ** np.abs(k) / root


def _filter(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    k = taps.astype(np.float32)
    return cv2.sepFilter2D(x, -1, k, k, borderType=cv2.BORDER_REPLICATE).reshape(x.shape)


def _smooth_coefficients(residual: np.ndarray, s: int) -> np.ndarray:
    """z with P_down(bilinear_s(z)) == residual (preconditioned Richardson on the low grid)."""
    forward, inverse = _taps(s)
    residual = np.ascontiguousarray(residual, dtype=np.float32)
    z = _filter(residual, inverse)
    for _ in range(_SOLVE_STEPS):  # the inverse filter ignores the replicated border
        z += _filter(residual - _filter(z, forward), inverse)
    return z


def _add_smooth(out: np.ndarray, z: np.ndarray, s: int) -> None:
    """out += bilinear_s(z), clamped to [0, 1]; band by band (one low row of overlap)."""
    rows, cols, c = z.shape
    for r0 in range(0, rows, _BAND_BLOCKS):
        r1 = min(r0 + _BAND_BLOCKS, rows)
        p0, p1 = max(0, r0 - 1), min(rows, r1 + 1)
        up = cv2.resize(z[p0:p1], (cols * s, (p1 - p0) * s), interpolation=cv2.INTER_LINEAR)
        up = up.reshape((p1 - p0) * s, cols * s, c)[(r0 - p0) * s : (r1 - p0) * s]
        band = out[r0 * s : r1 * s]
        band += up
        np.clip(band, 0.0, 1.0, out=band)


def _redistribute(blocks: np.ndarray, target: np.ndarray) -> None:
    """Give each block back the mean it lost to clamping, proportionally to headroom."""
    n = blocks.shape[1] * blocks.shape[2]
    missing = (target - blocks.mean(axis=(1, 2), keepdims=True)) * n
    room_up = (1.0 - blocks).sum(axis=(1, 2), keepdims=True)
    room_down = blocks.sum(axis=(1, 2), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(missing > 0, missing / room_up, 0.0)
        down = np.where(missing < 0, missing / room_down, 0.0)
    up = np.nan_to_num(up, nan=0.0, posinf=0.0)
    down = np.nan_to_num(down, nan=0.0, neginf=0.0)
    blocks += up * (1.0 - blocks) + down * blocks


def lock(out: np.ndarray, low: np.ndarray, s: int, bit_depth: int, means_kept: bool = False) -> None:
    """The consistency lock: exact after clamping and after saving at `bit_depth` bits.

    Snapping to the file's levels only helps when the input itself lies on them (it came
    from an 8- or 16-bit file); for other float inputs the float-exact projection is kept.
    means_kept: `out` already has the block means (to float rounding) and lies in [0, 1],
    e.g. a convex mix of locked results; only the snap to the file's levels is left.
    """
    if not means_kept:
        project(out, low, s)
    levels = 2**bit_depth - 1
    if on_levels(low, levels):
        snap_to_levels(out, low, s, levels)


def lock_to(out: np.ndarray, photo: np.ndarray, s: int, bit_depth: int) -> np.ndarray:
    """Lock a network's RGB output to the photo's own channels and return the locked pixels.

    A grey photo is locked as one channel: locking three equal channels and averaging them
    afterwards would round each separately and miss the saved file's block sums by a level.
    """
    if photo.shape[2] == 1 and out.shape[2] != 1:
        out = out.mean(axis=2, keepdims=True, dtype=np.float32)
    lock(out, photo, s, bit_depth)
    return out


def on_levels(values: np.ndarray, levels: int) -> bool:
    """True when every value is a multiple of 1/levels (came from an 8- or 16-bit file).

    float32 holds k/65535 only to ~0.002 of a level, so the test allows a hundredth.
    """
    scaled = values * np.float32(levels)  # float32 rounding adds at most 0.004 of a level
    return bool(np.abs(scaled - np.rint(scaled)).max(initial=0.0) < 0.01)


def snap_to_levels(out: np.ndarray, low: np.ndarray, s: int, levels: int) -> None:
    """Round `out` to multiples of 1/levels so each block's sum is kept (in place).

    Plain rounding when the file is written would shift block means by up to half a level;
    handing the rounding remainder to the pixels that lost most keeps avgpool(out) == low
    exactly once written, whenever `low` itself lies on the same grid (an 8- or 16-bit input).
    """
    _check_shapes(out, low, s)
    for r0 in range(0, low.shape[0], _BAND_BLOCKS):
        r1 = min(r0 + _BAND_BLOCKS, low.shape[0])
        _snap_band(out[r0 * s : r1 * s], low[r0:r1], s, levels)


def _snap_band(x: np.ndarray, y: np.ndarray, s: int, levels: int) -> None:
    """snap_planes on one band of rows (in place)."""
    dtype = level_dtype(levels, s)
    v = to_planes(x, s, levels, dtype)
    target = np.rint(y.astype(np.float64) * levels * s * s).transpose(2, 0, 1)
    from_planes(snap_planes(v, target, levels), s, levels, out=x)


# ----------------------------------------------------------------------------- block planes
# The s x s blocks of an HxWxC image as s*s planes of (C, H/s, W/s): plane k holds pixel k
# (raster order) of every block, channel by channel. Running sums over a block are then
# s*s - 1 whole-array adds, and block sums one reduction, instead of passes over tiny inner
# axes; the detail and mix sliders keep their arrays in this layout. Channels first: the
# way back to HxWxC is then ~10x faster than from (H/s, W/s, C) planes (inner runs of
# whole rows of blocks, not of C values).


def level_dtype(levels: int, s: int) -> type[np.floating[Any]]:
    """float32 while a block's running sum in levels stays exact to well under a level."""
    return np.float32 if levels * s * s < 2**16 else np.float64


def to_planes(x: np.ndarray, s: int, scale: float = 1.0,
              dtype: type[np.floating[Any]] = np.float32) -> np.ndarray:
    """HxWxC -> (s*s, C, H/s, W/s), times `scale` (in `dtype`)."""
    h, w, c = x.shape
    view = x.reshape(h // s, s, w // s, s, c).transpose(1, 3, 4, 0, 2)
    out = np.empty(view.shape, dtype)
    np.multiply(view, scale, out=out, dtype=dtype)
    return out.reshape(s * s, c, h // s, w // s)


def from_planes(planes: np.ndarray, s: int, divisor: float = 1.0,
                out: np.ndarray | None = None) -> np.ndarray:
    """(s*s, C, H/s, W/s) -> HxWxC float32, divided by `divisor` (into `out` if given)."""
    _, c, bh, bw = planes.shape
    if out is None:
        out = np.empty((bh * s, bw * s, c), np.float32)
    view = planes.reshape(s, s, c, bh, bw).transpose(3, 0, 4, 1, 2)
    np.divide(view, divisor, out=out.reshape(bh, s, bw, s, c))
    return out


def block_sums(planes: np.ndarray) -> np.ndarray:
    return planes.sum(axis=0)


def snap_planes(v: np.ndarray, target: np.ndarray, levels: int) -> np.ndarray:
    """Whole levels whose block sums are exactly `target` (new array; `v` is clipped).

    Error diffusion inside each block, in raster order: pixel k becomes rint(C_k) -
    rint(C_k-1), C the running sum of the block's values in levels, with the block's last
    running sum set to its exact target, so each pixel moves by less than one level and
    each block sums to the target. No sort: this runs on every move of a slider.
    """
    np.clip(v, 0, levels, out=v)
    running = np.empty_like(v)
    running[0] = v[0]
    for k in range(1, len(v)):
        np.add(running[k - 1], v[k], out=running[k])
    running[-1] = target
    np.rint(running, out=running)
    snapped = running  # differences of the rounded running sums, in place, last first
    for k in range(len(v) - 1, 0, -1):
        np.subtract(running[k], running[k - 1], out=snapped[k])
    # Next to saturation the carried error can want a level beyond the range; those few
    # blocks are settled by ranking instead.
    if snapped.min() < 0 or snapped.max() > levels:
        blocks = np.nonzero(((snapped < 0) | (snapped > levels)).any(axis=0))
        off: tuple[Any, ...] = (slice(None), *blocks)
        np.clip(snapped, 0, levels, out=snapped)
        rows = v[off].T  # (blocks, pixels of a block)
        picked = np.rint(rows)
        deficit = (target[blocks] - picked.sum(axis=-1)).astype(np.int64)
        _settle_deficits(picked, rows - picked, deficit, levels)
        snapped[off] = picked.T
    return snapped


def settle_planes(v: np.ndarray, target: np.ndarray, levels: int) -> None:
    """Give each block (in [0, levels]) the sum it lacks, proportionally to headroom.

    After a clamp, or a mix whose weight varies inside a block: pixels move towards the
    end of the range the block needs, each in proportion to its room, so none leaves the
    range, and a block already at its target (to a hundredth of a level) is left bit for
    bit as it was (in place).
    """
    n = len(v)
    sums = block_sums(v)
    missing = target - sums
    missing[np.abs(missing) < _SETTLE_TOLERANCE] = 0  # float rounding: the snap's to carry
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(missing > 0, missing / (n * levels - sums), 0.0)
        down = np.where(missing < 0, missing / sums, 0.0)
    up = np.clip(np.nan_to_num(up, nan=0.0, posinf=0.0), 0.0, 1.0).astype(v.dtype)
    down = np.clip(np.nan_to_num(down, nan=0.0, neginf=0.0), -1.0, 0.0).astype(v.dtype)
    # v + up (levels - v) + down v  ==  v (1 - up + down) + up levels
    v *= 1 - up + down
    v += up * levels


def _settle_deficits(snapped: np.ndarray, gap: np.ndarray, deficit: np.ndarray, levels: int) -> None:
    """Move whole levels inside each block (row) until its sum is the target (in place).

    Each pass moves one pixel of every block still off, the one rounded furthest the other
    way and not at the end of the range, so every pixel stays within one level.
    """
    sign = np.sign(deficit).astype(snapped.dtype)
    score = gap * sign[:, None]  # how much each pixel wants to move the needed way
    score[np.where(sign[:, None] > 0, snapped >= levels, snapped <= 0)] = -np.inf
    todo = np.abs(deficit)
    active = np.nonzero(todo)[0]
    while active.size:
        pick = np.argmax(score[active], axis=1)
        movable = np.isfinite(score[active, pick])
        active, pick = active[movable], pick[movable]  # a block with nowhere to go gives up
        snapped[active, pick] += sign[active]
        score[active, pick] = -np.inf
        todo[active] -= 1
        active = active[todo[active] > 0]


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
