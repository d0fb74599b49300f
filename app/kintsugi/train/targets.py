"""What each `kintsugi train` target builds, feeds and optimises.

A target owns the network (``net``: the module the registry rebuilds from ``arch`` and
``params``), makes (input, target) batches from photos, and turns one batch into named loss
terms. The loop (:mod:`kintsugi.train.loop`) does everything else the same way for all.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kintsugi.archs import arch_by_id
from kintsugi.engine.errors import KintsugiError
from kintsugi.train import losses
from kintsugi.train.config import TrainConfig
from kintsugi.train.data import PhotoSet
from kintsugi.train.degrade import (
    BicubicDegradation,
    FixedDegradation,
    PaniniDegradation,
    RealESRGANDegradation,
)

log = logging.getLogger(__name__)


class TrainConfigError(KintsugiError):
    """The training settings do not fit together (wrong --init for the target, bad size...)."""


Batch = tuple[torch.Tensor, torch.Tensor]


class Target:
    """Image-to-image training: pixel loss (+ adversarial) between net(input) and target."""

    arch: str
    params: dict[str, Any]
    net: nn.Module
    default_lr = 1e-4
    default_pixel = "l1"
    default_gan = 0.0
    betas = (0.9, 0.99)
    find_unused = False  # DDP: True when a step leaves some trainable parameters unused
    channels_last = False  # train in NHWC (plain conv stacks; 5-D modulated weights gain nothing)

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.pixel = config.pixel or self.default_pixel
        self.gan_weight = self.default_gan if config.gan_weight is None else config.gan_weight
        losses.require_feature_loss("perceptual", config.perceptual_weight)
        losses.require_feature_loss("identity", config.identity_weight)

    # -- what the loop calls -------------------------------------------------------------
    @property
    def out_size(self) -> int:
        raise NotImplementedError

    def usable(self, files: list[Path], run: Path) -> list[Path]:
        """The photos this target can learn from (face targets: those with a face), before
        the held-out split, so that the held-out photos are usable too."""
        return files

    def photo_set(self, files: list[Path], min_side: int, run: Path) -> PhotoSet:
        """The photos of one split as this target trains on them (face targets align them)."""
        return PhotoSet(files, min_side)

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.net.parameters() if p.requires_grad]

    def batch(self, photos: PhotoSet, count: int, gen: torch.Generator) -> Batch:
        """A batch from the photos and ``gen`` alone: the loop may make it on another thread,
        a step ahead, so it must not touch the network."""
        raise NotImplementedError

    def validation(self, photos: PhotoSet) -> Batch:
        """Fixed held-out pairs: one per photo, degraded with a seed of its own."""
        pairs = [self.batch(_single(photos, i), 1, torch.Generator().manual_seed(10_000 + i))
                 for i in range(len(photos))]
        return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])

    def run(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        out = model(inputs)
        if self.config.pooling_decomposition:
            out = pooling_decomposition(out, inputs)
        return out

    def losses(self, model: nn.Module, batch: Batch, disc: nn.Module | None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        inputs, target = batch
        output = self.run(model, inputs)
        terms = {"pixel": self.config.pixel_weight * losses.pixel_loss(output, target, self.pixel)}
        if disc is not None:
            terms["gan"] = self.gan_weight * losses.generator_adversarial(disc(output * 2 - 1))
        return terms, output

    def predict(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """The image the validation PSNR is measured on."""
        return self.run(model, inputs)

    def before_optimizer_step(self) -> None:
        """Hook between backward and the optimiser step (Pro-PULSE drops other phases' grads)."""

    def after_step(self) -> None:
        """Hook for targets with state outside the optimiser (MoCo's momentum encoder)."""

    def start_at(self, step: int) -> None:
        """Hook called once with the first step (non-zero when resuming)."""

    val_name = "val_psnr"

    def train_mode(self, mode: bool) -> None:
        self.net.train(mode)

    def validate(self, net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        """Mean PSNR (dB) of the held-out pairs, one image at a time."""
        scores = [losses.psnr(self.predict(net, inputs[i:i + 1]), targets[i:i + 1]) for i in range(len(inputs))]
        return sum(scores) / len(scores)

    def model_extra(self) -> dict[str, str]:
        return {}


def _single(photos: PhotoSet, index: int) -> PhotoSet:
    return PhotoSet.of([photos.photos[index]], [photos.names[index]])


def pooling_decomposition(output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Null-space projection: x = up(y) + x_r - up(pool(x_r)), so pool(x) == y exactly.

    The input must be the s x s average-pooled target (true for pooled training pairs; for
    other degradations it pins the output to the degraded input's local means, which is
    what the option means, so it is off by default).
    """
    factor = output.shape[-1] // inputs.shape[-1]
    up = F.interpolate(inputs, scale_factor=factor, mode="nearest")
    return up + output - F.interpolate(F.avg_pool2d(output, factor), scale_factor=factor, mode="nearest")


# -- upscalers ---------------------------------------------------------------------------


class UpscalerTarget(Target):
    """Fine-tune a shipped upscaler (or train a fresh one) on Real-ESRGAN-style pairs.

    Defaults are Real-ESRNet's stage (L1, lr 2e-4 from scratch, 1e-4 when fine-tuning; the
    paper's second stage adds perceptual 1.0 and GAN 0.1 losses: ``--gan-weight 0.1``
    without the perceptual term, which needs VGG weights).
    """

    default_init = {"rrdbnet": "realesrgan-x4plus", "rrdn": "rrdn-x2"}
    channels_last = True  # ~10% faster fp32 and ~30% faster bf16 steps on oneDNN (rrdn-x2, 64 px)

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.arch = config.target
        init = config.init or self.default_init[self.arch]
        if init == "none":
            self.params = {"scale": config.scale or 4, **config.params}
            self.net = arch_by_id(self.arch).build(**self.params)
        else:
            self.net, self.params = _load_init(init, self.arch)
            if config.scale and config.scale != self.params.get("scale"):
                raise TrainConfigError(f"{init} upscales x{self.params.get('scale')}, not x{config.scale}")
        self.net = self.net.float().train().requires_grad_(True)
        self.scale = int(self.params["scale"])
        size = config.size or 128
        if size % self.scale:
            raise TrainConfigError(f"--size {size} is not a multiple of the scale {self.scale}")
        self.size = size
        kind = config.degradation or "realesrgan"
        self.degrade = _degradation(kind, self.scale)

    @property
    def out_size(self) -> int:
        return self.size

    def batch(self, photos: PhotoSet, count: int, gen: torch.Generator) -> Batch:
        hr = photos.random_crops(count, self.size, gen)
        return self.degrade(hr, gen), hr


def _degradation(kind: str, scale: int) -> Any:
    if kind == "realesrgan":
        return RealESRGANDegradation(scale)
    if kind == "fixed":
        return FixedDegradation(scale)
    if kind == "bicubic":
        return BicubicDegradation(scale)
    raise TrainConfigError(f"unknown degradation {kind!r} (realesrgan, fixed, bicubic, panini)")


def _load_init(init: str, arch: str) -> tuple[nn.Module, dict[str, Any]]:
    from kintsugi.engine.registry import load_model

    # fp32: "auto" may pick bf16 (AMX CPUs), and training from bf16-rounded weights would
    # start somewhere other than the shipped model.
    model = load_model(init, device="cpu", precision="fp32")
    if model.info.arch != arch:
        raise TrainConfigError(f"--init {init} is a {model.info.arch} model, not {arch}")
    net = model.net
    # The registry hands out frozen channels-last inference copies; training wants plain ones.
    for param in net.parameters():
        param.data = param.data.contiguous()
    return net, dict(model.info.params)


def face_degradation(kind: str, scale: int) -> Any:
    if kind == "panini":
        return PaniniDegradation()
    return _degradation(kind, scale)


def log2(n: int) -> int:
    return int(math.log2(n))
