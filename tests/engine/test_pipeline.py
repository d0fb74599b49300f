"""The upscale pipeline on the shipped default model and real photo crops."""

import numpy as np
import pytest
from PIL import Image as PILImage

import kintsugi
from kintsugi.engine.consistency import pool
from kintsugi.engine.errors import Cancelled, KintsugiError


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def model(test_device):
    # fp32: these tests pin reference behaviour; test_precision covers the others.
    return kintsugi.load_model("realesrgan-x4plus", device=test_device, precision="fp32")


@pytest.fixture
def face(astronaut_full):
    return kintsugi.Image.from_array(astronaut_full[200:232, 180:212])  # eyes and nose, 32x32


def test_default_model_upscales_a_real_photo(model, face):
    out = kintsugi.upscale(face, model)
    assert (out.width, out.height, out.channels) == (128, 128, 3)
    assert 0.0 <= out.pixels.min() and out.pixels.max() <= 1.0
    # The result shrunk back resembles the input, but is not the nearest-neighbour blow-up.
    assert psnr(pool(out.pixels, 4), face.pixels) > 25
    blocky = np.repeat(np.repeat(face.pixels, 4, 0), 4, 1)
    assert psnr(out.pixels, blocky) < 40


def test_consistency_lock_reaches_100_db_and_moves_towards_the_input(model, face):
    free = kintsugi.upscale(face, model)
    locked = kintsugi.upscale(face, model, consistency=True)
    assert psnr(pool(locked.pixels, 4), face.pixels) >= 100
    assert psnr(pool(free.pixels, 4), face.pixels) < 60
    # The lock corrects, it does not repaint: the two results stay close.
    assert psnr(locked.pixels, free.pixels) > 30


def test_consistency_survives_a_16_bit_file(model, face, tmp_path):
    src16 = kintsugi.Image.from_array((face.pixels * 65535).round().astype(np.uint16))
    out = kintsugi.upscale(src16, model, consistency=True)
    path = kintsugi.save_image(out, tmp_path / "locked.png", bit_depth=16)
    back = kintsugi.open_image(path)
    assert back.bit_depth == 16
    assert psnr(pool(back.pixels, 4), src16.pixels) >= 100


def test_tiled_equals_untiled_within_one_level(model, astronaut_full):
    img = kintsugi.Image.from_array(astronaut_full[200:248, 180:236])
    whole = kintsugi.upscale(img, model, tile=10_000)
    tiled = kintsugi.upscale(img, model, tile=24)
    assert np.abs(whole.pixels - tiled.pixels).max() <= 1 / 255


def test_scale_option_changes_the_size(model, face):
    assert kintsugi.upscale(face, model, scale=2).width == 64
    assert kintsugi.upscale(face, model, scale=3).height == 96


@pytest.mark.slow
def test_scale_beyond_the_model_runs_it_twice(model, astronaut_full):
    small = kintsugi.Image.from_array(astronaut_full[210:222, 190:202])
    out = kintsugi.upscale(small, model, scale=8, consistency=True)
    assert out.width == 96
    assert psnr(pool(out.pixels, 8), small.pixels) >= 100


def test_gray_stays_gray_and_alpha_is_kept(model, face):
    gray = kintsugi.Image.from_array((face.pixels.mean(axis=2) * 255).astype(np.uint8))
    out = kintsugi.upscale(gray, model)
    assert out.channels == 1 and out.width == 128
    rgba = np.dstack([(face.pixels * 255).astype(np.uint8),
                      np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1))])
    out = kintsugi.upscale(kintsugi.Image.from_array(rgba), model)
    assert out.alpha is not None and out.alpha.shape == (128, 128)
    # The alpha ramp survives: left edge transparent, right edge opaque.
    assert out.alpha[:, :4].mean() < 0.05 and out.alpha[:, -4:].mean() > 0.95


def test_cancel_raises_cancelled(model, face):
    job = kintsugi.Job()
    job.cancel()
    with pytest.raises(Cancelled):
        kintsugi.upscale(face, model, job=job)


def test_progress_reaches_one(model, face):
    seen = []
    kintsugi.upscale(face, model, tile=16, job=kintsugi.Job(lambda f, m: seen.append(f)))
    assert seen[-1] == 1.0 and len(seen) >= 4


def test_bad_arguments_are_typed_errors(model, face):
    with pytest.raises(KintsugiError):
        kintsugi.upscale(face, model, scale=0)
    with pytest.raises(KintsugiError):
        kintsugi.upscale(face, model, tile=4)


def test_deviation_map_shows_invented_detail(model, face):
    out = kintsugi.upscale(face, model)
    dev = kintsugi.deviation_map(face, out)
    assert dev.shape == (128, 128) and dev.dtype == np.float32 and dev.min() >= 0
    blocky = face.replace(pixels=np.repeat(np.repeat(face.pixels, 4, 0), 4, 1))
    assert kintsugi.deviation_map(face, blocky).max() < 1e-6
    assert dev.mean() > 0.001
    # Texture invented in one corner shows up there and nowhere else.
    textured = out.pixels.copy()
    textured[:32, :32] += np.random.default_rng(0).normal(0, 0.1, (32, 32, 3)).astype(np.float32)
    dev2 = kintsugi.deviation_map(face, out.replace(pixels=textured))
    assert dev2[:32, :32].mean() > 5 * dev[:32, :32].mean()
    np.testing.assert_allclose(dev2[32:, 32:], dev[32:, 32:])


def test_provenance_names_the_model(model):
    note = kintsugi.upscale_note(model.info.id, 4, True)
    assert note["model"] == "realesrgan-x4plus" and note["consistency"] == "on"
    assert note["software"].startswith("Kintsugi ")


def test_a_non_upscaler_is_refused_clearly(face):
    detector = kintsugi.load_model("retinaface-mobilenet0.25", device="cpu")
    with pytest.raises(KintsugiError, match="not an upscaler"):
        kintsugi.upscale(face, detector)


def test_consistency_is_exact_in_an_8_bit_file(model, face, tmp_path):
    out = kintsugi.upscale(face, model, consistency=True)
    back = np.asarray(PILImage.open(kintsugi.save_image(out, tmp_path / "locked.png")), np.int64)
    sums = back.reshape(32, 4, 32, 4, 3).sum(axis=(1, 3))
    np.testing.assert_array_equal(sums, np.asarray(face.to_uint(8), np.int64) * 16)
