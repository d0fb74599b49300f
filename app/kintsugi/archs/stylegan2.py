"""StyleGAN2 generator (config-f family), one canonical module for four checkpoint layouts.

Value space: the synthesis network returns RGB in about [-1, 1] (unclamped). Restoration
methods feed a w+ code (B, N, style_dim), N = 2*log2(out_size) - 2, bypassing the mapping.

Two numerically different networks share this module (flag ``clean``):

* standard (rosinality / BasicSR / mmagic checkpoints): equalised learning rate (weights
  scaled by 1/sqrt(fan_in) at run time, mapping lr_mul 0.01), fused bias + LeakyReLU(0.2)
  times sqrt(2), upsampling by stride-2 transposed conv + [1,3,3,1] FIR blur, RGB skip
  upsampled by FIR;
* "clean" (GFPGAN's StyleGAN2GeneratorClean): scales folded into the stored weights,
  plain Linear mapping layers with LeakyReLU(0.2), upsampling by bilinear interpolation
  before a 3x3 conv, conv output times sqrt(2) before noise and bias.

Checkpoint key names of the four layouts are translated by :mod:`kintsugi.archs.gan_layouts`;
``load_state_dict`` accepts any of them (and the canonical names).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import ArchSpec, Capabilities, StateDict
from .fir import FIR_1331, blur_after_transposed_conv_pad, make_fir_kernel, upfirdn2d, upsample2d

SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2


def default_channels(
    out_size: int, channel_multiplier: float = 2, max_channels: int = 512
) -> tuple[int, ...]:
    """ch[r] for r = 4, 8, ..., out_size: 512 up to 32, then 16384*m/r, capped."""
    chans = []
    r = 4
    while r <= out_size:
        base = 512 if r <= 32 else int(16384 * channel_multiplier / r)
        chans.append(min(max_channels, base))
        r *= 2
    return tuple(chans)


def num_styles(out_size: int) -> int:
    return 2 * int(math.log2(out_size)) - 2


def noise_resolution(index: int) -> int:
    """Spatial size of the j-th noise input (conv1 is j = 0, then two per block)."""
    return 2 ** ((index + 5) // 2)


def fused_lrelu(x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """LeakyReLU(0.2)(x + bias) * sqrt(2), bias broadcast over dim 1."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, LRELU_SLOPE) * SQRT2


