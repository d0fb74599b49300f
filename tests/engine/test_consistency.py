import numpy as np
import pytest

from kintsugi.engine import consistency


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("s", [2, 3, 4, 8])
def test_projection_is_exact_and_stays_in_range(s):
    rng = np.random.default_rng(s)
    low = rng.random((9, 7, 3), dtype=np.float32)
    # A backbone output that is wrong everywhere and far out of range.
    out = rng.normal(0.5, 0.8, (9 * s, 7 * s, 3)).astype(np.float32)
    consistency.project(out, low, s)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert _psnr(low, consistency.pool(out, s)) > 100


def test_projection_keeps_detail_that_was_already_consistent():
    rng = np.random.default_rng(1)
    out = rng.uniform(0.2, 0.8, (16, 16, 3)).astype(np.float32)
    low = consistency.pool(out, 4)
    before = out.copy()
    consistency.project(out, low, 4)
    assert np.abs(out - before).max() < 1e-6


def test_projection_of_saturated_blocks():
    low = np.array([[[0.0, 1.0, 0.5]]], np.float32)
    out = np.full((4, 4, 3), 0.3, np.float32)
    consistency.project(out, low, 4)
    np.testing.assert_allclose(out[..., 0], 0.0, atol=1e-7)
    np.testing.assert_allclose(out[..., 1], 1.0, atol=1e-7)
    np.testing.assert_allclose(consistency.pool(out, 4), low, atol=1e-7)


def test_deviation_is_zero_for_flat_blocks_and_grows_with_detail():
    flat = np.repeat(np.repeat(np.random.rand(4, 4, 3).astype(np.float32), 2, 0), 2, 1)
    assert consistency.deviation(flat, 2).max() < 1e-6
    noisy = flat + np.random.normal(0, 0.1, flat.shape).astype(np.float32)
    noisier = flat + np.random.normal(0, 0.3, flat.shape).astype(np.float32)
    assert consistency.deviation(noisier, 2).mean() > consistency.deviation(noisy, 2).mean() > 0.01


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        consistency.project(np.zeros((8, 8, 3), np.float32), np.zeros((3, 4, 3), np.float32), 2)


@pytest.mark.parametrize("levels", [255, 65535])
def test_snapping_to_file_levels_keeps_block_sums_exactly(levels):
    rng = np.random.default_rng(levels)
    low = np.round(rng.random((6, 5, 3)) * levels).astype(np.float32) / levels
    low[0, 0] = [0.0, 1.0, 0.5]  # saturated blocks too
    out = rng.normal(0.5, 0.4, (24, 20, 3)).astype(np.float32)
    consistency.project(out, low, 4)
    before = out.copy()
    consistency.snap_to_levels(out, low, 4, levels)
    as_ints = np.rint(out.astype(np.float64) * levels)
    np.testing.assert_allclose(out * levels, as_ints, atol=1e-3)  # on the grid
    assert np.abs(out - before).max() <= 1.0 / levels + 1e-6  # moved by at most one level
    pooled = as_ints.reshape(6, 4, 5, 4, 3).sum(axis=(1, 3))
    np.testing.assert_array_equal(pooled, np.rint(low.astype(np.float64) * levels * 16))


def test_lock_snaps_only_inputs_that_came_from_a_file():
    rng = np.random.default_rng(7)
    quantized = np.round(rng.random((4, 4, 3)) * 255).astype(np.float32) / 255
    free_float = rng.random((4, 4, 3)).astype(np.float32)
    for low, snapped in ((quantized, True), (free_float, False)):
        out = rng.random((16, 16, 3)).astype(np.float32)
        consistency.lock(out, low, 4, 8)
        on_grid = np.abs(out * 255 - np.rint(out * 255)).max() < 1e-3
        assert on_grid == snapped
        assert _psnr(low, consistency.pool(out, 4)) > 100
