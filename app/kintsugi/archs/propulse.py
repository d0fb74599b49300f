"""Pro-PULSE (Zhang et al., IEEE TIP 2022): progressive encoders into a frozen StyleGAN2.

No official code or weights exist; this is a reconstruction from the paper (section III and
figures 2-4). Three parts:

* ``G_ds``, the deeply supervised generator: the frozen StyleGAN2 plus one side-output branch
  per style block whose resolution is 32 .. out/2 (512 for 1024 px): three 1x1 convs with
  128, 64 and 3 channels turn that block's features into an RGB image.
* ``E_W``, the base encoder: conv 3x3, transposed conv 3x3, 4 groups of two RCABs with a
  residual connection around them, then convs with (kernel, stride) (4, 4), (4, 4), (2, 1)
  and 512 channels -> one w, repeated for every style input.
* ``E_W+``, the scale-specific encoder: per scale, two RCABs and the same three convs ->
  that scale's w+ codes. At stage s the codes of scales 4 .. 32*2^(s-1) come from E_W+ and
  the rest are E_W's w (paper Eq. 10): stage 0 is E_W alone, stage 6 (at 1024 px) is W+ only.

Choices where the paper is silent (each configurable):

* The transposed conv upsamples by 2 (stride 2). The paper says it has "the same kernel size
  and stride" as the first conv (stride 1), but its three head convs (4,4), (4,4), (2,1)
  reach 1x1 only from 32x32, i.e. from a 16 px input upsampled twice. For other sizes the
  head uses stride-4 convs while the map is at least 8 px, then one conv over what is left.
* Encoder width 64 and RCAB channel reduction 16 (RCAN's defaults); ReLU inside RCABs and
  LeakyReLU(0.2) after the head convs and between the side-branch convs.
* E_W+ shares one stem (conv + transposed conv + the 4 RCAB groups, as E_W) across scales;
  each scale has its own two RCABs and head, whose 512 channels (E_W's) give one code per
  scale, used for all that scale's style inputs: the first scale (32 px) covers 4..32 px
  (8 inputs at 1024 px), every later scale its block's two (a block's to-RGB uses the next
  block's first input, as in StyleGAN2). One code per style input instead would need heads
  of 1024-4096 channels: about 450M parameters at 1024 px against 36M this way.
* ``stage`` is a buffer, saved with the weights, so a model file says how far its
  progressive training went; inference uses it.

Value space: [-1, 1] in and out like the other GAN-prior networks (wrap with
UnitRangeWrapper for the engine). ``forward(x, return_sides=True)`` gives
``(final, [side_32, side_64, ...])``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import ArchSpec, Capabilities, StateDict
from .gan_layouts import canonical_generator_params, raw_network
from .stylegan2 import StyleGAN2Generator, UnitRangeWrapper, default_channels

SIDE_CHANNELS = (128, 64)  # then 3


class RCAB(nn.Module):
    """Residual channel attention block (Zhang et al., RCAN 2018)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 3, 1, 1))
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, squeezed, 1),
                                       nn.ReLU(inplace=True), nn.Conv2d(squeezed, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x)
        return x + res * self.attention(res)


def head_layers(size: int, in_ch: int, out_ch: int) -> nn.Sequential:
    """Convs from (in_ch, size, size) to (out_ch, 1, 1): (4,4) while size >= 8, then (size,1)."""
    layers: list[nn.Module] = []
    ch = in_ch
    while size >= 8 and size % 4 == 0:
        layers += [nn.Conv2d(ch, out_ch, 4, 4), nn.LeakyReLU(0.2)]
        ch, size = out_ch, size // 4
    layers.append(nn.Conv2d(ch, out_ch, size, 1))
    return nn.Sequential(*layers)


