"""Alternatives of one result without re-running a network: invented-detail strength and
the fidelity <-> realness blend (see ../shared/METHODS.md, "Alternatives and healing").

- adjust_detail: x(t) = b + t (x - b), b a smooth result consistent with the input. Pooling
  is linear, so when x is consistent every x(t) is; t scales only the null-space detail.
- blend: (1 - a) fidelity + a realness, a a number or a per-pixel mask. Convex mixes with a
  constant a keep block means; a mask does not, so the blend is re-locked to the block means
  both results share.

Clamping to [0, 1] and rounding to the file's levels break exactness, so a consistent input
gives a re-locked output, exact in the saved 8- or 16-bit file: each block that a clamp or a
mask moved gets its sum back from its own pixels, by headroom, and the rounding to levels
carries each block's remainder (consistency.settle_planes and snap_planes).

Speed: everything that does not depend on the slider (the smooth base, each result minus
it, the lock's targets) is prepared once per photo and result (``Alternatives``) and kept
as block planes in levels, so a move is a few whole-array passes (< 50 ms for a 1 MP
result; bench/bench_alternatives.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from kintsugi.engine import consistency
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.imageio import Image

MAX_STRENGTH = 2.0
# The mix a result opens at where a faithful and a realistic model are paired (0 = faithful
# end, 1 = realistic end): 25% realness scored the best or tied-best PSNR of the mixes at
# x4 on 22 photo patches under four degradations, and looked least waxy on faces, where the
# realistic end alone paints skin (README, "Models"; bench/bench_mix.py).
DEFAULT_MIX = 0.25
# Bytes of one band of block planes composed at a time (in cache; see _grid_at).
_BAND_BYTES = 2 << 20
# Largest pooling factor searched when telling whether two results share an input.
_MAX_SCALE = 16
# Block-mean error below which a float result counts as consistent (a 16-bit level is 1.5e-5).
_FLOAT_TOLERANCE = 2e-6
# Block means of two results locked to one input agree to float rounding (or, saved and
# read back, to a fraction of a level); unlocked results differ by far more.
_MEANS_TOLERANCE = 1e-4


# ----------------------------------------------------------------------------- the API


def adjust_detail(image: Image, result: Image, strength: float) -> Image:
    """`result` with its invented (null-space) detail scaled by `strength` (0 .. 2).

    1 returns `result` itself; 0 a smooth enlargement consistent with `image`; between and
    above, the detail is scaled. When `result` is consistent with `image`, so is every
    strength, down to the saved file's s x s block sums.
    """
    strength = _checked_strength(strength)
    if strength == 1.0:
        return result
    return Alternatives.cached(image, result).at(detail=strength)


def blend(fidelity: Image, realness: Image, alpha: float, mask: np.ndarray | None = None) -> Image:
    """Mix two results of one photo: alpha 0 = `fidelity`, 1 = `realness`.

    `mask` (HxW, values 0..1) replaces alpha per pixel (a painted brush map). When both
    results are consistent with one input, so is the blend, exactly in the saved file.
    """
    _check_same_size(fidelity, realness)
    weight = _blend_weight(fidelity, alpha, mask)
    if isinstance(weight, float) and weight in (0.0, 1.0):
        return fidelity if weight == 0.0 else realness
    return Alternatives.cached_pair(fidelity, realness).at(weight=weight)


# ----------------------------------------------------------------------------- the work


@dataclass(frozen=True)
class _Lock:
    """How a mix is made consistent again: 'grid' (exact block sums in whole levels, the
    arrays kept as block planes in levels), 'float' (block means to float rounding) or
    'none' (the results were not consistent: only clamped)."""

    kind: str
    s: int = 1
    levels: int = 1  # the working unit: 1 means values in [0, 1]
    target: np.ndarray | None = None  # grid: block sums in levels; float: block means


@dataclass(frozen=True, eq=False)
class Alternatives:
    """Every alternative of one or two results of a photo, prepared once.

    x = P + t (Q_a + w (Q_b - Q_a)), P the smooth base, Q each result minus P, t the
    detail strength and w the mix (a number, or a mask per pixel). A move is then a few
    whole-array passes and the lock; with a consistent 8-bit or 16-bit result the arrays
    are kept as block planes in levels (consistency.to_planes), so the exact lock runs
    without transposing the image. A pair without its photo (``blend``) has no P: Q are
    the results themselves and t stays 1. Immutable: previews on several threads share it.
    """

    photo: Image | None
    results: tuple[Image, ...]
    lock: _Lock
    base: np.ndarray | None  # P, in the working layout
    parts: tuple[np.ndarray, ...]  # Q per result, in the working layout
    exact: bool = True  # False: never locked (a quick draft)

    # --- building ---------------------------------------------------------------------
    @classmethod
    def of_photo(cls, photo: Image, result: Image, exact: bool = True) -> Alternatives:
        """One result of `photo`: its detail strength (adjust_detail). exact=False skips
        the lock (and the check whether there is one to keep): a draft shown while a slider
        moves, replaced by the exact picture once it settles."""
        s = integer_scale(photo, result)
        if result.channels != photo.channels:
            raise KintsugiError("the result and the photo have different colour channels")
        lock = _photo_lock(photo, result, s) if exact else _Lock("none", s)
        base = smooth_base(photo.pixels, s)
        if lock.kind == "grid":
            base = consistency.to_planes(base, s, lock.levels, _dtype(lock))
        return cls(photo, (result,), lock, base, (_part(result, base, lock),), exact)

    @classmethod
    def cached(cls, photo: Image, result: Image) -> Alternatives:
        """of_photo, kept for the last pair asked (a slider moves over one result)."""
        with _cache_lock:
            hit = _cache.get("detail")
            if isinstance(hit, Alternatives) and hit.photo is photo and hit.results[0] is result:
                return hit
        made = cls.of_photo(photo, result)
        with _cache_lock:
            _cache["detail"] = made
        return made

    def with_result(self, result: Image) -> Alternatives:
        """Another result of the same photo, sharing this one's base (one base per photo)."""
        if self.photo is None or len(self.results) != 1:
            raise ValueError("with_result needs a single result's alternatives")
        integer_scale(self.photo, result)
        if (result.width, result.height) != (self.results[0].width, self.results[0].height):
            raise KintsugiError("the two results have different sizes")
        lock = _photo_lock(self.photo, result, self.lock.s) if self.exact else self.lock
        if lock.kind != self.lock.kind:
            return Alternatives.of_photo(self.photo, result)
        return Alternatives(self.photo, (result,), self.lock, self.base,
                            (_part(result, self.base, self.lock),), self.exact)

    def mixed_with(self, other: Alternatives) -> Alternatives:
        """Both results, mixed by `weight` (this one at 0, `other` at 1)."""
        if other.base is not self.base:
            if self.photo is None:
                raise ValueError("mixed_with needs alternatives of one photo")
            other = self.with_result(other.results[0])
        if other.lock.kind != self.lock.kind:  # one consistent, one not: no lock for a mix
            free = _Lock("none", self.lock.s)
            return Alternatives.of_parts(self.photo, self.results + other.results, free)
        return Alternatives(self.photo, self.results + other.results, self.lock, self.base,
                            self.parts + other.parts, self.exact)

    @classmethod
    def of_parts(cls, photo: Image | None, results: tuple[Image, ...], lock: _Lock
                 ) -> Alternatives:
        """Results kept in the image layout in [0, 1] (no grid)."""
        base = None if photo is None else smooth_base(photo.pixels, integer_scale(photo, results[0]))
        return cls(photo, results, lock, base, tuple(_part(r, base, lock) for r in results))

    @classmethod
    def of_pair(cls, fidelity: Image, realness: Image) -> Alternatives:
        """Two results without their photo (``blend``): locked to the block means they share."""
        _check_same_size(fidelity, realness)
        lock = _pair_lock(fidelity, realness)
        return cls(None, (fidelity, realness), lock, None,
                   (_part(fidelity, None, lock), _part(realness, None, lock)))

    @classmethod
    def cached_pair(cls, fidelity: Image, realness: Image) -> Alternatives:
        with _cache_lock:
            hit = _cache.get("pair")
            if (isinstance(hit, Alternatives) and hit.results[0] is fidelity
                    and hit.results[1] is realness):
                return hit
        made = cls.of_pair(fidelity, realness)
        with _cache_lock:
            _cache["pair"] = made
        return made

    # --- composing --------------------------------------------------------------------
    def at(self, detail: float = 1.0, weight: float | np.ndarray = 0.0) -> Image:
        """The alternative at detail strength `detail` and mix `weight` (a number in [0, 1]
        or an HxW map; ignored for a single result)."""
        t = _checked_strength(detail)
        if self.base is None and t != 1.0:
            raise ValueError("a pair without its photo has no detail strength")
        first = self.results[0]
        if len(self.results) == 2:
            mask = weight if isinstance(weight, np.ndarray) else None
            weight = _blend_weight(first, 0.0 if mask is not None else float(weight), mask)
        mix = weight if len(self.parts) == 2 else None
        moved = isinstance(mix, np.ndarray)
        if self.lock.kind == "grid":
            pixels = self._grid_at(t, mix, moved)
        else:
            w = mix[:, :, None] if isinstance(mix, np.ndarray) else mix
            pixels = self._free_at(_mix(t, w, self.base, self.parts), t, moved)
        alpha = first.alpha
        if len(self.results) == 2:
            alpha = _blend_alpha(first, self.results[1], weight)
        return first.replace(pixels=pixels, alpha=alpha)

    def _grid_at(self, t: float, weight: float | np.ndarray | None, moved: bool) -> np.ndarray:
        """Composed and locked band by band of block rows, into the output image.

        Every step is per block, so bands give the same picture; their temporaries stay a
        few MB, in cache, and are never big arrays to give back (freeing 200 MB holds the
        GIL ~20 ms: a stall in the window after each 16 MP composition).

        Up to strength 1 the mix is convex ((1 - t) P + t times a mix of results), so it
        stays in range but for float rounding, which the snap takes; only a stronger
        detail is looked at for clamping (two passes saved on most moves)."""
        lock = self.lock
        assert lock.target is not None
        s, top = lock.s, lock.levels
        n, c, bh, bw = self.parts[0].shape
        out = np.empty((bh * s, bw * s, c), np.float32)
        rows = max(1, _BAND_BYTES // (n * c * bw * self.parts[0].itemsize))
        for r0 in range(0, bh, rows):
            r1 = min(bh, r0 + rows)
            w = weight
            if isinstance(weight, np.ndarray):
                w = consistency.to_planes(weight[r0 * s : r1 * s, :, None], s, 1.0, _dtype(lock))
            base = None if self.base is None else self.base[:, :, r0:r1]
            v = _mix(t, w, base, tuple(part[:, :, r0:r1] for part in self.parts))
            target = lock.target[:, r0:r1]
            clamped = t > 1.0 and bool(v.min() < 0 or v.max() > top)
            if clamped:
                np.clip(v, 0, top, out=v)
            if clamped or moved:
                consistency.settle_planes(v, target, top)
            snapped = consistency.snap_planes(v, target, top)
            consistency.from_planes(snapped, s, top, out=out[r0 * s : r1 * s])
        return out

    def _free_at(self, v: np.ndarray, t: float, moved: bool) -> np.ndarray:
        """The image-layout mix clamped to [0, 1], re-projected when a float lock needs it."""
        lock = self.lock
        clamped = t > 1.0 and bool(v.min() < 0 or v.max() > 1)
        np.clip(v, 0, 1, out=v)
        if lock.kind == "float" and (clamped or moved):
            assert lock.target is not None
            consistency.project(v, lock.target, lock.s)
        return v


def _mix(t: float, w: float | np.ndarray | None, base: np.ndarray | None,
         parts: tuple[np.ndarray, ...]) -> np.ndarray:
    """P + t (Q_a + w (Q_b - Q_a)), in a new array (w None: one result, P + t Q_a)."""
    if w is None:
        v = np.multiply(parts[0], np.float32(t), dtype=parts[0].dtype)
    else:
        v = np.subtract(parts[1], parts[0])
        v *= w if isinstance(w, np.ndarray) else v.dtype.type(w)
        v += parts[0]
        if t != 1.0:
            v *= v.dtype.type(t)
    if base is not None:
        v += base
    return v


_cache: dict[str, object] = {}
_cache_lock = threading.Lock()


def _dtype(lock: _Lock) -> type[np.floating[Any]]:
    return consistency.level_dtype(lock.levels, lock.s) if lock.kind == "grid" else np.float32


def _part(result: Image, base: np.ndarray | None, lock: _Lock) -> np.ndarray:
    """result - base in the working layout (block planes in levels for the grid)."""
    if lock.kind == "grid":
        part = consistency.to_planes(result.pixels, lock.s, lock.levels, _dtype(lock))
    else:
        part = result.pixels.astype(np.float32, copy=True)
    if base is not None:
        part -= base
    return part


def _photo_lock(photo: Image, result: Image, s: int) -> _Lock:
    if not is_consistent(result.pixels, photo.pixels, s):
        return _Lock("none", s)
    levels = 2**photo.bit_depth - 1
    if consistency.on_levels(photo.pixels, levels):
        target = np.rint(photo.pixels.astype(np.float64) * levels * s * s).transpose(2, 0, 1)
        dtype = consistency.level_dtype(levels, s)
        return _Lock("grid", s, levels, np.ascontiguousarray(target, dtype=dtype))
    return _Lock("float", s, 1, photo.pixels)


def _pair_lock(a: Image, b: Image) -> _Lock:
    """The block means `a` and `b` share (their input), if they do: two results of different
    models never agree by chance on every block; the lock then takes `a`'s exact sums."""
    s = shared_scale(a.pixels, b.pixels)
    if s is None:
        return _Lock("none")
    levels = 2**a.bit_depth - 1
    if consistency.on_levels(a.pixels, levels) and consistency.on_levels(b.pixels, levels):
        return _Lock("grid", s, levels, _level_sums(a.pixels, s, levels))
    return _Lock("float", s, 1, consistency.pool(a.pixels, s))


def smooth_base(low: np.ndarray, s: int) -> np.ndarray:
    """The smoothest consistent enlargement: bilinear through coefficients that pool back
    to `low` (bicubic would carry more within-block variation than a sharp result, and
    the detail slider would then not be monotonic)."""
    base = consistency.smooth_upsample(low, s)
    consistency.project(base, low, s)  # only where the bilinear overshoot was clamped
    return base


def _checked_strength(strength: float) -> float:
    value = float(strength)
    if not 0.0 <= value <= MAX_STRENGTH:
        raise KintsugiError(f"detail strength must be between 0 and {MAX_STRENGTH:g}, not {strength}")
    return value


def _check_same_size(a: Image, b: Image) -> None:
    if (a.width, a.height) != (b.width, b.height):
        raise KintsugiError(f"cannot blend results of different sizes: {a.width}x{a.height} "
                            f"and {b.width}x{b.height}; make both at the same scale")
    if a.channels != b.channels:
        raise KintsugiError("cannot blend a grey result with a colour one")


def _blend_weight(image: Image, alpha: float, mask: np.ndarray | None) -> float | np.ndarray:
    if mask is None:
        value = float(alpha)
        if not 0.0 <= value <= 1.0:
            raise KintsugiError(f"blend alpha must be between 0 and 1, not {alpha}")
        return value
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.shape != (image.height, image.width):
        raise KintsugiError(f"the blend mask is {'x'.join(map(str, m.shape[::-1]))}, "
                            f"the results {image.width}x{image.height}")
    return np.clip(m, 0.0, 1.0)


def _blend_alpha(a: Image, b: Image, weight: float | np.ndarray) -> np.ndarray | None:
    if a.alpha is None or b.alpha is None:
        return a.alpha
    w = np.float32(weight) if isinstance(weight, float) else weight
    mixed = a.alpha + w * (b.alpha - a.alpha)
    return np.clip(mixed, 0.0, 1.0, out=mixed)


def shared_scale(a: np.ndarray, b: np.ndarray) -> int | None:
    """The smallest s whose s x s block means of `a` and `b` agree (both locked to one input).

    Two results of different models never agree by chance on every block; the relock then
    takes `a`'s exact block sums as its target.
    """
    h, w, _ = a.shape
    for s in range(2, _MAX_SCALE + 1):
        if h % s or w % s:
            continue
        if np.abs(consistency.pool(a, s) - consistency.pool(b, s)).max() < _MEANS_TOLERANCE:
            return s
    return None


def _level_sums(x: np.ndarray, s: int, levels: int) -> np.ndarray:
    """The s x s block sums of `x` in whole levels, as the saved file has them (C, H/s, W/s)."""
    planes = consistency.to_planes(x, s, levels, consistency.level_dtype(levels, s))
    return consistency.block_sums(np.rint(planes, out=planes))


# ----------------------------------------------------------------------------- helpers


def integer_scale(image: Image, result: Image) -> int:
    s = result.width // image.width
    if s < 1 or s * image.width != result.width or s * image.height != result.height:
        raise KintsugiError(f"the result ({result.width}x{result.height}) is not a whole-number "
                            f"enlargement of the photo ({image.width}x{image.height})")
    return s


def is_consistent(out: np.ndarray, low: np.ndarray, s: int) -> bool:
    """True when the s x s block means of `out` equal `low` (a locked result)."""
    levels = None
    for depth in (8, 16):
        candidate = 2**depth - 1
        if consistency.on_levels(low, candidate) and consistency.on_levels(out, candidate):
            levels = candidate
            break
    if levels is not None:
        target = np.rint(low.astype(np.float64) * levels * s * s).transpose(2, 0, 1)
        return bool(np.array_equal(_level_sums(out, s, levels), target))
    return bool(np.abs(consistency.pool(out, s) - low).max(initial=0.0) < _FLOAT_TOLERANCE)
