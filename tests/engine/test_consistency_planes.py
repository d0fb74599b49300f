"""The lock's block-plane layout (what the alternatives sliders run on): the round trip is
exact; the snap gives every block its target sum in whole levels, each pixel about a level
from its value at most; the settle step restores moved block sums without leaving
[0, levels] or touching blocks already at their target."""

from __future__ import annotations

import numpy as np
import pytest

from kintsugi.engine import consistency


def blocks(rng: np.random.Generator, s: int, levels: int, c: int = 3) -> np.ndarray:
    """Values in levels, as block planes, near both ends of the range too."""
    x = rng.uniform(0, 1, (12 * s, 10 * s, c)) ** rng.choice([0.2, 1.0, 5.0], (12 * s, 10 * s, c))
    return consistency.to_planes(x.astype(np.float32), s, levels,
                                 consistency.level_dtype(levels, s))


@pytest.mark.parametrize("s", [2, 3, 4])
def test_planes_round_trip(s):
    x = np.random.default_rng(0).uniform(0, 1, (6 * s, 5 * s, 3)).astype(np.float32)
    planes = consistency.to_planes(x, s)
    assert planes.shape == (s * s, 3, 6, 5)
    np.testing.assert_array_equal(planes[1], x[0::s, 1::s].transpose(2, 0, 1))  # pixel 1
    np.testing.assert_array_equal(consistency.from_planes(planes, s), x)


@pytest.mark.parametrize("levels", [255, 65535])
@pytest.mark.parametrize("s", [2, 4])
def test_snap_reaches_the_block_sums_moving_each_pixel_about_a_level(s, levels):
    rng = np.random.default_rng(s)
    v = blocks(rng, s, levels)
    sums = consistency.block_sums(v.astype(np.float64))
    # Targets a fraction of a level away from the values' own sums, as a float mix has:
    # many round the other way than the sums themselves.
    target = np.clip(np.rint(sums + rng.uniform(-0.49, 0.49, sums.shape)), 0, s * s * levels)
    assert (target != np.rint(sums)).mean() > 0.2
    snapped = consistency.snap_planes(v.copy(), target, levels)
    assert np.array_equal(snapped, np.rint(snapped))
    np.testing.assert_array_equal(snapped.sum(axis=0, dtype=np.float64), target)
    assert np.abs(snapped - v).max() < 1.5  # a level, plus the block's remainder at the end
    assert snapped.min() >= 0 and snapped.max() <= levels


def test_settle_restores_moved_sums_inside_the_range_and_leaves_the_rest():
    levels, s = 255, 4
    v = blocks(np.random.default_rng(7), s, levels)
    target = consistency.block_sums(v.astype(np.float64))
    moved = v.copy()
    moved[:, :4] = np.clip(moved[:, :4] * 1.6 - 20, 0, levels)  # clamped at both ends
    kept = moved[:, 4:].copy()
    consistency.settle_planes(moved, target, levels)
    np.testing.assert_allclose(moved.sum(axis=0, dtype=np.float64), target, atol=0.02)
    assert moved.min() >= 0 and moved.max() <= levels
    np.testing.assert_array_equal(moved[:, 4:], kept)
