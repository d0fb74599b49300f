"""GFPGAN v1.3 / v1.4 ("clean", GFPGANv1Clean): U-Net encoder + StyleGAN2 decoder with SFT.

Written from the GFP-GAN paper (Wang et al., CVPR 2021) and the structure of the official
checkpoints; checked against spandrel 0.4.2's copy of the authors' code on seeded random
weights (tools/make_gfpgan_golden.py, tests/archs/test_gfpgan.py).

Network (input and output RGB in [-1, 1], square ``out_size``; the engine sees [0, 1]
through :class:`UnitRangeWrapper`):

- U-Net widths u[r] = half the clean StyleGAN2 widths: 256 for r <= 32, then
  128m at 64, 64m at 128, 32m at 256, 16m at 512 (m = channel multiplier, 2).
- ``conv_body_first`` 1x1 conv 3 -> u[out] + LeakyReLU(0.2); ``conv_body_down``: one
  residual block per halving (conv3x3 + LReLU, bilinear x0.5, conv3x3 + LReLU, plus a
  bilinear-resized 1x1 skip conv without bias) down to 4x4; ``final_conv`` 3x3 + LReLU.
- ``final_linear``: flatten (u[4] * 16) -> N * style_dim = the w+ code (N = 2 log2(out) - 2).
- Decoder path: for each resolution 8..out: add the matching encoder feature (U-Net skip),
  an upsampling residual block (``conv_body_up``), then ``condition_scale`` and
  ``condition_shift`` (conv3x3, LReLU 0.2, conv3x3) give the SFT maps at that resolution.
  ``toRGB`` (1x1 convs) only feed training losses; their weights are loaded, never run.
- ``stylegan_decoder``: the clean StyleGAN2 (:mod:`kintsugi.archs.stylegan2`, ``clean=True``)
  driven by w+, where after each block's upsampling conv the second half of the channels
  becomes ``x * scale + shift`` (``sft_half``; without it, all channels).

Noise: the official inference draws fresh noise each call; Kintsugi uses the checkpoint's
stored noise buffers (deterministic) and redraws them only when a seed is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import ArchSpec, Capabilities, StateDict
from .gan_layouts import (
    canonical_generator_params,
    stylegan2_from_canonical,
    stylegan2_to_canonical,
)
from .stylegan2 import StyleGAN2Generator, UnitRangeWrapper, num_styles

DECODER = "stylegan_decoder."
LRELU = 0.2


def clean_channels(out_size: int, channel_multiplier: float = 2, narrow: float = 1.0) -> dict[int, int]:
    """The clean StyleGAN2's width per resolution (GFPGAN's ``channels`` table)."""
    widths = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier,
              128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
              512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {r: int(widths[r] * narrow) for r in widths if r <= out_size}


class ResizeBlock(nn.Module):
    """Residual block that halves or doubles the resolution by bilinear resizing."""

    def __init__(self, in_ch: int, out_ch: int, factor: float) -> None:
        super().__init__()
        self.factor = factor
        self.conv1 = nn.Conv2d(in_ch, in_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv1(x), LRELU)
        out = F.leaky_relu(self.conv2(self._resize(out)), LRELU)
        return out + self.skip(self._resize(x))


def _sft_branch(ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(LRELU), nn.Conv2d(ch, out_ch, 3, 1, 1))


class GFPGAN(nn.Module):
    """GFPGANv1Clean. ``forward(x)`` (B, 3, out, out) in [-1, 1] -> restored face, same size."""

    def __init__(self, out_size: int = 512, style_dim: int = 512, n_mlp: int = 8,
                 channel_multiplier: float = 2, narrow: float = 1.0, sft_half: bool = True,
                 channels: Sequence[int] | None = None, unet_channels: Sequence[int] | None = None) -> None:
        """channels / unet_channels: explicit widths for r = 4..out_size (read from a
        checkpoint's shapes); otherwise the official tables from multiplier and narrow."""
        super().__init__()
        log_size = int(math.log2(out_size))
        if 2**log_size != out_size or out_size < 8:
            raise ValueError(f"out_size must be a power of two >= 8, got {out_size}")
        self.in_size = self.out_size = out_size
        self.scale = 1
        self.style_dim, self.sft_half = style_dim, sft_half
        sizes = [2**i for i in range(2, log_size + 1)]
        gen_ch = dict(zip(sizes, channels, strict=True)) if channels is not None else \
            clean_channels(out_size, channel_multiplier, narrow)
        unet = dict(zip(sizes, unet_channels, strict=True)) if unet_channels is not None else \
            clean_channels(out_size, channel_multiplier, narrow * 0.5)
        ups = [2**i for i in range(3, log_size + 1)]  # 8 .. out

        self.conv_body_first = nn.Conv2d(3, unet[out_size], 1)
        downs = [2**i for i in range(log_size - 1, 1, -1)]  # out/2 .. 4
        widths = [unet[out_size]] + [unet[r] for r in downs]
        self.conv_body_down = nn.ModuleList(
            ResizeBlock(a, b, 0.5) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.final_conv = nn.Conv2d(unet[4], unet[4], 3, 1, 1)
        up_widths = [unet[4]] + [unet[r] for r in ups]
        self.conv_body_up = nn.ModuleList(
            ResizeBlock(a, b, 2.0) for a, b in zip(up_widths[:-1], up_widths[1:], strict=True))
        self.toRGB = nn.ModuleList(nn.Conv2d(unet[r], 3, 1) for r in ups)
        self.final_linear = nn.Linear(unet[4] * 16, num_styles(out_size) * style_dim)
        self.stylegan_decoder = StyleGAN2Generator(
            out_size, style_dim, n_mlp, channels=[gen_ch[r] for r in [4, *ups]], clean=True)
        sft_out = {r: unet[r] if sft_half else 2 * unet[r] for r in ups}
        self.condition_scale = nn.ModuleList(_sft_branch(unet[r], sft_out[r]) for r in ups)
        self.condition_shift = nn.ModuleList(_sft_branch(unet[r], sft_out[r]) for r in ups)

    # -- parts ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The w+ code (B, N, style_dim) and the SFT (scale, shift) per decoder block."""
        if tuple(x.shape[-2:]) != (self.in_size, self.in_size):
            raise ValueError(f"GFPGAN input must be {self.in_size}x{self.in_size}, got {tuple(x.shape[-2:])}")
        feat = F.leaky_relu(self.conv_body_first(x), LRELU)
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.append(feat)
        feat = F.leaky_relu(self.final_conv(feat), LRELU)
        w_plus = self.final_linear(feat.flatten(1)).view(x.shape[0], -1, self.style_dim)
        conditions = []
        for k, block in enumerate(self.conv_body_up):
            feat = block(feat + skips[-1 - k])
            conditions.append((self.condition_scale[k](feat), self.condition_shift[k](feat)))
        return w_plus, conditions

    def _sft(self, out: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        if not self.sft_half:
            return out * scale + shift
        keep, mod = torch.split(out, out.shape[1] // 2, dim=1)
        return torch.cat([keep, mod * scale + shift], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.prepare(x))

    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The part a restore session keeps per face: w+ and the SFT maps (noise-free)."""
        return self.encode(x)

    def finish(self, prepared: tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]) -> torch.Tensor:
        """The decoder pass (the only part the noise, hence a seed, reaches)."""
        w_plus, conditions = prepared
        g = self.stylegan_decoder
        noises = g.stored_noises()
        out, skip = g.start(w_plus, noises)
        for k, (scale, shift) in enumerate(conditions):
            i = 2 * k + 1
            out = g.convs[2 * k](out, w_plus[:, i], noises[i])
            out = self._sft(out, scale, shift)
            out = g.convs[2 * k + 1](out, w_plus[:, i + 1], noises[i + 1])
            skip = g.to_rgbs[k](out, w_plus[:, i + 2], skip)
        return skip

    # -- checkpoints ---------------------------------------------------------------------
    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Load the official names (decoder in the clean StyleGAN2 layout) or Kintsugi's."""
        return super().load_state_dict(gfpgan_to_canonical(state_dict), strict=strict, assign=assign)


# ---------------------------------------------------------------------------------------
# Key table: every name equals the official one except the decoder's (see docs/adr/0002).
# ---------------------------------------------------------------------------------------


def _split(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    decoder = {k[len(DECODER):]: v for k, v in state.items() if k.startswith(DECODER)}
    rest = {k: v for k, v in state.items() if not k.startswith(DECODER)}
    return rest, decoder


def gfpgan_to_canonical(state: Mapping[str, Any]) -> dict[str, Any]:
    rest, decoder = _split(state)
    layout = "clean" if "constant_input.weight" in decoder else "canonical"
    rest.update({DECODER + k: v for k, v in stylegan2_to_canonical(decoder, layout).items()})
    return rest


def gfpgan_from_canonical(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Kintsugi names -> the official checkpoint names (for tests and export)."""
    rest, decoder = _split(state)
    rest.update({DECODER + k: v for k, v in stylegan2_from_canonical(decoder, "clean").items()})
    return rest


# ---------------------------------------------------------------------------------------
# ArchSpec
# ---------------------------------------------------------------------------------------


def detect(state: StateDict) -> bool:
    return ("toRGB.0.weight" in state and "conv_body_first.weight" in state
            and any(k.startswith(DECODER) for k in state))


def params_from_state(state: StateDict) -> dict[str, Any]:
    canon = gfpgan_to_canonical(state)
    gen = canonical_generator_params(canon, DECODER)
    ups = sum(1 for k in canon if k.startswith("toRGB.") and k.endswith(".weight"))
    unet = [int(canon["final_conv.weight"].shape[0])]
    unet += [int(canon[f"toRGB.{k}.weight"].shape[1]) for k in range(ups)]
    return {
        "out_size": gen["out_size"],
        "style_dim": gen["style_dim"],
        "n_mlp": gen["n_mlp"],
        "channels": tuple(gen["channels"]),
        "unet_channels": tuple(unet),
        "sft_half": int(canon["condition_scale.0.2.weight"].shape[0]) == unet[1],
        "scale": 1,
    }


def build(**params: Any) -> UnitRangeWrapper:
    """The engine's [0, 1] model; the raw [-1, 1] GFPGAN is ``.net``."""
    return UnitRangeWrapper(GFPGAN(**{k: v for k, v in params.items() if k != "scale"}))


def describe(params: dict[str, Any]) -> Capabilities:
    # bf16 is spandrel's verdict for this network too; fp16 is not safe (StyleGAN2's
    # demodulation underflows). Noise inputs exist, so a seed redraws them.
    return Capabilities(purpose="face-restorer", scale=1, input_size=int(params["out_size"]),
                        tiles=False, seed=True, precisions=("fp32", "bf16"))


SPEC = ArchSpec(
    id="gfpgan",
    kind="face-restorer",
    build=build,
    detect=detect,
    params_from_state=params_from_state,
    describe=describe,
)
