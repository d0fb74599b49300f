"""The settings of one training run (what `kintsugi train` parses into)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TARGETS = ("rrdbnet", "rrdn", "panini", "glean", "propulse", "laren", "dre")


@dataclass
class TrainConfig:
    target: str
    data: Path
    out: Path
    init: str | None = None  # a model id or weights file to start from ("none": fresh)
    prior: Path | None = None  # StyleGAN2 checkpoint for the GAN-prior methods
    dre: Path | None = None  # a `kintsugi train dre` model file for Panini MFR
    scale: int | None = None
    size: int | None = None  # HR crop side (upscalers) or output face size (face methods)
    steps: int = 1000
    batch: int = 4
    lr: float | None = None  # None: the method's default
    device: str = "auto"
    # "bf16": forward and losses under torch.autocast in bfloat16 (weights, gradients and the
    # optimiser stay fp32); about 2-3x faster on CPUs with AMX/AVX512-BF16 and on recent GPUs.
    precision: str = "fp32"
    seed: int = 0
    pixel: str | None = None  # "l1" | "l2"; None: the method's default
    pixel_weight: float = 1.0
    gan_weight: float | None = None  # None: the method's default
    perceptual_weight: float = 0.0
    identity_weight: float = 0.0
    d_width: float = 0.25  # discriminator width multiplier (1.0 = StyleGAN2's)
    r1_gamma: float = 10.0  # StyleGAN2's R1 weight (config-f, FFHQ 1024); 0: off
    r1_every: int = 16  # lazy regularisation interval (D steps)
    degradation: str | None = None  # "realesrgan" | "fixed" | "bicubic" | "panini"; None: default
    pooling_decomposition: bool = False
    align: bool = True  # face targets: align photos with the shipped RetinaFace (False: aligned already)
    params: dict[str, Any] = field(default_factory=dict)  # architecture overrides (tiny configs)
    held_out: float = 0.1
    val_every: int = 100
    save_every: int = 200
    log_every: int = 10
    cosine: bool = False  # cosine-annealed learning rate (Panini's schedule)
    resume: bool = False

    def settings(self) -> dict[str, Any]:
        """JSON-able copy, stored in the state file so a resume can check it."""
        out = asdict(self)
        for key in ("data", "out", "prior", "dre"):
            out[key] = None if out[key] is None else str(out[key])
        return out
