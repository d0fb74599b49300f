"""The consistency lock as users meet it, on real photos with the shipped models:
exact in the saved file for grey, RGB and RGBA photos at 8 and 16 bits (upscale and restore),
and smooth: no s x s blocks in what it changes (issue 7, section 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from torch import nn

import kintsugi
from kintsugi.archs import ArchSpec
from kintsugi.archs.panini import Panini
from kintsugi.engine.registry import Model, ModelInfo
from kintsugi.engine.restore import restore

torch.set_num_threads(2)


def block_jump_ratio(diff: np.ndarray, s: int) -> float:
    """Mean |jump| between neighbours across s x s block boundaries over the mean inside."""
    d = np.asarray(diff, np.float64)
    dx, dy = np.abs(np.diff(d, axis=1)), np.abs(np.diff(d, axis=0))
    edge_x = np.arange(dx.shape[1]) % s == s - 1
    edge_y = np.arange(dy.shape[0]) % s == s - 1
    across = np.concatenate([dx[:, edge_x].ravel(), dy[edge_y].ravel()]).mean()
    inside = np.concatenate([dx[:, ~edge_x].ravel(), dy[~edge_y].ravel()]).mean()
    return float(across / inside)


def saved_block_sums(image: kintsugi.Image, path, s: int) -> tuple[np.ndarray, np.ndarray]:
    """(block sums of the saved file, the input's values times s*s), colour channels only."""
    back = kintsugi.open_image(kintsugi.save_image(image, path, bit_depth=image.bit_depth))
    levels = 2**image.bit_depth - 1
    ints = np.rint(back.pixels.astype(np.float64) * levels).astype(np.int64)
    h, w, c = ints.shape
    return ints.reshape(h // s, s, w // s, s, c).sum(axis=(1, 3)), levels


def variant(rgb8: np.ndarray, kind: str, bits: int) -> kintsugi.Image:
    """A grey, RGB or RGBA photo at 8 or 16 bits (16-bit values off the 8-bit grid)."""
    values = rgb8.astype(np.float64) / 255
    if kind == "gray":
        values = values @ [0.299, 0.587, 0.114]
    elif kind == "rgba":
        ramp = np.linspace(0.2, 1.0, values.shape[1])[None, :, None]
        values = np.dstack([values, np.broadcast_to(ramp[..., 0], values.shape[:2])])
    if bits == 16:
        noise = np.random.default_rng(3).uniform(-0.002, 0.002, values.shape)
        return kintsugi.Image.from_array(np.rint(np.clip(values + noise, 0, 1) * 65535).astype(np.uint16))
    return kintsugi.Image.from_array(np.rint(values * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def x2_model() -> Model:
    return kintsugi.load_model("waifu2x-photo-x2", device="cpu")


@pytest.fixture(scope="module")
def default_model() -> Model:
    return kintsugi.load_model(kintsugi.default_model_id(), device="cpu")


@pytest.fixture(scope="module")
def tiny_panini() -> Model:
    """A tiny random Panini (x2 aligned crops 32 -> 64): shape and wiring, not quality."""
    params = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "max_channels": 8, "growth": 8,
              "lce_channels": 8, "in_size": 32, "rrdb_channels": 8, "num_rrdbs": 1,
              "head_channels": (8,), "dre_channels": (8, 8, 16)}
    torch.manual_seed(0)
    net = Panini("mfr", **params).eval().requires_grad_(False)
    from kintsugi.archs import arch_by_id

    spec = arch_by_id("panini")
    info = ModelInfo(id="tiny-panini", name="tiny", arch="panini", kind=spec.kind, scale=2,
                     params={**params, "variant": "mfr", "scale": 2})
    return Model(info, spec, net, torch.device("cpu"))


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", ["gray", "rgb", "rgba"])
def test_upscale_lock_is_exact_in_the_saved_file(kind, bits, x2_model, astronaut_full, tmp_path):
    image = variant(astronaut_full[180:220, 170:214], kind, bits)
    out = kintsugi.upscale(image, x2_model, consistency=True)
    assert out.channels == image.channels and out.bit_depth == bits
    sums, levels = saved_block_sums(out, tmp_path / "locked.png", 2)
    expected = np.rint(image.pixels.astype(np.float64) * levels).astype(np.int64) * 4
    np.testing.assert_array_equal(sums, expected)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_restore_lock_is_exact_in_the_saved_file(kind, bits, tiny_panini, astronaut_full, tmp_path):
    image = variant(astronaut_full[60:188:4, 170:298:4], kind, bits)  # a 32x32 face crop
    out = restore(image, tiny_panini, faces=None, consistency=True)
    sums, levels = saved_block_sums(out, tmp_path / "restored.png", 2)
    expected = np.rint(image.pixels.astype(np.float64) * levels).astype(np.int64) * 4
    np.testing.assert_array_equal(sums, expected)


def test_grey_lock_was_off_by_a_level_when_run_on_three_channels(x2_model, astronaut_full, tmp_path):
    """The fault as reported: an 8-bit grey portrait, its saved block sums (was ~3% off)."""
    gray = variant(astronaut_full[100:164, 150:214], "gray", 8)
    out = kintsugi.upscale(gray, x2_model, consistency=True)
    back = np.asarray(PILImage.open(kintsugi.save_image(out, tmp_path / "g.png")), np.int64)
    sums = back.reshape(64, 2, 64, 2).sum(axis=(1, 3))
    np.testing.assert_array_equal(sums, np.asarray(gray.to_uint(8)[..., 0], np.int64) * 4)


def test_lock_adds_no_visible_blocks_to_a_portrait(default_model, astronaut_full):
    """The correction the lock adds must be smooth: jumps across block edges no larger
    than inside blocks (constant-block corrections gave 15.4x on this crop)."""
    face = kintsugi.Image.from_array(astronaut_full[80:112, 190:222])  # cheek, eye, skin
    free = kintsugi.upscale(face, default_model)
    locked = kintsugi.upscale(face, default_model, consistency=True)
    ratio = block_jump_ratio(locked.pixels - free.pixels, 4)
    assert ratio <= 1.5, ratio
    assert np.abs(kintsugi.deviation_map(face, locked).mean() - kintsugi.deviation_map(face, free).mean()) < 0.01


class SharpeningFace(nn.Module):
    """A face "restorer" that does what real ones do to block means: enlarges x4, sharpens
    and shifts the tone a little, so the lock has a realistic correction to make."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.in_size, self.out_size, self.scale = size, 4 * size, 4
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
        soft = nn.functional.avg_pool2d(up, 9, stride=1, padding=4, count_include_pad=False)
        return up + 0.5 * (up - soft) + 0.03 + self.anchor


def test_restore_lock_adds_no_visible_blocks(astronaut_full):
    """Constant-block corrections gave 5.2 here. (At x2 the block means of interpolating
    models miss by a high-pass image of the photo, whose smoothest correction is itself
    blocky: 1.6 with this lock, 3.8 for the least-gradient-energy correction, 3.8 before.)"""
    net = SharpeningFace(32).eval()
    spec = ArchSpec(id="sharpen", kind="face-restorer", build=lambda **_: net,
                    detect=lambda _: False, params_from_state=lambda _: {})
    info = ModelInfo(id="sharpen", name="sharpen", arch="sharpen", kind="face-restorer", scale=4,
                     params={"in_size": 32, "out_size": 128})
    model = Model(info, spec, net, torch.device("cpu"))
    crop = kintsugi.Image.from_array(astronaut_full[60:188:4, 170:298:4])
    free = restore(crop, model, faces=None)
    locked = restore(crop, model, faces=None, consistency=True)
    assert np.abs(locked.pixels - free.pixels).mean() > 0.01  # the lock had work to do
    assert block_jump_ratio(locked.pixels - free.pixels, 4) <= 1.5


def test_smooth_lock_is_exact_where_values_saturate():
    """Clamping near 0 and 1 moves block means; the exact step must still finish the job."""
    rng = np.random.default_rng(5)
    low = np.clip(rng.normal(0.5, 0.45, (12, 10, 3)), 0, 1).astype(np.float32)
    low[:3] = 1.0
    low[-2:, :, 1] = 0.0
    out = np.clip(rng.normal(0.5, 0.6, (48, 40, 3)), -0.2, 1.2).astype(np.float32)
    from kintsugi.engine import consistency

    consistency.project(out, low, 4)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(consistency.pool(out, 4) - low).max() < 1e-6
