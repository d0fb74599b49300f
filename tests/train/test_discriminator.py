"""StyleGAN2's discriminator as the GAN-prior papers train it: FIR blur on down-sampling,
equalised learning rate, lazy R1 regularisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kintsugi.train.discriminator import (
    Blur,
    ConvLayer,
    Discriminator,
    EqualConv2d,
    optimizer,
    train_step,
)


def test_blur_kernel_is_normalised_and_down_sampling_is_low_passed():
    disc = Discriminator(16, width=0.02)
    blurs = [m for m in disc.modules() if isinstance(m, Blur)]
    assert len(blurs) == 2 * 2  # conv2 and skip of each of the two blocks 16 -> 8 -> 4
    for blur in blurs:
        assert float(blur.kernel.sum()) == pytest.approx(1.0)
        assert torch.equal(blur.kernel, blur.kernel.t())  # separable [1, 3, 3, 1] outer product
    # A pixel-wide checkerboard (the highest frequency) is what the FIR filter removes
    # before the stride-2 conv: without it the decimated pattern would alias to a constant.
    layer = ConvLayer(1, 1, 3, down=True, activate=False)
    with torch.no_grad():
        layer[1].weight.fill_(1.0)
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2
    out = layer(checker.float()[None, None]).detach()
    assert out.shape[-1] == 8
    assert float(out[..., 2:-2, 2:-2].std()) < 1e-5  # interior is flat: the pattern was filtered out


def test_equalised_learning_rate_scales_weights_at_run_time():
    conv = EqualConv2d(64, 8, 3)
    assert 0.9 < float(conv.weight.detach().std()) < 1.1  # stored N(0, 1), not He-initialised
    x = torch.randn(2, 64, 8, 8)
    expected = F.conv2d(x, conv.weight / math.sqrt(64 * 9), conv.bias)
    torch.testing.assert_close(conv(x), expected)
    with torch.no_grad():
        conv.weight.mul_(2)
    torch.testing.assert_close(conv(x), 2 * expected)  # the scale is applied each call
    disc = Discriminator(8, width=0.02)
    stored = [m.weight for m in disc.modules() if isinstance(m, EqualConv2d)]
    assert stored and all(0.5 < float(w.detach().std()) < 1.5 for w in stored if w.numel() > 50)


def test_lazy_r1_is_positive_every_nth_step_and_trains_d_only():
    torch.manual_seed(0)
    disc = Discriminator(8, width=0.05)
    generator = nn.Conv2d(3, 3, 3, padding=1)
    opt = optimizer(disc, 1e-3, (0.0, 0.99), every=4)
    real = torch.rand(4, 3, 8, 8) * 2 - 1
    logged = []
    for _ in range(5):
        fake = generator(torch.rand(4, 3, 8, 8))
        logged.append(train_step(disc, disc, opt, real, fake, gamma=10.0, every=4))
    assert [("r1" in v) for v in logged] == [True, False, False, False, True]
    assert all(v["r1"] > 0 for v in logged if "r1" in v)
    assert int(disc.steps) == 5
    assert all(p.grad is None for p in generator.parameters())  # D's losses never reach G
    # StyleGAN2's lazy-regularisation correction of D's Adam: lr * c and betas ** c.
    c = 4 / 5
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(1e-3 * c) and group["betas"][1] == pytest.approx(0.99 ** c)


def test_r1_changes_the_update_and_gamma_zero_turns_it_off():
    def after_one_step(gamma: float) -> torch.Tensor:
        torch.manual_seed(0)
        disc = Discriminator(8, width=0.05)
        opt = torch.optim.SGD(disc.parameters(), lr=0.1)
        real = torch.rand(4, 3, 8, 8) * 2 - 1
        values = train_step(disc, disc, opt, real, torch.zeros_like(real), gamma=gamma, every=1)
        assert ("r1" in values) == (gamma > 0)
        return disc.from_rgb[0].weight.detach().clone()

    plain, regularised = after_one_step(0.0), after_one_step(10.0)
    assert not torch.allclose(plain, regularised)


def test_r1_lowers_the_gradient_at_real_images():
    """What R1 is for: a few regularised steps flatten D around the real data."""
    def grad_norm_after(gamma: float) -> float:
        torch.manual_seed(0)
        disc = Discriminator(8, width=0.05)
        opt = optimizer(disc, 2e-3, (0.0, 0.99), every=1)
        real = torch.rand(8, 3, 8, 8) * 2 - 1
        for _ in range(20):
            train_step(disc, disc, opt, real, torch.rand_like(real) * 2 - 1, gamma=gamma, every=1)
        x = real.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(disc(x).sum(), x)
        return float(grad.square().flatten(1).sum(1).mean())

    assert grad_norm_after(10.0) < 0.5 * grad_norm_after(0.0)
