"""Alternatives of one result without re-running a network: invented-detail strength and
the fidelity <-> realness blend (see ../shared/METHODS.md, "Alternatives and healing").

- adjust_detail: x(t) = b + t (x - b), b a smooth result consistent with the input. Pooling
  is linear, so when x is consistent every x(t) is; t scales only the null-space detail.
- blend: (1 - a) fidelity + a realness, a a number or a per-pixel mask. Convex mixes with a
  constant a keep block means; a mask does not, so the blend is re-locked to the block means
  both results share.

Clamping to [0, 1] and rounding to the file's levels break exactness, so a consistent input
gives a re-locked output (consistency.lock), exact in the saved 8- or 16-bit file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from kintsugi.engine import consistency
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.imageio import Image

MAX_STRENGTH = 2.0
# Largest pooling factor searched when telling whether two results share an input.
_MAX_SCALE = 16
# Block-mean error below which a float result counts as consistent (a 16-bit level is 1.5e-5).
_FLOAT_TOLERANCE = 2e-6
# Block means of two results locked to one input agree to float rounding (or, saved and
# read back, to a fraction of a level); unlocked results differ by far more.
_MEANS_TOLERANCE = 1e-4


# ----------------------------------------------------------------------------- detail


def adjust_detail(image: Image, result: Image, strength: float) -> Image:
    """`result` with its invented (null-space) detail scaled by `strength` (0 .. 2).

    1 returns `result` itself; 0 a smooth enlargement consistent with `image`; between and
    above, the detail is scaled. When `result` is consistent with `image`, so is every
    strength, down to the saved file's s x s block sums.
    """
    strength = _checked_strength(strength)
    if strength == 1.0:
        return result
    return DetailSteps.of(image, result).at(strength)


@dataclass(frozen=True, eq=False)
class DetailSteps:
    """What adjust_detail needs for one (image, result) pair, computed once: a slider over
    it costs only a mix and the lock. The window keeps one per shown result."""

    image: Image
    result: Image
    scale: int
    base: np.ndarray  # smooth, consistent with the image
    consistent: bool

    @classmethod
    def of(cls, image: Image, result: Image) -> DetailSteps:
        with _cache_lock:
            cached = _cache.get("detail")
            if isinstance(cached, DetailSteps) and cached.result is result and cached.image is image:
                return cached
        steps = cls.compute(image, result)
        with _cache_lock:
            _cache["detail"] = steps
        return steps

    @classmethod
    def compute(cls, image: Image, result: Image) -> DetailSteps:
        s = integer_scale(image, result)
        if result.channels != image.channels:
            raise KintsugiError("the result and the photo have different colour channels")
        base = smooth_base(image.pixels, s)
        return cls(image, result, s, base, is_consistent(result.pixels, image.pixels, s))

    def at(self, strength: float) -> Image:
        strength = _checked_strength(strength)
        if strength == 1.0:
            return self.result
        # base + t (result - base), without keeping a third full-size array
        mixed = self.base * np.float32(1.0 - strength)
        mixed += np.float32(strength) * self.result.pixels
        in_range = bool(mixed.min() >= 0.0 and mixed.max() <= 1.0)  # always for 0 <= t <= 1
        if not in_range:
            np.clip(mixed, 0.0, 1.0, out=mixed)
        if self.consistent:
            consistency.lock(mixed, self.image.pixels, self.scale, self.image.bit_depth,
                             means_kept=in_range)
        return self.result.replace(pixels=mixed)


_cache: dict[str, object] = {}
_cache_lock = threading.Lock()


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


# ----------------------------------------------------------------------------- blend


def blend(fidelity: Image, realness: Image, alpha: float, mask: np.ndarray | None = None) -> Image:
    """Mix two results of one photo: alpha 0 = `fidelity`, 1 = `realness`.

    `mask` (HxW, values 0..1) replaces alpha per pixel (a painted brush map). When both
    results are consistent with one input, so is the blend, exactly in the saved file.
    """
    _check_same_size(fidelity, realness)
    weight = _blend_weight(fidelity, alpha, mask)
    if isinstance(weight, float) and weight in (0.0, 1.0):
        return fidelity if weight == 0.0 else realness
    w = np.float32(weight) if isinstance(weight, float) else weight[:, :, None]
    pixels = fidelity.pixels + w * (realness.pixels - fidelity.pixels)
    np.clip(pixels, 0.0, 1.0, out=pixels)
    _relock_blend(pixels, fidelity, realness, constant=isinstance(weight, float))
    return fidelity.replace(pixels=pixels, alpha=_blend_alpha(fidelity, realness, weight))


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


def _relock_blend(pixels: np.ndarray, a: Image, b: Image, constant: bool) -> None:
    """Re-lock the blend to the block means `a` and `b` share (their input), if they do.

    A constant alpha keeps the means already (a convex mix inside [0, 1]): only the snap to
    the file's levels is left. A painted mask moves them, so it is projected first.
    """
    levels = 2**a.bit_depth - 1
    on_grid = consistency.on_levels(a.pixels, levels) and consistency.on_levels(b.pixels, levels)
    s = shared_scale(a.pixels, b.pixels)
    if s is None:
        return
    target = consistency.pool(a.pixels, s)
    if not constant:
        consistency.project(pixels, target, s)
    if on_grid:
        consistency.snap_to_levels(pixels, target, s, levels)


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


def _block_sums(x: np.ndarray, s: int, levels: int) -> np.ndarray:
    h, w, c = x.shape
    ints = np.rint(x * np.float32(levels)).astype(np.int64)
    return ints.reshape(h // s, s, w // s, s, c).sum(axis=(1, 3))


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
        sums = _block_sums(out, s, levels)
        return bool(np.array_equal(sums, np.rint(low.astype(np.float64) * levels * s * s)))
    return bool(np.abs(consistency.pool(out, s) - low).max(initial=0.0) < _FLOAT_TOLERANCE)
