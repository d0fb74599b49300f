"""GLEAN (Chan et al., CVPR 2021): encoder -> StyleGAN2 latent bank -> decoder.

Module names equal mmediting/mmagic ``GLEANStyleGANv2`` so that the official checkpoints
load with ``strict=True`` (the latent bank ``generator.*`` is renamed from mmagic's layout;
see :mod:`kintsugi.archs.gan_layouts`). Official configs: FFHQ 16x (64 -> 1024), FFHQ 8x
(128 -> 1024), cat 8x (32 -> 256), cat 16x (16 -> 256).

Value space: RGB in [-1, 1] in and out (unclamped); wrap in
:class:`~kintsugi.archs.stylegan2.UnitRangeWrapper` for the engine's [0, 1] contract.
The input size must equal ``in_size``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

import torch
import torch.nn.functional as F
from torch import nn

from . import ArchSpec, Capabilities, StateDict
from .gan_layouts import canonical_generator_params, gan_prior_to_canonical, restorer_network
from .rrdbnet import RRDBTrunk as RRDBFeatureExtractor
from .stylegan2 import StyleGAN2Generator, UnitRangeWrapper, default_channels, num_styles


def lrelu(slope: float = 0.2) -> nn.LeakyReLU:
    return nn.LeakyReLU(slope, inplace=True)


class PixelShuffleUp(nn.Module):
    """conv3x3 to out*4 channels, then pixel shuffle x2 (no activation)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.upsample_conv = nn.Conv2d(in_ch, out_ch * 4, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.upsample_conv(x), 2)


