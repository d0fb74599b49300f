"""Alternatives without a network re-run (issue 8, sections 1 and 8): the invented-detail
strength and the fidelity <-> realness blend, on real photo crops and shipped models.
Each control moves the output the intended way, and a consistent input gives a consistent
output at every setting, down to the saved file's block sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kintsugi
from kintsugi.engine.alternatives import Alternatives, smooth_base
from kintsugi.engine.errors import KintsugiError

torch.set_num_threads(2)


def file_block_sums(image: kintsugi.Image, tmp_path, s: int, name: str = "out.png") -> np.ndarray:
    back = kintsugi.open_image(kintsugi.save_image(image, tmp_path / name, bit_depth=image.bit_depth))
    levels = 2**image.bit_depth - 1
    ints = np.rint(back.pixels.astype(np.float64) * levels).astype(np.int64)
    h, w, c = ints.shape
    return ints.reshape(h // s, s, w // s, s, c).sum(axis=(1, 3))


def input_sums(image: kintsugi.Image, s: int) -> np.ndarray:
    levels = 2**image.bit_depth - 1
    return np.rint(image.pixels.astype(np.float64) * levels).astype(np.int64) * s * s


def photo(rgb8: np.ndarray, kind: str = "rgb", bits: int = 8) -> kintsugi.Image:
    values = rgb8.astype(np.float64) / 255
    if kind == "gray":
        values = values @ [0.299, 0.587, 0.114]
    elif kind == "rgba":
        values = np.dstack([values, np.full(values.shape[:2], 0.6)])
    if bits == 16:
        values = values + np.random.default_rng(1).uniform(-0.002, 0.002, values.shape)
        return kintsugi.Image.from_array(np.rint(np.clip(values, 0, 1) * 65535).astype(np.uint16))
    return kintsugi.Image.from_array(np.rint(values * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def x2() -> kintsugi.Model:
    return kintsugi.load_model("rrdn-x2", device="cpu")


@pytest.fixture(scope="module")
def x2_texture() -> kintsugi.Model:
    return kintsugi.load_model("waifu2x-photo-x2", device="cpu")


@pytest.fixture(scope="module")
def face(astronaut_full) -> kintsugi.Image:
    return photo(astronaut_full[90:130, 180:220])  # eye, cheek and hair, 40x40


@pytest.fixture(scope="module")
def pair(face, x2, x2_texture) -> tuple[kintsugi.Image, kintsugi.Image]:
    """Two consistent x2 results of one photo: fidelity (RRDN) and another model."""
    return (kintsugi.upscale(face, x2, consistency=True),
            kintsugi.upscale(face, x2_texture, consistency=True))


# ---- detail strength --------------------------------------------------------------------


def test_strength_one_is_the_result_itself(face, pair):
    result = pair[0]
    assert kintsugi.adjust_detail(face, result, 1.0) is result


def test_more_detail_means_a_larger_deviation_map(face, pair):
    result = pair[0]
    means = [kintsugi.deviation_map(face, kintsugi.adjust_detail(face, result, t)).mean()
             for t in (0.0, 0.5, 1.0, 1.5, 2.0)]
    assert all(a < b for a, b in zip(means, means[1:], strict=False)), means
    assert means[-1] > 1.2 * means[0]


def test_strength_zero_is_smooth_and_consistent(face, pair, tmp_path):
    result = pair[0]
    smooth = kintsugi.adjust_detail(face, result, 0.0)
    np.testing.assert_array_equal(file_block_sums(smooth, tmp_path, 2), input_sums(face, 2))
    roughness = [np.abs(np.diff(x.pixels, axis=1)).mean() for x in (smooth, result)]
    assert roughness[0] < roughness[1]


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", ["gray", "rgb", "rgba"])
def test_every_strength_is_consistent_in_the_saved_file(kind, bits, x2, astronaut_full, tmp_path):
    image = photo(astronaut_full[100:124, 190:222], kind, bits)
    result = kintsugi.upscale(image, x2, consistency=True)
    for t in (0.0, 0.35, 1.6, 2.0):
        out = kintsugi.adjust_detail(image, result, t)
        assert (out.channels, out.bit_depth) == (image.channels, bits)
        assert (out.alpha is None) == (image.alpha is None)
        np.testing.assert_array_equal(file_block_sums(out, tmp_path, 2, f"{t}.png"),
                                      input_sums(image, 2), err_msg=f"strength {t}")


def test_an_unlocked_result_is_scaled_but_not_locked(face, x2):
    free = kintsugi.upscale(face, x2)
    half = kintsugi.adjust_detail(face, free, 0.5)
    from kintsugi.engine.consistency import pool

    error = [np.abs(pool(x.pixels, 2) - face.pixels).mean() for x in (half, free)]
    assert 0 < error[0] < error[1]


def test_detail_refuses_bad_input(face, pair):
    with pytest.raises(KintsugiError, match="between 0 and 2"):
        kintsugi.adjust_detail(face, pair[0], 2.5)
    with pytest.raises(KintsugiError, match="enlargement"):
        kintsugi.adjust_detail(pair[0], face, 0.5)


# ---- blend ------------------------------------------------------------------------------


def test_blend_end_points_are_the_two_results(pair):
    fidelity, realness = pair
    assert kintsugi.blend(fidelity, realness, 0.0) is fidelity
    assert kintsugi.blend(fidelity, realness, 1.0) is realness


def test_blend_moves_towards_realness_with_alpha(face, pair):
    fidelity, realness = pair
    gap = [np.abs(kintsugi.blend(fidelity, realness, a).pixels - realness.pixels).mean()
           for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a > b for a, b in zip(gap, gap[1:], strict=False)), gap


def test_a_mask_takes_each_pixel_from_the_side_it_names(pair):
    fidelity, realness = pair
    h, w = fidelity.height, fidelity.width
    mask = np.zeros((h, w), np.float32)
    mask[:, : w // 2 + 1] = 1.0  # realness on the left; the edge cuts through blocks
    out = kintsugi.blend(fidelity, realness, 0.0, mask=mask)
    # Whole blocks on either side are taken exactly; the lock only touches cut blocks.
    np.testing.assert_array_equal(out.pixels[:, : w // 2 - 2], realness.pixels[:, : w // 2 - 2])
    np.testing.assert_array_equal(out.pixels[:, w // 2 + 4 :], fidelity.pixels[:, w // 2 + 4 :])
    near = np.abs(out.pixels - np.where(mask[..., None] > 0, realness.pixels, fidelity.pixels))
    assert near.mean() < 0.01


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_every_blend_is_consistent_in_the_saved_file(kind, bits, x2, x2_texture, astronaut_full,
                                                       tmp_path):
    image = photo(astronaut_full[100:124, 190:222], kind, bits)
    a = kintsugi.upscale(image, x2, consistency=True)
    b = kintsugi.upscale(image, x2_texture, consistency=True)
    yy, xx = np.mgrid[0 : a.height, 0 : a.width]
    brush = np.clip(1.2 - np.hypot(yy - 20, xx - 30) / 12, 0, 1).astype(np.float32)
    for n, (alpha, mask) in enumerate(((0.3, None), (0.77, None), (0.0, brush))):
        out = kintsugi.blend(a, b, alpha, mask=mask)
        np.testing.assert_array_equal(file_block_sums(out, tmp_path, 2, f"{n}.png"),
                                      input_sums(image, 2))


def test_blend_of_unlocked_results_is_a_plain_mix(face, x2, x2_texture):
    a, b = kintsugi.upscale(face, x2), kintsugi.upscale(face, x2_texture)
    out = kintsugi.blend(a, b, 0.25)
    np.testing.assert_allclose(out.pixels, 0.75 * a.pixels + 0.25 * b.pixels, atol=1e-6)


def test_blend_refuses_different_sizes_and_bad_values(pair, face):
    with pytest.raises(KintsugiError, match="different sizes"):
        kintsugi.blend(pair[0], face, 0.5)
    with pytest.raises(KintsugiError, match="between 0 and 1"):
        kintsugi.blend(pair[0], pair[1], 1.5)
    with pytest.raises(KintsugiError, match="mask"):
        kintsugi.blend(pair[0], pair[1], 0.5, mask=np.ones((3, 3), np.float32))


# ---- the window's one-step composition and the prepared decompositions -------------------


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_every_detail_and_mix_at_once_is_consistent_in_the_saved_file(
        kind, bits, x2, x2_texture, astronaut_full, tmp_path):
    """The window composes detail and mix in one step (one lock); clamped strengths above 1
    and a painted mask included, the saved file keeps the photo's block sums."""
    image = photo(astronaut_full[100:124, 190:222], kind, bits)
    a = kintsugi.upscale(image, x2, consistency=True)
    b = kintsugi.upscale(image, x2_texture, consistency=True)
    both = Alternatives.of_photo(image, a).mixed_with(Alternatives.of_photo(image, b))
    yy, xx = np.mgrid[0 : a.height, 0 : a.width]
    brush = np.clip(1.2 - np.hypot(yy - 20, xx - 30) / 12, 0, 1).astype(np.float32)
    for n, (detail, weight) in enumerate(((0.0, 0.5), (0.4, 0.3), (1.8, 0.6), (1.3, brush))):
        out = both.at(detail, weight)
        np.testing.assert_array_equal(file_block_sums(out, tmp_path, 2, f"{n}.png"),
                                      input_sums(image, 2), err_msg=f"detail {detail}")


