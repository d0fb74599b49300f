"""Synthetic degradations that make (low-quality, high-quality) training pairs.

* :class:`RealESRGANDegradation`: Real-ESRGAN's two-stage "high-order" model (Wang et al.
  2021): each stage blurs (isotropic or anisotropic Gaussian, or a 2-D sinc that rings),
  resizes by a random factor with a random filter, adds Gaussian or Poisson noise (colour
  or grey) and JPEG-compresses; then the image is resized to 1/scale, sinc-filtered and
  JPEG-compressed once more. Probabilities and ranges are Real-ESRGAN's x4plus defaults
  (written at :data:`STAGE1`, :data:`STAGE2`, :data:`FINAL_SINC_PROB`). Left out, said
  plainly: the generalised-Gaussian and plateau kernels (15% of Real-ESRGAN's first-stage
  kernels; their share goes to the Gaussians in the paper's iso:aniso proportion).
* :class:`PaniniDegradation`: Panini-Net's Eq. 10, X = [(Y * k_sigma) down_r + N_delta]_JPEG_q
  with a symmetric upsampling back to the input size (blind face restoration).
* :class:`FixedDegradation`: one documented, deterministic degradation (the benchmark's).
* :class:`BicubicDegradation`: plain downsampling (GLEAN, Pro-PULSE, Panini SR).

Every random choice draws from the ``torch.Generator`` passed in, so batches are
reproducible from (seed, step) and a resumed run sees the same pairs. That is why the
library calls are torch's (``torch.poisson`` with that generator, ``torch.special.bessel_j1``
for the sinc kernel) rather than scipy's or numpy's, whose random draws would need a second,
separately seeded generator; JPEG is Pillow's encoder.
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


def sinc_kernel(cutoff: float, size: int) -> torch.Tensor:
    """A normalised (size, size) circular low-pass ("2-D sinc") kernel of cutoff omega_c.

    The ideal circular low-pass filter's impulse response is the jinc
    omega_c * J1(omega_c r) / (2 pi r) (centre value omega_c^2 / (4 pi)); cut to a square
    window it rings: an edge filtered with it overshoots on both sides, the ringing and
    overshoot artefacts Real-ESRGAN adds on purpose. J1 comes from torch.special.
    """
    half = size // 2
    coords = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    r = torch.sqrt(xx**2 + yy**2)
    safe = torch.where(r > 0, r, torch.ones_like(r))
    kernel = cutoff * torch.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe)
    kernel = torch.where(r > 0, kernel, torch.full_like(r, cutoff**2 / (4 * math.pi)))
    return (kernel / kernel.sum()).float()


def gaussian_noise(image: torch.Tensor, sigma: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    b, c, h, w = image.shape
    noise = torch.randn(b, 1 if gray else c, h, w, generator=gen).to(image)
    return image + noise * sigma


def poisson_noise(image: torch.Tensor, scale: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    """Shot noise: variance proportional to intensity, as photon counts have.

    Each image is treated as photon counts at the number of levels it uses (its distinct
    8-bit values, rounded up to a power of two, as Real-ESRGAN does), so a smooth image
    gets stronger noise than a detailed one; ``scale`` multiplies the noise. Grey noise
    is drawn on the luma and added to every channel. torch.poisson draws from ``gen``.
    """
    clean = image.clamp(0, 1)
    source = (0.299 * clean[:, :1] + 0.587 * clean[:, 1:2] + 0.114 * clean[:, 2:3]) if gray else clean
    levels = torch.tensor([2.0 ** math.ceil(math.log2(max(2, len(torch.unique((one * 255).round())))))
                           for one in clean], dtype=image.dtype, device=image.device).view(-1, 1, 1, 1)
    counts = (source * 255).round() / 255 * levels
    noise = torch.poisson(counts.cpu().double(), generator=gen).to(image) / levels - counts / levels
    return image + noise * scale


@dataclass(frozen=True)
class StageRanges:
    """One stage of the Real-ESRGAN model (its x4plus training options)."""

    blur_prob: float
    sigma: tuple[float, float]
    kernel_sizes: tuple[int, ...]
    resize_prob: tuple[float, float, float]  # up, down, keep
    resize_range: tuple[float, float]
    noise_sigma: tuple[float, float]  # in 0..255 levels
    gray_noise_prob: float
    jpeg_range: tuple[int, int]
    sinc_prob: float = 0.1  # a blur is a sinc rather than a Gaussian
    gaussian_noise_prob: float = 0.5  # else Poisson
    poisson_scale: tuple[float, float] = (0.05, 3.0)


_SIZES = (7, 9, 11, 13, 15, 17, 19, 21)
STAGE1 = StageRanges(1.0, (0.2, 3.0), _SIZES, (0.2, 0.7, 0.1), (0.15, 1.5), (1.0, 30.0), 0.4, (30, 95),
                     sinc_prob=0.1, gaussian_noise_prob=0.5, poisson_scale=(0.05, 3.0))
STAGE2 = StageRanges(0.8, (0.2, 1.5), _SIZES, (0.3, 0.4, 0.3), (0.3, 1.2), (1.0, 25.0), 0.4, (30, 95),
                     sinc_prob=0.1, gaussian_noise_prob=0.5, poisson_scale=(0.05, 2.5))
FINAL_SINC_PROB = 0.8  # the sinc after the last resize (cutoff in [pi/3, pi])
ISO_SHARE = 0.45 / (0.45 + 0.25)  # Real-ESRGAN's iso:aniso kernel probabilities, 0.45 : 0.25
_MODES = ("area", "bilinear", "bicubic")


class RealESRGANDegradation:
    """HR (B, 3, H, W) in [0, 1] -> LR (B, 3, H/scale, W/scale), one draw per batch.

    One draw per batch rather than per image keeps the JPEG and resize calls batched; with
    batches drawn at every step the distribution seen over a run is the same.
    """

    def __init__(self, scale: int, stage1: StageRanges = STAGE1, stage2: StageRanges = STAGE2,
                 final_sinc_prob: float = FINAL_SINC_PROB) -> None:
        self.scale, self.stage1, self.stage2 = scale, stage1, stage2
        self.final_sinc_prob = final_sinc_prob

    def __call__(self, hr: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        h, w = hr.shape[-2:]
        target = (h // self.scale, w // self.scale)
        # Stage 1 resizes relative to the HR size, stage 2 relative to the final LR size.
        out = self._stage(hr, self.stage1, (h, w), gen)
        out = self._stage(out, self.stage2, target, gen)
        mode = _MODES[int(torch.randint(len(_MODES), (1,), generator=gen))]
        final_sinc = self._final_sinc(gen)
        quality = int(_uniform(gen, *self.stage2.jpeg_range))
        # Real-ESRGAN randomises the order of (last resize + sinc) and JPEG.
        if _chance(gen, 0.5):
            out = jpeg(self._sinc(resize(out.clamp(0, 1), target, mode), final_sinc), quality)
        else:
            out = self._sinc(resize(jpeg(out, quality), target, mode), final_sinc)
        return out.clamp(0, 1)

    def _final_sinc(self, gen: torch.Generator) -> torch.Tensor | None:
        if not _chance(gen, self.final_sinc_prob):
            return None
        size = _SIZES[int(torch.randint(len(_SIZES), (1,), generator=gen))]
        return sinc_kernel(_uniform(gen, math.pi / 3, math.pi), size)

    @staticmethod
    def _sinc(image: torch.Tensor, kernel: torch.Tensor | None) -> torch.Tensor:
        return image if kernel is None else blur(image, kernel)

    def _stage(self, image: torch.Tensor, ranges: StageRanges, base: tuple[int, int],
               gen: torch.Generator) -> torch.Tensor:
        if _chance(gen, ranges.blur_prob):
            image = blur(image, self._blur_kernel(ranges, gen))
        image = self._random_resize(image, ranges, base, gen)
        gray = _chance(gen, ranges.gray_noise_prob)
        if _chance(gen, ranges.gaussian_noise_prob):
            image = gaussian_noise(image, _uniform(gen, *ranges.noise_sigma) / 255.0, gray, gen)
        else:
            image = poisson_noise(image, _uniform(gen, *ranges.poisson_scale), gray, gen)
        return jpeg(image.clamp(0, 1), int(_uniform(gen, *ranges.jpeg_range)))

    @staticmethod
    def _blur_kernel(ranges: StageRanges, gen: torch.Generator) -> torch.Tensor:
        size = ranges.kernel_sizes[int(torch.randint(len(ranges.kernel_sizes), (1,), generator=gen))]
        if _chance(gen, ranges.sinc_prob):
            # Real-ESRGAN: small kernels get a cutoff of at least pi/3, large ones pi/5.
            return sinc_kernel(_uniform(gen, math.pi / 3 if size < 13 else math.pi / 5, math.pi), size)
        if _chance(gen, ISO_SHARE):
            sigma = _uniform(gen, *ranges.sigma)
            return gaussian_kernel(sigma, sigma, 0.0, size)
        return gaussian_kernel(_uniform(gen, *ranges.sigma), _uniform(gen, *ranges.sigma),
                               _uniform(gen, 0.0, math.pi), size)

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
