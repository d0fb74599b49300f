"""Degradations and loop options: each does what its name says."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from kintsugi.train import TrainConfig, train
from kintsugi.train.degrade import FixedDegradation, PaniniDegradation, RealESRGANDegradation
from kintsugi.train.losses import psnr
from kintsugi.train.targets import pooling_decomposition


def photo(astronaut_full) -> torch.Tensor:
    return torch.from_numpy(astronaut_full[:128, 192:320].copy()).permute(2, 0, 1)[None].float() / 255


def test_realesrgan_degradation_is_reproducible_from_the_generator_and_degrades(astronaut_full):
    hr = photo(astronaut_full)
    degrade = RealESRGANDegradation(4)
    a = degrade(hr, torch.Generator().manual_seed(1))
    b = degrade(hr, torch.Generator().manual_seed(1))
    c = degrade(hr, torch.Generator().manual_seed(2))
    assert a.shape == (1, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    clean = F.interpolate(hr, size=(32, 32), mode="area")
    assert psnr(a, clean) < 35  # blur, noise and JPEG moved it away from a clean downscale


def test_fixed_degradation_is_blurrier_and_noisier_than_bicubic(astronaut_full):
    hr = photo(astronaut_full)
    lr = FixedDegradation(2)(hr, torch.Generator().manual_seed(0))
    bicubic = F.interpolate(hr, size=(64, 64), mode="bicubic", antialias=True, align_corners=False)
    assert lr.shape == (1, 3, 64, 64)
    assert 20 < psnr(lr, bicubic.clamp(0, 1)) < 35
    stronger = FixedDegradation(2, sigma=2.0, noise=15.0, quality=20)(hr, torch.Generator().manual_seed(0))
    assert psnr(stronger, bicubic.clamp(0, 1)) < psnr(lr, bicubic.clamp(0, 1))


def test_panini_eq10_keeps_the_size_and_degrades(astronaut_full):
    hr = photo(astronaut_full)
    lq = PaniniDegradation()(hr, torch.Generator().manual_seed(3))
    assert lq.shape == hr.shape and psnr(lq, hr) < 35


def test_pooling_decomposition_pools_back_to_the_input_exactly():
    lr = torch.rand(2, 3, 8, 8)
    out = pooling_decomposition(torch.rand(2, 3, 32, 32), lr)
    torch.testing.assert_close(F.avg_pool2d(out, 4), lr, atol=1e-6, rtol=0)


def test_pooling_decomposition_option_pins_the_trained_models_output(photos, tmp_path):
    config = TrainConfig(target="rrdn", data=photos, out=tmp_path / "run", init="none", scale=2,
                         params={"C": 2, "D": 1, "G": 8, "G0": 8, "T": 1}, size=32, steps=1, batch=2,
                         device="cpu", degradation="bicubic", pooling_decomposition=True)
    result = train(config)
    from kintsugi.train.loop import make_target

    target = make_target(config)
    lr = torch.rand(1, 3, 16, 16)
    out = target.run(result.net, lr)  # type: ignore[arg-type]
    torch.testing.assert_close(F.avg_pool2d(out, 2), lr, atol=1e-5, rtol=0)


def test_cosine_schedule_lowers_the_learning_rate(photos, tmp_path):
    import json

    config = TrainConfig(target="rrdn", data=photos, out=tmp_path / "run", init="none", scale=2,
                         params={"C": 2, "D": 1, "G": 8, "G0": 8, "T": 1}, size=32, steps=4, batch=1,
                         lr=1e-3, device="cpu", degradation="bicubic", cosine=True, log_every=1)
    train(config)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in records if "pixel" in r]
    assert lrs[0] < 1e-3 and all(a > b for a, b in zip(lrs, lrs[1:], strict=False)) and lrs[-1] < 1e-6


def _edge(side: int = 48) -> torch.Tensor:
    image = torch.full((1, 3, side, side), 0.2)
    image[..., side // 2:] = 0.8
    return image


def test_sinc_filter_rings_at_an_edge_where_a_gaussian_does_not():
    from kintsugi.train.degrade import blur, gaussian_kernel, sinc_kernel

    kernel = sinc_kernel(math.pi / 3, 21)
    assert kernel.shape == (21, 21) and float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)
    rung = blur(_edge(), kernel)
    assert float(rung.max()) > 0.82 and float(rung.min()) < 0.18  # overshoot on both sides
    smooth = blur(_edge(), gaussian_kernel(2.0, 2.0, 0.0, 21))
    assert float(smooth.max()) <= 0.8 + 1e-6 and float(smooth.min()) >= 0.2 - 1e-6


def test_poisson_noise_grows_with_intensity_unlike_gaussian_noise():
    from kintsugi.train.degrade import gaussian_noise, poisson_noise

    def spread(noisy: Callable[[torch.Tensor], torch.Tensor], level: float) -> float:
        flat = torch.full((1, 3, 64, 64), level)
        return float((noisy(flat) - flat).var())

    gen = torch.Generator().manual_seed(0)
    dark = spread(lambda x: poisson_noise(x, 1.0, False, gen), 0.1)
    bright = spread(lambda x: poisson_noise(x, 1.0, False, gen), 0.8)
    assert dark > 0 and 5 < bright / dark < 11  # variance proportional to intensity (8x)
    gray = poisson_noise(torch.full((1, 3, 16, 16), 0.5), 1.0, True, gen) - 0.5
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    g_dark = spread(lambda x: gaussian_noise(x, 0.05, False, gen), 0.1)
    g_bright = spread(lambda x: gaussian_noise(x, 0.05, False, gen), 0.8)
    assert 0.8 < g_bright / g_dark < 1.25


def test_realesrgan_draws_sinc_and_poisson_at_its_default_rates(monkeypatch):
    from kintsugi.train import degrade

    calls = {"sinc": 0, "poisson": 0}

    def counted(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(degrade, "sinc_kernel", counted("sinc", degrade.sinc_kernel))
    monkeypatch.setattr(degrade, "poisson_noise", counted("poisson", degrade.poisson_noise))
    monkeypatch.setattr(degrade, "jpeg", lambda image, quality: image)  # the slow part, not under test
    model = RealESRGANDegradation(2)
    gen = torch.Generator().manual_seed(0)
    runs = 300
    for _ in range(runs):
        model(torch.rand(1, 3, 16, 16), gen)
    # Expected per run: final sinc 0.8 + stage sincs 1.0*0.1 + 0.8*0.1 = 0.98; Poisson 2 * 0.5.
    assert 0.85 < calls["sinc"] / runs < 1.1
    assert 0.85 < calls["poisson"] / runs < 1.15
