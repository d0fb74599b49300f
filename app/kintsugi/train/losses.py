"""Losses: pixel, adversarial (StyleGAN2 discriminator), and the feature losses we cannot run.

Perceptual (VGG) and identity (ArcFace) losses need pretrained feature networks whose weights
cannot be obtained here (no network access, no pinned package ships them). They stay off, and
the trainer refuses a non-zero weight for them with a one-line error rather than pretending.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kintsugi.engine.errors import KintsugiError


class FeatureNetworkMissing(KintsugiError):
    """A perceptual or identity loss was asked for, but its feature network is not available."""


def pixel_loss(output: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    if kind == "l1":
        return F.l1_loss(output, target)
    if kind == "l2":
        return F.mse_loss(output, target)
    raise ValueError(f"pixel loss must be 'l1' or 'l2', got {kind!r}")


def psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1] (output clamped, as a user would see it)."""
    mse = F.mse_loss(output.clamp(0, 1), target).item()
    return 99.0 if mse <= 1e-10 else 10.0 * math.log10(1.0 / mse)


def require_feature_loss(name: str, weight: float) -> None:
    if weight > 0:
        raise FeatureNetworkMissing(
            f"the {name} loss needs pretrained {'VGG' if name == 'perceptual' else 'ArcFace'} weights, "
            "which Kintsugi cannot obtain; set its weight to 0")


# -- StyleGAN2 discriminator ---------------------------------------------------------------


class _ConvAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, down: bool = False) -> None:
        layers: list[nn.Module] = []
        if down:
            # StyleGAN2 blurs with [1, 3, 3, 1] before a stride-2 conv; average pooling is
            # the same low-pass idea with less code (documented simplification).
            layers.append(nn.AvgPool2d(2))
        layers += [nn.Conv2d(cin, cout, kernel, 1, kernel // 2), nn.LeakyReLU(0.2)]
        super().__init__(*layers)


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _ConvAct(cin, cin)
        self.conv2 = _ConvAct(cin, cout, down=True)
        self.skip = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    """StyleGAN2's residual discriminator (Karras et al. 2020), with configurable widths.

    from_rgb 1x1 -> residual down blocks to 4x4 -> minibatch standard deviation -> conv ->
    linear -> linear(1). ``channels[r]`` defaults to StyleGAN2's widths scaled by
    ``width`` (1.0 = the paper's 512-capped widths; tests use small values). Equalised
    learning rate is left out (plain PyTorch init; a documented simplification).
    """

    def __init__(self, size: int, width: float = 1.0, max_channels: int = 512, group: int = 4) -> None:
        super().__init__()
        if size < 4 or 2 ** int(math.log2(size)) != size:
            raise ValueError(f"discriminator size must be a power of two >= 4, got {size}")

        def ch(r: int) -> int:
            base = 512 if r <= 32 else 16384 // r
            return max(4, int(min(max_channels, base) * width))

        self.group = group
        self.from_rgb = _ConvAct(3, ch(size), kernel=1)
        blocks = []
        r = size
        while r > 4:
            blocks.append(_ResBlock(ch(r), ch(r // 2)))
            r //= 2
        self.blocks = nn.Sequential(*blocks)
        self.final_conv = _ConvAct(ch(4) + 1, ch(4))
        self.final = nn.Sequential(nn.Flatten(), nn.Linear(ch(4) * 16, ch(4)), nn.LeakyReLU(0.2),
                                   nn.Linear(ch(4), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.from_rgb(x))
        out = torch.cat([out, self._stddev(out)], 1)
        return self.final(self.final_conv(out))

    def _stddev(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        group = min(self.group, b)
        if b % group:
            group = 1
        y = x.view(group, -1, *x.shape[1:])
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))
        return y.view(-1, 1, 1, 1).repeat(group, 1, h, w)


def generator_adversarial(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating logistic loss (StyleGAN2's)."""
    return F.softplus(-fake_logits).mean()


def discriminator_adversarial(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