class EqualLinear(nn.Module):
    """Linear layer; the standard network scales weight by lr_mul/sqrt(in), bias by lr_mul."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 clean: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / (1.0 if clean else lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.weight_scale = 1.0 if clean else lr_mul / math.sqrt(in_dim)
        self.bias_scale = 1.0 if clean else lr_mul
        if clean:
            nn.init.kaiming_normal_(self.weight, a=0.0, mode="fan_in", nonlinearity="linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.weight_scale, self.bias * self.bias_scale)


class ModulatedConv(nn.Module):
    """Modulated (and optionally demodulated) conv; ``upsample`` doubles the resolution.

    weight (1, out, in, k, k); per sample s = mod(w) (bias init 1);
    W' = scale * weight * s[in]; demod: W'' = W' / sqrt(sum_{in,k,k} W'^2 + 1e-8).
    """

    fir: torch.Tensor  # registered buffer: declared so that type checkers know it is a tensor

    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, clean: bool = False, fir: Sequence[float] = FIR_1331) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.kernel = in_ch, out_ch, kernel
        self.demodulate, self.upsample, self.clean = demodulate, upsample, clean
        fan_in = in_ch * kernel * kernel
        init = torch.randn(1, out_ch, in_ch, kernel, kernel)
        self.weight = nn.Parameter(init / math.sqrt(fan_in) if clean else init)
        self.weight_scale = 1.0 if clean else 1.0 / math.sqrt(fan_in)
        self.mod = EqualLinear(style_dim, in_ch, bias_init=1.0, clean=clean)
        # The FIR kernel is a constant of the architecture, not a weight: non-persistent.
        self.register_buffer("fir", make_fir_kernel(fir), persistent=False)

    def modulated_weight(self, style: torch.Tensor) -> torch.Tensor:
        s = self.mod(style)  # (B, in)
        w = self.weight * self.weight_scale * s[:, None, :, None, None]  # (B, out, in, k, k)
        if self.demodulate:
            # In fp32 whatever the compute dtype: in fp16 the squares of small weights
            # underflow and 1e-8 is below fp16's smallest subnormal, so rsqrt(0) = inf.
            power = w.float().pow(2).sum(dim=(2, 3, 4), keepdim=True)
            w = (w.float() * torch.rsqrt(power + 1e-8)).to(w.dtype)
        return w

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        w = self.modulated_weight(style)
        if self.upsample and not self.clean:
            return self._transposed_up(x, w)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        h, wd = x.shape[-2:]
        out = F.conv2d(x.reshape(1, b * self.in_ch, h, wd),
                       w.reshape(b * self.out_ch, self.in_ch, self.kernel, self.kernel),
                       padding=self.kernel // 2, groups=b)
        return out.reshape(b, self.out_ch, out.shape[-2], out.shape[-1])

    def _transposed_up(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, _, h, wd = x.shape
        # conv_transpose2d wants (in, out/groups, k, k) per group.
        wt = w.transpose(1, 2).reshape(b * self.in_ch, self.out_ch, self.kernel, self.kernel)
        out = F.conv_transpose2d(x.reshape(1, b * self.in_ch, h, wd), wt, stride=2, groups=b)
        out = out.reshape(b, self.out_ch, out.shape[-2], out.shape[-1])
        pad = blur_after_transposed_conv_pad(self.fir.shape[0], self.kernel)
        return upfirdn2d(out, self.fir * 4, pad=pad)


class StyledConv(nn.Module):
    """Modulated conv + noise (learned strength) + bias + activation."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, upsample: bool = False,
                 clean: bool = False) -> None:
        super().__init__()
        self.clean = clean
        self.conv = ModulatedConv(in_ch, out_ch, 3, style_dim, upsample=upsample, clean=clean)
        self.noise_strength = nn.Parameter(torch.zeros(1))
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x, style)
        if self.clean:
            out = out * SQRT2
        if noise is not None:
            out = out + self.noise_strength * noise
        if self.clean:
            return F.leaky_relu(out + self.bias.view(1, -1, 1, 1), LRELU_SLOPE)
        return fused_lrelu(out, self.bias)


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation + bias + the upsampled previous RGB."""

    def __init__(self, in_ch: int, style_dim: int, clean: bool = False) -> None:
        super().__init__()
        self.clean = clean
        self.conv = ModulatedConv(in_ch, 3, 1, style_dim, demodulate=False, clean=clean)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            if self.clean:
                skip = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
            else:
                skip = upsample2d(skip, self.conv.fir)
            out = out + skip
        return out


class StyleGAN2Generator(nn.Module):
    """StyleGAN2 generator. ``forward(w_plus)`` -> RGB (B, 3, out, out) in about [-1, 1].

    Args:
        out_size: output resolution (power of two >= 8).
        style_dim: w dimension (512 in the official models; smaller for tests).
        n_mlp: mapping layers.
        channel_multiplier, max_channels: ch[r] per :func:`default_channels`;
        channels: explicit ch[r] for r = 4..out_size (overrides the two above).
        clean: GFPGAN's "clean" network (see module doc).
        lr_mlp: mapping learning-rate multiplier (0.01 in config-f).
    """

    def __init__(self, out_size: int = 1024, style_dim: int = 512, n_mlp: int = 8,
                 channel_multiplier: float = 2, max_channels: int = 512,
                 channels: Sequence[int] | None = None, clean: bool = False, lr_mlp: float = 0.01) -> None:
        super().__init__()
        log = int(math.log2(out_size))
        if 2**log != out_size or out_size < 8:
            raise ValueError(f"out_size must be a power of two >= 8, got {out_size}")
        chans = tuple(channels) if channels is not None else default_channels(
            out_size, channel_multiplier, max_channels)
        if len(chans) != log - 1:
            raise ValueError(f"need {log - 1} channel counts (4..{out_size}), got {len(chans)}")
        self.out_size, self.style_dim, self.n_mlp, self.clean = out_size, style_dim, n_mlp, clean
        self.channels = {4 * 2**i: c for i, c in enumerate(chans)}
        self.num_styles = num_styles(out_size)
        self.num_noises = self.num_styles - 1

        self.mapping = nn.ModuleList(
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, clean=clean) for _ in range(n_mlp))
        self.const = nn.Parameter(torch.randn(1, chans[0], 4, 4))
        self.conv1 = StyledConv(chans[0], chans[0], style_dim, clean=clean)
        self.to_rgb1 = ToRGB(chans[0], style_dim, clean=clean)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for prev, cur in zip(chans[:-1], chans[1:], strict=True):
            self.convs.append(StyledConv(prev, cur, style_dim, upsample=True, clean=clean))
            self.convs.append(StyledConv(cur, cur, style_dim, clean=clean))
            self.to_rgbs.append(ToRGB(cur, style_dim, clean=clean))
        # Fixed noise: restoration methods need deterministic outputs.
        for j in range(self.num_noises):
            r = noise_resolution(j)
            self.register_buffer(f"noise_{j}", torch.randn(1, 1, r, r))

    # -- mapping -------------------------------------------------------------------------
    def map(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, style_dim) -> w (B, style_dim)."""
        x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.mapping:
            x = layer(x)
            x = F.leaky_relu(x, LRELU_SLOPE) if self.clean else F.leaky_relu(x, LRELU_SLOPE) * SQRT2
        return x

    # -- noise ---------------------------------------------------------------------------
    def stored_noises(self) -> list[torch.Tensor]:
        return [getattr(self, f"noise_{j}") for j in range(self.num_noises)]

    def seeded_noises(self, seed: int, batch: int = 1) -> list[torch.Tensor]:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        ref = self.const
        return [torch.randn(batch, 1, noise_resolution(j), noise_resolution(j), generator=gen)
                .to(device=ref.device, dtype=ref.dtype) for j in range(self.num_noises)]

    def _noises(self, noise: str | int | Sequence[torch.Tensor | None] | None, batch: int) -> list[Any]:
        if noise is None or noise == "stored":
            return self.stored_noises()
        if noise == "none":
            return [None] * self.num_noises
        if isinstance(noise, int):
            return self.seeded_noises(noise, batch)
        if isinstance(noise, str):
            raise ValueError(f"noise must be 'stored', 'none', a seed or tensors, got {noise!r}")
        if len(noise) != self.num_noises:
            raise ValueError(f"need {self.num_noises} noise tensors, got {len(noise)}")
        return list(noise)

    # -- synthesis -----------------------------------------------------------------------
    def forward(self, w_plus: torch.Tensor, noise: str | int | Sequence[torch.Tensor | None] | None = "stored",
                input_is_latent: bool = True) -> torch.Tensor:
        """w_plus (B, N, style_dim), or (B, style_dim) broadcast to all N layers.

        noise: "stored" (the fixed buffers), "none", an int seed, or a list of tensors.
        input_is_latent=False runs z through the mapping network first.
        """
        if w_plus.ndim == 2:
            if not input_is_latent:
                w_plus = self.map(w_plus)
            w_plus = w_plus[:, None, :].expand(-1, self.num_styles, -1)
        elif not input_is_latent:
            b, n, d = w_plus.shape
            w_plus = self.map(w_plus.reshape(b * n, d)).reshape(b, n, d)
        if w_plus.shape[1:] != (self.num_styles, self.style_dim):
            raise ValueError(f"w+ must be (B, {self.num_styles}, {self.style_dim}), got {tuple(w_plus.shape)}")
        noises = self._noises(noise, w_plus.shape[0])
        out, skip = self.start(w_plus, noises)
        for k in range(len(self.to_rgbs)):
            out, skip = self.block(k, out, skip, w_plus, noises)
        return skip

    def block(self, k: int, out: torch.Tensor, skip: torch.Tensor | None, w_plus: torch.Tensor,
              noises: Sequence[torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """Block k (input resolution 4*2^k): upsampling conv, conv, to_rgb with w[2k+1..2k+3]."""
        i = 2 * k + 1
        out = self.convs[2 * k](out, w_plus[:, i], noises[i])
        out = self.convs[2 * k + 1](out, w_plus[:, i + 1], noises[i + 1])
        skip = self.to_rgbs[k](out, w_plus[:, i + 2], skip)
        return out, skip

    def start(self, w_plus: torch.Tensor, noises: Sequence[torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """The 4x4 stage: constant -> conv1 (w0) -> to_rgb1 (w1)."""
        out = self.const.expand(w_plus.shape[0], -1, -1, -1)
        out = self.conv1(out, w_plus[:, 0], noises[0])
        return out, self.to_rgb1(out, w_plus[:, 1])

    # -- checkpoints ---------------------------------------------------------------------
    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Load canonical names or any of the four checkpoint layouts (detected from keys)."""
        from .gan_layouts import stylegan2_to_canonical

        return super().load_state_dict(stylegan2_to_canonical(state_dict), strict=strict, assign=assign)


class UnitRangeWrapper(nn.Module):
    """Adapts a GAN-prior network working in [-1, 1] to the engine's [0, 1] contract.

    ``forward(x01, **kwargs)`` = from_unit -> net -> to_unit (unclamped). The raw network
    stays available as ``.net``; its size attributes are mirrored. ``load_state_dict``
    accepts the raw network's (any layout's) names as well as this wrapper's ``net.*``.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        for name in ("in_size", "out_size", "scale"):
            if hasattr(net, name):
                setattr(self, name, getattr(net, name))

    @staticmethod
    def from_unit(x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 - 1.0

    @staticmethod
    def to_unit(y: torch.Tensor) -> torch.Tensor:
        return (y + 1.0) * 0.5

    def forward(self, x: torch.Tensor, **kwargs: Any) -> Any:
        out = self.net(self.from_unit(x), **kwargs)
        if isinstance(out, tuple):
            return (self.to_unit(out[0]), *out[1:])
        return self.to_unit(out)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        if state_dict and all(k.startswith("net.") for k in state_dict):
            state_dict = {k[4:]: v for k, v in state_dict.items()}
        return self.net.load_state_dict(state_dict, strict=strict, assign=assign)


# ---------------------------------------------------------------------------------------
# ArchSpec
# ---------------------------------------------------------------------------------------


def detect(state: StateDict) -> bool:
    from .gan_layouts import find_stylegan2

    return find_stylegan2(state) is not None


def params_from_state(state: StateDict) -> dict[str, Any]:
    from .gan_layouts import stylegan2_params

    return stylegan2_params(state)


def build(**params: Any) -> StyleGAN2Generator:
    params = {k: v for k, v in params.items() if k not in ("layout", "scale")}
    return StyleGAN2Generator(**params)


def describe(params: dict[str, Any]) -> Capabilities:
    # A bare generator restores nothing by itself: it is a prior other models build on.
    return Capabilities(purpose="prior", scale=1, tiles=False, seed=True, precisions=("fp32",))


SPEC = ArchSpec(
    describe=describe,
    id="stylegan2",
    kind="generator",
    build=build,
    detect=detect,
    params_from_state=params_from_state,
)