class GLEAN(nn.Module):
    """GLEAN with a StyleGAN2 latent bank.

    Args:
        in_size, out_size: input/output resolutions (powers of two, in < out).
        style_dim, n_mlp, channel_multiplier, max_channels, channels: the StyleGAN2 bank.
        rrdb_channels, num_rrdbs, growth: the encoder's RRDB trunk (64, 23, 32 officially).
        decoder_channels: width of the last decoder conv (64).
    """

    def __init__(self, in_size: int = 64, out_size: int = 1024, style_dim: int = 512, n_mlp: int = 8,
                 channel_multiplier: float = 2, max_channels: int = 512, channels: Sequence[int] | None = None,
                 rrdb_channels: int = 64, num_rrdbs: int = 23, growth: int = 32, decoder_channels: int = 64) -> None:
        super().__init__()
        if not 4 <= in_size < out_size:
            raise ValueError(f"need 4 <= in_size < out_size, got {in_size}, {out_size}")
        chans = tuple(channels) if channels is not None else default_channels(
            out_size, channel_multiplier, max_channels)
        self.in_size, self.out_size, self.scale = in_size, out_size, out_size // in_size
        self.style_dim = style_dim
        self.generator = StyleGAN2Generator(out_size, style_dim, n_mlp, channels=chans)
        ch = self.generator.channels

        enc_res = [2**i for i in range(int(math.log2(in_size)), 1, -1)]  # in, ..., 4
        self.encoder = nn.ModuleList([nn.Sequential(
            RRDBFeatureExtractor(3, rrdb_channels, num_rrdbs, growth),
            nn.Conv2d(rrdb_channels, ch[in_size], 3, 1, 1), lrelu())])
        for r in enc_res:
            if r > 4:
                self.encoder.append(nn.Sequential(
                    nn.Conv2d(ch[r], ch[r // 2], 3, 2, 1), lrelu(),
                    nn.Conv2d(ch[r // 2], ch[r // 2], 3, 1, 1), lrelu()))
            else:
                self.encoder.append(nn.Sequential(
                    nn.Conv2d(ch[4], ch[4], 3, 1, 1), lrelu(), nn.Flatten(),
                    nn.Linear(16 * ch[4], num_styles(out_size) * style_dim)))

        self.fusion_out = nn.ModuleList(nn.Conv2d(2 * ch[r], ch[r], 3, 1, 1) for r in enc_res[::-1])
        self.fusion_skip = nn.ModuleList(nn.Conv2d(ch[r] + 3, 3, 3, 1, 1) for r in enc_res[::-1])

        self.decoder = nn.ModuleList()
        r = in_size
        while r <= out_size:
            width = ch[r] if r == in_size else 2 * ch[r]
            if r < out_size:
                self.decoder.append(PixelShuffleUp(width, ch[2 * r]))
            else:
                self.decoder.append(nn.Sequential(
                    nn.Conv2d(width, decoder_channels, 3, 1, 1), lrelu(),
                    nn.Conv2d(decoder_channels, 3, 3, 1, 1)))
            r *= 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, in, in) in [-1, 1] -> (B, 3, out, out) in about [-1, 1]."""
        if tuple(x.shape[-2:]) != (self.in_size, self.in_size):
            raise ValueError(f"GLEAN input must be {self.in_size}x{self.in_size}, got {tuple(x.shape[-2:])}")
        feats = []
        feat = x
        for block in self.encoder:
            feat = block(feat)
            feats.append(feat)
        w_plus = feats[-1].view(x.shape[0], -1, self.style_dim)
        enc = feats[-2::-1]  # 4x4 first ... in_size last
        return self.synthesize(w_plus, self.generator.stored_noises(), enc)

    def synthesize(self, styles: torch.Tensor, noises: list[torch.Tensor],
                   enc: list[torch.Tensor]) -> torch.Tensor:
        """The latent bank and decoder: the generator fused with the encoder features `enc`
        (4x4 first) block by block, its finer features decoded with them. LAREN reuses it
        with its own styles and noises."""
        g = self.generator
        out, skip = g.start(styles, noises)
        bank = []
        for k in range(len(g.to_rgbs)):
            if out.shape[-1] <= self.in_size:
                out = self.fusion_out[k](torch.cat([out, enc[k]], 1))
                skip = self.fusion_skip[k](torch.cat([skip, enc[k]], 1))
            out, skip = g.block(k, out, skip, styles, noises)
            if out.shape[-1] > self.in_size:
                bank.append(out)
        hr = enc[-1]
        for i, block in enumerate(self.decoder):
            if i > 0:
                hr = torch.cat([hr, bank[i - 1]], 1)
            hr = block(hr)
        return hr

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Load Kintsugi names or the official mmediting/mmagic checkpoint names."""
        return super().load_state_dict(gan_prior_to_canonical(state_dict), strict=strict, assign=assign)


# ---------------------------------------------------------------------------------------
# ArchSpec
# ---------------------------------------------------------------------------------------

_RRDB = re.compile(r"^encoder\.0\.0\.body\.(\d+)\.rdb1\.conv1\.weight$")


class RRDBTrunkParams(TypedDict):
    rrdb_channels: int
    num_rrdbs: int
    growth: int


def rrdb_trunk_params(canon: Mapping[str, Any]) -> RRDBTrunkParams:
    """The RRDB trunk at ``encoder.0.0`` (GLEAN's encoder, Panini's IFE), from canonical names."""
    return {
        "rrdb_channels": int(canon["encoder.0.0.conv_first.weight"].shape[0]),
        "num_rrdbs": 1 + max(int(m.group(1)) for k in canon if (m := _RRDB.match(k))),
        "growth": int(canon["encoder.0.0.body.0.rdb1.conv1.weight"].shape[0]),
    }


def build_unit_range(net: Callable[..., nn.Module], params: Mapping[str, Any]) -> UnitRangeWrapper:
    """``net(**params)`` wrapped for the engine's [0, 1]; ``scale`` is informational, not an argument."""
    return UnitRangeWrapper(net(**{k: v for k, v in params.items() if k != "scale"}))


def detect(state: StateDict) -> bool:
    net = restorer_network(state)
    return ("fusion_skip.0.weight" in net and "encoder.0.0.conv_first.weight" in net
            and any(k.startswith("generator.") for k in net)
            and "gdm.subject.weight" not in net)  # LAREN is GLEAN plus GDM and CGM


def params_from_state(state: StateDict) -> dict[str, Any]:
    canon = gan_prior_to_canonical(state)
    gen = canonical_generator_params(canon, "generator.")
    in_size = 4 * 2 ** (sum(1 for k in canon if re.match(r"^fusion_skip\.\d+\.weight$", k)) - 1)
    return {
        "in_size": in_size,
        "out_size": gen["out_size"],
        "style_dim": gen["style_dim"],
        "n_mlp": gen["n_mlp"],
        "channels": gen["channels"],
        **rrdb_trunk_params(canon),
        "decoder_channels": int(canon[f"decoder.{len(gen['channels']) - int(math.log2(in_size)) + 1}.0.weight"]
                                .shape[0]),
        "scale": gen["out_size"] // in_size,
    }


def build(**params: Any) -> UnitRangeWrapper:
    """The engine's [0, 1] model; the raw [-1, 1] GLEAN is ``.net``."""
    return build_unit_range(GLEAN, params)


# Kind "face-restorer": the official models take fixed-size aligned crops (FFHQ faces,
# cat faces), so the engine must resize a crop to in_size rather than tile an image.
def describe(params: dict[str, Any]) -> Capabilities:
    # fp32 only: StyleGAN2's demodulation rsqrt(sum + 1e-8) underflows in fp16.
    return Capabilities(purpose="face-restorer", scale=int(params["scale"]),
                        input_size=int(params["in_size"]), tiles=False, seed=True,
                        precisions=("fp32",))


SPEC = ArchSpec(
    describe=describe,
    id="glean",
    kind="face-restorer",
    build=build,
    detect=detect,
    params_from_state=params_from_state,
)
