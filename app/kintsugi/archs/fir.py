"""FIR up/down-sampling ("upfirdn") in plain PyTorch, written from the definition.

upfirdn2d(x) = downsample_d( conv2d( pad( zero_insert_u(x) ), flip(k) ) ):
insert (u - 1) zeros after every sample, pad (negative pads crop), convolve with the
2-D kernel (a true convolution, hence the flip), keep every d-th sample.

StyleGAN2 uses the separable kernel [1, 3, 3, 1] normalised to unit sum, scaled by
factor**2 when upsampling so that a constant keeps its value.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

FIR_1331 = (1.0, 3.0, 3.0, 1.0)


def make_fir_kernel(taps: Sequence[float] = FIR_1331) -> torch.Tensor:
    """2-D kernel from 1-D taps (outer product), normalised to sum 1."""
    k = torch.tensor(list(taps), dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Per-channel up -> FIR -> down on (N, C, H, W); ``pad`` = (before, after) on both axes."""
    n, c, h, w = x.shape
    y = x.reshape(n * c, 1, h, w)
    if up > 1:
        # (h, 1, w, 1) -> pad the singleton axes with up-1 zeros -> interleaved zeros.
        y = y.reshape(n * c, h, 1, w, 1)
        y = F.pad(y, [0, up - 1, 0, 0, 0, up - 1])
        y = y.reshape(n * c, 1, h * up, w * up)
    p0, p1 = pad
    if p0 or p1:
        y = F.pad(y, [p0, p1, p0, p1])  # negative values crop
    weight = torch.flip(kernel, [0, 1]).to(dtype=y.dtype, device=y.device)[None, None]
    y = F.conv2d(y, weight, stride=down)
    return y.reshape(n, c, y.shape[-2], y.shape[-1])


def upsample_pad(kernel_size: int, factor: int = 2) -> tuple[int, int]:
    """Pads that make upsample2d map H to factor*H exactly."""
    p = kernel_size - factor
    return (p + 1) // 2 + factor - 1, p // 2


def downsample_pad(kernel_size: int, factor: int = 2) -> tuple[int, int]:
    """Pads that make downsample2d map H to H/factor exactly."""
    p = kernel_size - factor
    return (p + 1) // 2, p // 2


def upsample2d(x: torch.Tensor, kernel: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """FIR upsampling by ``factor``; ``kernel`` is the unit-sum 2-D kernel."""
    return upfirdn2d(x, kernel * factor**2, up=factor, pad=upsample_pad(kernel.shape[0], factor))


def downsample2d(x: torch.Tensor, kernel: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """FIR downsampling (anti-alias filter, then decimate) by ``factor``."""
    return upfirdn2d(x, kernel, down=factor, pad=downsample_pad(kernel.shape[0], factor))


def blur_after_transposed_conv_pad(kernel_size: int, conv_kernel: int, factor: int = 2) -> tuple[int, int]:
    """Pads of the blur that follows a stride-``factor`` transposed conv (StyleGAN2's
    upsampling conv): the transposed conv gives factor*(H-1)+k samples; the blur brings
    them back to factor*H."""
    p = (kernel_size - factor) - (conv_kernel - 1)
    return (p + 1) // 2 + factor - 1, p // 2 + 1
