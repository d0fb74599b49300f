"""Synthetic degradations that make (low-quality, high-quality) training pairs.

* :class:`RealESRGANDegradation`: Real-ESRGAN's two-stage "high-order" model (Wang et al.
  2021): each stage blurs (isotropic or anisotropic Gaussian), resizes by a random factor
  with a random filter, adds Gaussian noise (colour or grey) and JPEG-compresses; then the
  image is resized to 1/scale and JPEG-compressed once more. Ranges are the paper's
  defaults. Left out, said plainly: the generalised/plateau kernels, Poisson noise and the
  final sinc filter (they widen the distribution; the structure is the same).
* :class:`PaniniDegradation`: Panini-Net's Eq. 10, X = [(Y * k_sigma) down_r + N_delta]_JPEG_q
  with a symmetric upsampling back to the input size (blind face restoration).
* :class:`FixedDegradation`: one documented, deterministic degradation (the benchmark's).
* :class:`BicubicDegradation`: plain downsampling (GLEAN, Pro-PULSE, Panini SR).

Every random choice draws from the ``torch.Generator`` passed in, so batches are
reproducible from (seed, step) and a resumed run sees the same pairs.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image as PILImage


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(1, generator=gen))


def _chance(gen: torch.Generator, p: float) -> bool:
    return float(torch.rand(1, generator=gen)) < p


def gaussian_kernel(sigma_x: float, sigma_y: float, angle: float, size: int) -> torch.Tensor:
    """A normalised (size, size) anisotropic Gaussian rotated by angle (radians)."""
    half = size // 2
    coords = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    u = cos * xx + sin * yy
    v = -sin * xx + cos * yy
    kernel = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).float()


def blur(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) convolved with one 2-D kernel, reflect padding (size kept)."""
    pad = kernel.shape[-1] // 2
    channels = image.shape[1]
    weight = kernel.to(image)[None, None].expand(channels, 1, -1, -1)
    # Reflect where the image is large enough; tiny stage-2 images (test crops) replicate.
    mode = "reflect" if pad < min(image.shape[-2:]) else "replicate"
    padded = F.pad(image, (pad, pad, pad, pad), mode=mode)
    return F.conv2d(padded, weight, groups=channels)


