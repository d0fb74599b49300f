"""Losses: pixel, adversarial (the generator's side; D is in :mod:`kintsugi.train.discriminator`),
and the feature losses we cannot run.

Perceptual (VGG) and identity (ArcFace) losses need pretrained feature networks whose weights
cannot be obtained here (no network access, no pinned package ships them). They stay off, and
the trainer refuses a non-zero weight for them with a one-line error rather than pretending.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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


def generator_adversarial(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating logistic loss (StyleGAN2's)."""
    return F.softplus(-fake_logits).mean()