def test_one_step_equals_detail_then_blend(face, pair):
    """Detail and mix are linear: composing them at once gives the two-step picture (up
    to the rounding each step's lock does)."""
    a, b = pair
    both = Alternatives.of_photo(face, a).mixed_with(Alternatives.of_photo(face, b))
    for detail, alpha in ((0.5, 0.3), (0.8, 0.75)):
        steps = kintsugi.blend(kintsugi.adjust_detail(face, a, detail),
                               kintsugi.adjust_detail(face, b, detail), alpha)
        gap = np.abs(both.at(detail, alpha).pixels - steps.pixels)
        assert gap.max() <= 2.5 / 255 and gap.mean() < 0.25 / 255  # a level per lock


def test_a_prepared_result_is_not_reused_for_another(face, pair, x2, tmp_path):
    """The last preparation is kept for the next move; a different result (or pair) gets
    its own, never the kept one's pixels."""
    a, b = pair
    c = kintsugi.upscale(face, x2)  # unlocked: another result of the same size
    first = kintsugi.adjust_detail(face, a, 0.5)
    second = kintsugi.adjust_detail(face, b, 0.5)
    np.testing.assert_array_equal(second.pixels, Alternatives.of_photo(face, b).at(0.5).pixels)
    assert not np.array_equal(first.pixels, second.pixels)
    mixed = kintsugi.blend(a, b, 0.3)
    other = kintsugi.blend(a, c, 0.3)
    np.testing.assert_array_equal(other.pixels, Alternatives.of_pair(a, c).at(weight=0.3).pixels)
    assert not np.array_equal(mixed.pixels, other.pixels)


def test_a_clamped_strength_changes_only_what_it_must(x2_texture, astronaut_full, tmp_path):
    """Above 1 the detail is clamped to [0, 1]; the block sums it moved come back from the
    block's own pixels, so the picture stays close to the plain clamped mix."""
    image = photo(astronaut_full[350:390, 300:340])  # dark folds and bright highlights
    result = kintsugi.upscale(image, x2_texture, consistency=True)
    base = smooth_base(image.pixels, 2)
    mix = base + 2.0 * (result.pixels - base)
    assert ((mix < 0) | (mix > 1)).mean() > 0.01  # a strength that clamps
    out = kintsugi.adjust_detail(image, result, 2.0)
    np.testing.assert_array_equal(file_block_sums(out, tmp_path, 2), input_sums(image, 2))
    assert np.abs(out.pixels - np.clip(mix, 0, 1)).mean() < 0.5 / 255