def resize(image: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if mode == "area":
        return F.interpolate(image, size=size, mode="area")
    return F.interpolate(image, size=size, mode=mode, align_corners=False,
                         antialias=mode in ("bilinear", "bicubic"))


def jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of each image of a (B, 3, H, W) batch in [0, 1] (Pillow's encoder)."""
    out = []
    for one in image.clamp(0, 1):
        array = (one.permute(1, 2, 0).detach().cpu().numpy() * 255.0).round().astype(np.uint8)
        buffer = io.BytesIO()
        PILImage.fromarray(array).save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        decoded = np.asarray(PILImage.open(buffer).convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(decoded).permute(2, 0, 1))
    return torch.stack(out).to(image)


def gaussian_noise(image: torch.Tensor, sigma: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    b, c, h, w = image.shape
    noise = torch.randn(b, 1 if gray else c, h, w, generator=gen).to(image)
    return image + noise * sigma


@dataclass(frozen=True)
class StageRanges:
    """One stage of the Real-ESRGAN model (its paper's defaults)."""

    blur_prob: float
    sigma: tuple[float, float]
    kernel_sizes: tuple[int, ...]
    resize_prob: tuple[float, float, float]  # up, down, keep
    resize_range: tuple[float, float]
    noise_sigma: tuple[float, float]  # in 0..255 levels
    gray_noise_prob: float
    jpeg_range: tuple[int, int]


STAGE1 = StageRanges(1.0, (0.2, 3.0), (7, 9, 11, 13, 15, 17, 19, 21), (0.2, 0.7, 0.1), (0.15, 1.5),
                     (1.0, 30.0), 0.4, (30, 95))
STAGE2 = StageRanges(0.8, (0.2, 1.5), (7, 9, 11, 13, 15, 17, 19, 21), (0.3, 0.4, 0.3), (0.3, 1.2),
                     (1.0, 25.0), 0.4, (30, 95))
_MODES = ("area", "bilinear", "bicubic")


class RealESRGANDegradation:
    """HR (B, 3, H, W) in [0, 1] -> LR (B, 3, H/scale, W/scale), one draw per batch.

    One draw per batch rather than per image keeps the JPEG and resize calls batched; with
    batches drawn at every step the distribution seen over a run is the same.
    """

    def __init__(self, scale: int, stage1: StageRanges = STAGE1, stage2: StageRanges = STAGE2) -> None:
        self.scale, self.stage1, self.stage2 = scale, stage1, stage2

    def __call__(self, hr: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        h, w = hr.shape[-2:]
        target = (h // self.scale, w // self.scale)
        # Stage 1 resizes relative to the HR size, stage 2 relative to the final LR size.
        out = self._stage(hr, self.stage1, (h, w), gen)
        out = self._stage(out, self.stage2, target, gen)
        mode = _MODES[int(torch.randint(len(_MODES), (1,), generator=gen))]
        # Real-ESRGAN randomises the order of the last resize and JPEG.
        if _chance(gen, 0.5):
            out = jpeg(resize(out.clamp(0, 1), target, mode), int(_uniform(gen, *self.stage2.jpeg_range)))
        else:
            out = resize(jpeg(out, int(_uniform(gen, *self.stage2.jpeg_range))), target, mode)
        return out.clamp(0, 1)

    def _stage(self, image: torch.Tensor, ranges: StageRanges, base: tuple[int, int],
               gen: torch.Generator) -> torch.Tensor:
        if _chance(gen, ranges.blur_prob):
            size = ranges.kernel_sizes[int(torch.randint(len(ranges.kernel_sizes), (1,), generator=gen))]
            if _chance(gen, 0.5):
                sigma = _uniform(gen, *ranges.sigma)
                kernel = gaussian_kernel(sigma, sigma, 0.0, size)
            else:
                kernel = gaussian_kernel(_uniform(gen, *ranges.sigma), _uniform(gen, *ranges.sigma),
                                         _uniform(gen, 0.0, math.pi), size)
            image = blur(image, kernel)
        image = self._random_resize(image, ranges, base, gen)
        sigma = _uniform(gen, *ranges.noise_sigma) / 255.0
        image = gaussian_noise(image, sigma, _chance(gen, ranges.gray_noise_prob), gen).clamp(0, 1)
        return jpeg(image, int(_uniform(gen, *ranges.jpeg_range)))

    def _random_resize(self, image: torch.Tensor, ranges: StageRanges, base: tuple[int, int],
                       gen: torch.Generator) -> torch.Tensor:
        pick = float(torch.rand(1, generator=gen))
        up, down, _keep = ranges.resize_prob
        if pick < up:
            factor = _uniform(gen, 1.0, ranges.resize_range[1])
        elif pick < up + down:
            factor = _uniform(gen, ranges.resize_range[0], 1.0)
        else:
            factor = 1.0
        h, w = max(4, round(base[0] * factor)), max(4, round(base[1] * factor))
        mode = _MODES[int(torch.randint(len(_MODES), (1,), generator=gen))]
        return resize(image, (h, w), mode)


@dataclass(frozen=True)
class FixedDegradation:
    """Gaussian blur (sigma), bicubic downsampling by scale, Gaussian noise (noise/255, seeded
    per image), JPEG at quality; the same for every image, so a before/after comparison
    measures the model, not the draw."""

    scale: int
    sigma: float = 1.0
    noise: float = 5.0
    quality: int = 60

    def __call__(self, hr: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        size = 2 * math.ceil(3 * self.sigma) + 1
        out = blur(hr, gaussian_kernel(self.sigma, self.sigma, 0.0, size)) if self.sigma > 0 else hr
        out = resize(out, (hr.shape[-2] // self.scale, hr.shape[-1] // self.scale), "bicubic")
        out = gaussian_noise(out, self.noise / 255.0, False, gen).clamp(0, 1)
        return jpeg(out, self.quality).clamp(0, 1)


@dataclass(frozen=True)
class BicubicDegradation:
    scale: int

    def __call__(self, hr: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        size = (hr.shape[-2] // self.scale, hr.shape[-1] // self.scale)
        return resize(hr, size, "bicubic").clamp(0, 1)


@dataclass(frozen=True)
class PaniniDegradation:
    """Panini-Net Eq. 10 at the face's own size (output size = input size).

    The paper draws r from [10, 200], delta from [0, 25], q from [5, 50] for 1024 px faces
    and says only that the blur sigma is random. Choices: sigma from [0.2, 10] px; both r and
    sigma are given at 1024 px and scaled to the actual size (so a 64 px test face sees the
    same relative degradation), r is clamped to keep at least 4 px.
    """

    r_range: tuple[float, float] = (10.0, 200.0)
    sigma_range: tuple[float, float] = (0.2, 10.0)
    noise_range: tuple[float, float] = (0.0, 25.0)
    jpeg_range: tuple[int, int] = (5, 50)
    reference: int = 1024

    def __call__(self, hr: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        size = hr.shape[-1]
        rel = size / self.reference
        sigma = max(0.1, _uniform(gen, *self.sigma_range) * rel)
        kernel = gaussian_kernel(sigma, sigma, 0.0, min(2 * math.ceil(3 * sigma) + 1, 2 * (size // 2) - 1))
        out = blur(hr, kernel)
        ratio = min(max(1.0, _uniform(gen, *self.r_range) * rel), size / 4)
        small = max(4, round(size / ratio))
        out = resize(resize(out, (small, small), "bicubic"), (size, size), "bicubic")
        out = gaussian_noise(out, _uniform(gen, *self.noise_range) / 255.0, False, gen).clamp(0, 1)
        return jpeg(out, int(_uniform(gen, *self.jpeg_range)))