class Stem(nn.Module):
    """conv 3x3 -> transposed conv 3x3 (x2) -> groups of two RCABs, with a residual around them."""

    def __init__(self, channels: int, groups: int, reduction: int) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, channels, 3, 1, 1)
        self.up = nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)
        self.groups = nn.Sequential(*(nn.Sequential(RCAB(channels, reduction), RCAB(channels, reduction))
                                      for _ in range(groups)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.up(self.first(x))
        return feat + self.groups(feat)


class BaseEncoder(nn.Module):
    """E_W: LR image -> one w (B, style_dim)."""

    def __init__(self, in_size: int, style_dim: int, channels: int, groups: int, reduction: int) -> None:
        super().__init__()
        self.stem = Stem(channels, groups, reduction)
        self.head = head_layers(2 * in_size, channels, style_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(x)).flatten(1)


class ScaleEncoder(nn.Module):
    """E_W+: LR image -> w+ codes per scale (list of (B, n_inputs, style_dim), one code repeated)."""

    def __init__(self, in_size: int, style_dim: int, channels: int, groups: int, reduction: int,
                 codes_per_scale: Sequence[int]) -> None:
        super().__init__()
        self.style_dim = style_dim
        self.codes_per_scale = tuple(codes_per_scale)
        self.stem = Stem(channels, groups, reduction)
        self.scales = nn.ModuleList(
            nn.Sequential(RCAB(channels, reduction), RCAB(channels, reduction),
                          head_layers(2 * in_size, channels, style_dim))
            for _ in self.codes_per_scale)

    def forward(self, x: torch.Tensor, count: int) -> list[torch.Tensor]:
        """Codes of the first ``count`` scales."""
        if count == 0:
            return []
        feat = self.stem(x)
        return [branch(feat).view(x.shape[0], 1, self.style_dim).expand(-1, n, -1)
                for branch, n in zip(self.scales[:count], self.codes_per_scale[:count], strict=False)]


class SideBranch(nn.Sequential):
    def __init__(self, in_ch: int, widths: Sequence[int] = SIDE_CHANNELS) -> None:
        layers: list[nn.Module] = []
        ch = in_ch
        for width in widths:
            layers += [nn.Conv2d(ch, width, 1), nn.LeakyReLU(0.2)]
            ch = width
        layers.append(nn.Conv2d(ch, 3, 1))
        super().__init__(*layers)


class ProPULSE(nn.Module):
    """Pro-PULSE. ``forward(lr)`` -> HR (B, 3, out, out) in about [-1, 1].

    Args:
        in_size, out_size: 16 and 1024 in the paper.
        style_dim, n_mlp, channel_multiplier, max_channels, channels: the StyleGAN2 prior.
        side_min: smallest side-output resolution (32); side outputs go up to out_size / 2.
        side_channels: widths of the side branches before their RGB conv (128, 64).
        enc_channels, enc_groups, rcab_reduction: encoder width (64), RCAB groups (4), reduction (16).
    """

    stage: torch.Tensor

    def __init__(self, in_size: int = 16, out_size: int = 1024, style_dim: int = 512, n_mlp: int = 8,
                 channel_multiplier: float = 2, max_channels: int = 512, channels: Sequence[int] | None = None,
                 side_min: int = 32, side_channels: Sequence[int] = SIDE_CHANNELS, enc_channels: int = 64,
                 enc_groups: int = 4, rcab_reduction: int = 16) -> None:
        super().__init__()
        if not 4 <= in_size < out_size or side_min >= out_size:
            raise ValueError(f"need 4 <= in_size < out_size and side_min < out_size, got {in_size}, {out_size}, "
                             f"{side_min}")
        chans = tuple(channels) if channels is not None else default_channels(
            out_size, channel_multiplier, max_channels)
        self.in_size, self.out_size, self.scale = in_size, out_size, out_size // in_size
        self.style_dim = style_dim
        self.generator = StyleGAN2Generator(out_size, style_dim, n_mlp, channels=chans)
        self.generator.requires_grad_(False)  # frozen prior (paper III-C)
        self.side_res = [r for r in self.generator.channels if side_min <= r < out_size]
        self.sides = nn.ModuleList(SideBranch(self.generator.channels[r], side_channels) for r in self.side_res)
        # Progressive scales: side_min (with everything coarser), then each finer block.
        self.stage_res = [*self.side_res, out_size]
        first = 2 * (int(math.log2(side_min)) - 1)  # codes of 4..side_min
        codes = [first] + [2] * (len(self.stage_res) - 1)
        self.encoder_w = BaseEncoder(in_size, style_dim, enc_channels, enc_groups, rcab_reduction)
        self.encoder_wplus = ScaleEncoder(in_size, style_dim, enc_channels, enc_groups, rcab_reduction, codes)
        self.register_buffer("stage", torch.tensor(0, dtype=torch.int64))

    @property
    def num_stages(self) -> int:
        return len(self.stage_res)

    def latent(self, x: torch.Tensor, stage: int | None = None) -> torch.Tensor:
        """w+ (B, N, style_dim): E_W+ codes for the first ``stage`` scales, E_W's w for the rest."""
        stage = int(self.stage) if stage is None else stage
        w = self.encoder_w(x)
        if stage > 0:
            w = w.detach()  # E_W is trained first and then guides E_W+ (paper III-E)
        codes = self.encoder_wplus(x, stage)
        taken = sum(c.shape[1] for c in codes)
        rest = w[:, None, :].expand(-1, self.generator.num_styles - taken, -1)
        return torch.cat([*codes, rest], dim=1)

    def synthesize(self, w_plus: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """G_ds: the generator's image and the side outputs (coarse to fine)."""
        g = self.generator
        noises = g.stored_noises()
        out, skip = g.start(w_plus, noises)
        sides = []
        for k in range(len(g.to_rgbs)):
            out, skip = g.block(k, out, skip, w_plus, noises)
            if out.shape[-1] in self.side_res:
                sides.append(self.sides[self.side_res.index(out.shape[-1])](out))
        return skip, sides

    def forward(self, x: torch.Tensor, return_sides: bool = False, stage: int | None = None,
                from_z: bool = False) -> Any:
        """x: LR (B, 3, in, in) in [-1, 1]; or z (B, style_dim) when ``from_z`` (G_ds training)."""
        if from_z:
            w_plus = self.generator.map(x)[:, None, :].expand(-1, self.generator.num_styles, -1)
        else:
            if tuple(x.shape[-2:]) != (self.in_size, self.in_size):
                raise ValueError(f"Pro-PULSE input must be {self.in_size}x{self.in_size}, got {tuple(x.shape[-2:])}")
            w_plus = self.latent(x, stage)
        final, sides = self.synthesize(w_plus)
        return (final, sides) if return_sides else final


# ---------------------------------------------------------------------------------------
# ArchSpec
# ---------------------------------------------------------------------------------------

def detect(state: StateDict) -> bool:
    # E_W and E_W+ (with its per-scale branches) and the side branches: no other
    # architecture has these names.
    net = raw_network(state)
    return ("encoder_w.stem.first.weight" in net and "encoder_wplus.scales.0.2.0.weight" in net
            and "sides.0.0.weight" in net and "generator.const" in net)


_GROUP = re.compile(r"^encoder_w\.stem\.groups\.(\d+)\.0\.body\.0\.weight$")
_HEAD = re.compile(r"^encoder_w\.head\.(\d+)\.weight$")
_SIDE = re.compile(r"^sides\.(\d+)\.0\.weight$")
_SIDE_CONV = re.compile(r"^sides\.0\.(\d+)\.weight$")


def params_from_state(state: StateDict) -> dict[str, Any]:
    """Every constructor argument, read back from the shapes of a bare state dict."""
    net = raw_network(state)
    gen = canonical_generator_params(net, "generator.")
    enc = int(net["encoder_w.stem.first.weight"].shape[0])
    squeezed = int(net["encoder_w.stem.groups.0.0.attention.1.weight"].shape[0])
    heads = sorted(int(m.group(1)) for k in net if (m := _HEAD.match(k)))
    # head_layers: stride-4 (4, 4) convs, then one conv whose kernel is the remaining size.
    stem_size = 4 ** (len(heads) - 1) * int(net[f"encoder_w.head.{heads[-1]}.weight"].shape[-1])
    sides = 1 + max(int(m.group(1)) for k in net if (m := _SIDE.match(k)))
    convs = sorted(int(m.group(1)) for k in net if (m := _SIDE_CONV.match(k)))
    return {
        "in_size": stem_size // 2,
        "out_size": gen["out_size"],
        "style_dim": gen["style_dim"],
        "n_mlp": gen["n_mlp"],
        "channels": list(gen["channels"]),
        "side_min": gen["out_size"] // 2**sides,
        "side_channels": [int(net[f"sides.0.{i}.weight"].shape[0]) for i in convs[:-1]],
        "enc_channels": enc,
        "enc_groups": 1 + max(int(m.group(1)) for k in net if (m := _GROUP.match(k))),
        # Any reduction that gives this squeezed width builds the same network.
        "rcab_reduction": enc // squeezed,
        "scale": gen["out_size"] // (stem_size // 2),
    }


def build(**params: Any) -> UnitRangeWrapper:
    return UnitRangeWrapper(ProPULSE(**{k: v for k, v in params.items() if k != "scale"}))


def describe(params: dict[str, Any]) -> Capabilities:
    in_size = int(params.get("in_size", 16))
    out_size = int(params.get("out_size", 1024))
    # fp32 only: StyleGAN2's demodulation underflows in fp16. Noise inputs are the stored ones.
    return Capabilities(purpose="face-restorer", scale=out_size // in_size, input_size=in_size,
                        tiles=False, precisions=("fp32",), side_outputs=True)


SPEC = ArchSpec(
    describe=describe,
    id="propulse",
    kind="face-restorer",
    build=build,
    detect=detect,
    params_from_state=params_from_state,
)


def side_output_sizes(params: dict[str, Any]) -> list[int]:
    out_size = int(params.get("out_size", 1024))
    side_min = int(params.get("side_min", 32))
    return [2**i for i in range(int(math.log2(side_min)), int(math.log2(out_size)))]


def downsample(image: torch.Tensor, size: int) -> torch.Tensor:
    """DS^r of the paper: area averaging (its kind of downsampling is not stated)."""
    if image.shape[-1] == size:
        return image
    return F.interpolate(image, size=(size, size), mode="area")


@torch.no_grad()
def side_outputs(model: nn.Module, x01: torch.Tensor) -> list[torch.Tensor]:
    """The side outputs (coarse to fine) of a [0, 1]-wrapped Pro-PULSE for an aligned LR face
    (B, 3, in, in) in [0, 1]; each (B, 3, r, r) in [0, 1], clamped."""
    raw = getattr(model, "net", model)
    if not isinstance(raw, ProPULSE):
        raise TypeError("side outputs exist for Pro-PULSE models only")
    _final, sides = raw(x01 * 2 - 1, return_sides=True)
    return [((s + 1) / 2).clamp(0, 1) for s in sides]
