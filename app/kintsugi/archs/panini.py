"""Panini-Net (Wang et al., AAAI 2022): degradation-aware feature interpolation (DAFI)
between an image feature extractor (IFE) and a StyleGAN2 prior, plus Kintsugi's mask bias.

Variants (official configs ``panini_mfr`` / ``panini_sr``):

* ``mfr``: 512 -> 1024, IFE = RRDB(8 ch, 2 blocks) + CBAM(8, r=2) + stride-2 head
  32-64-128-512; masks from a degradation representation encoder (DRE) on the input
  average-pooled to 256 (pre-trained with MoCo, then frozen).
* ``sr``: 64 -> 1024 (16x), IFE = RRDB(64 ch, 23 blocks) + CBAM(64, r=8) + conv to 512;
  masks from a learned constant ``choice_vector`` instead of the DRE.

Module and parameter names equal the official code's, so official checkpoints load with
``strict=True`` once the StyleGAN2 bank (``generator.*``) is renamed from mmagic's layout
(:mod:`kintsugi.archs.gan_layouts`). All sizes are configurable for small test networks.

Value space: RGB in [-1, 1] in and out (unclamped); the official output is (y+1)/2
clamped: wrap in :class:`~kintsugi.archs.stylegan2.UnitRangeWrapper` for [0, 1].

Mask bias (the paper's "adding a bias on mask elements"; its appendix is not available,
this is Kintsugi's definition): for DAFI slot k at resolution r,

* mask space:  m'_gpb = clamp(m_gpb + b, 0, 1), m'_ife = 1 - m'_gpb
* logit space: m'_gpb = sigmoid(l_gpb - l_ife + b), m'_ife = 1 - m'_gpb

with b = global bias + per-block bias[k] + the spatial bias map resized to r x r
(bilinear, antialiased when shrinking). b = -1 (mask space) gives the IFE-only network,
b = +1 the GAN-prior-only network. Without any bias the official softmax masks are used
unchanged (bitwise identical to the unbiased network).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import ArchSpec, Capabilities, StateDict
from .gan_layouts import canonical_generator_params, gan_prior_to_canonical, restorer_network
from .glean import RRDBFeatureExtractor, build_unit_range, lrelu, rrdb_trunk_params
from .stylegan2 import StyleGAN2Generator, UnitRangeWrapper, default_channels, num_styles


@dataclass(frozen=True)
class Variant:
    """A variant's official sizes: the defaults of the matching ``Panini`` arguments."""

    in_size: int
    rrdb_channels: int
    num_rrdbs: int
    cbam_reduction: int
    head_channels: tuple[int, ...]


VARIANTS: dict[str, Variant] = {
    "mfr": Variant(in_size=512, rrdb_channels=8, num_rrdbs=2, cbam_reduction=2, head_channels=(32, 64, 128)),
    "sr": Variant(in_size=64, rrdb_channels=64, num_rrdbs=23, cbam_reduction=8, head_channels=()),
}


class BasicConv(nn.Module):
    """conv (no bias) + BatchNorm: the spatial gate's 7x7 conv."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, 1, (kernel - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=1e-5, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class ChannelGate(nn.Module):
    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = channels // reduction
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(att)[:, :, None, None]


class SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.spatial = BasicConv(2, 1, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """CBAM where one shared 3x3 conv precedes each gate (it is applied twice:
    x -> conv -> channel gate -> conv -> spatial gate), as in the official model."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.fea_preprocess = nn.Conv2d(channels, channels, 3, 1, 1)
        self.ChannelGate = ChannelGate(channels, reduction)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ChannelGate(self.fea_preprocess(x))
        return self.SpatialGate(self.fea_preprocess(x))


class DegradationEncoder(nn.Module):
    """DRE: six conv+BN+LeakyReLU(0.1) layers, global average pool -> v_DR.

    ``mlp`` is MoCo's projection head: stored in the checkpoint, unused at inference.
    """

    def __init__(self, widths: Sequence[int] = (64, 128, 256)) -> None:
        super().__init__()
        a, b, c = widths
        layers: list[nn.Module] = []
        for cin, cout, stride in ((3, a, 1), (a, a, 1), (a, b, 2), (b, b, 1), (b, c, 2), (c, c, 1)):
            layers += [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, inplace=True)]
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.E = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(c, c), nn.LeakyReLU(0.1, inplace=True), nn.Linear(c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.E(x).flatten(1)


class MaskGenerator(nn.Module):
    """v (B, cond) -> mask logits (B, slots, 2, channels); pair 0 = GAN prior, 1 = IFE."""

    def __init__(self, cond_dim: int, slots: int, channels: int) -> None:
        super().__init__()
        self.slots, self.channels = slots, channels
        self.mapping = nn.Sequential(
            nn.Linear(cond_dim, cond_dim), nn.LeakyReLU(0.1, inplace=True),
            nn.Linear(cond_dim, slots * 2 * channels))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.mapping(v).reshape(v.shape[0], self.slots, 2, self.channels)


class Panini(nn.Module):
    """Panini-Net. ``forward(x, bias=..., ...)`` -> RGB (B, 3, out, out) in about [-1, 1].

    Args:
        variant: "mfr" (DRE-conditioned masks) or "sr" (learned ``choice_vector``).
        in_size, out_size: resolutions; DAFI slots are 4, 8, ..., fuse_top where
            fuse_top = in_size / 2**len(head_channels) (64 officially).
        style_dim, n_mlp, channel_multiplier, max_channels, channels: the StyleGAN2 prior.
        rrdb_channels, num_rrdbs, growth, cbam_reduction: the IFE trunk.
        head_channels: widths of the IFE head before its last conv (MFR: 32, 64, 128;
            each step after the first halves the resolution).
        lce_channels: width of the conv before the w+ linear layer (256).
        dre_channels: DRE widths (64, 128, 256); dre_size: DRE input size, a constant 256
            in the official code whatever in_size is (adaptive average pooling).
        cond_dim: mask-generator input width for the SR variant (256).
    """

    def __init__(self, variant: str = "mfr", in_size: int | None = None, out_size: int = 1024,
                 style_dim: int = 512, n_mlp: int = 8, channel_multiplier: float = 2, max_channels: int = 512,
                 channels: Sequence[int] | None = None, rrdb_channels: int | None = None,
                 num_rrdbs: int | None = None, growth: int = 32, cbam_reduction: int | None = None,
                 head_channels: Sequence[int] | None = None, lce_channels: int = 256,
                 dre_channels: Sequence[int] = (64, 128, 256), dre_size: int = 256,
                 cond_dim: int = 256) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        d = VARIANTS[variant]
        in_size = d.in_size if in_size is None else in_size
        rrdb_channels = d.rrdb_channels if rrdb_channels is None else rrdb_channels
        num_rrdbs = d.num_rrdbs if num_rrdbs is None else num_rrdbs
        cbam_reduction = d.cbam_reduction if cbam_reduction is None else cbam_reduction
        head = tuple(d.head_channels if head_channels is None else head_channels)
        if variant == "sr" and head:
            raise ValueError("the SR variant has no stride-2 IFE head")
        chans = tuple(channels) if channels is not None else default_channels(
            out_size, channel_multiplier, max_channels)

        self.variant, self.in_size, self.out_size = variant, in_size, out_size
        self.scale = out_size // in_size
        self.style_dim = style_dim
        self.fuse_top = in_size // 2 ** len(head)
        self.slots = int(math.log2(self.fuse_top)) - 1
        if self.fuse_top < 4 or self.fuse_top >= out_size or self.fuse_top * 2 ** len(head) != in_size:
            raise ValueError(f"in_size {in_size} with head {head} gives fuse_top {self.fuse_top}")
        self.generator = StyleGAN2Generator(out_size, style_dim, n_mlp, channels=chans)
        ch = self.generator.channels
        slot_res = [4 * 2**k for k in range(self.slots)]
        if len({ch[r] for r in slot_res}) != 1:
            raise ValueError("all DAFI slots must have the same generator width")

        if variant == "mfr":
            self.dre_size = dre_size
            self.deg_encoder = DegradationEncoder(dre_channels)
            cond = dre_channels[-1]
        else:
            self.choice_vector = nn.Parameter(torch.randn(1, cond_dim))
            cond = cond_dim

        # IFE: trunk + CBAM + head down to fuse_top, then stride-2 convs down to 4x4, then LCE.
        widths = (*head, ch[self.fuse_top])
        first: list[nn.Module] = [RRDBFeatureExtractor(3, rrdb_channels, num_rrdbs, growth),
                                  CBAM(rrdb_channels, cbam_reduction),
                                  nn.Conv2d(rrdb_channels, widths[0], 3, 1, 1), lrelu()]
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            first += [nn.Conv2d(cin, cout, 3, 2, 1), lrelu()]
        self.encoder = nn.ModuleList([nn.Sequential(*first)])
        for r in reversed(slot_res[:-1]):
            self.encoder.append(nn.Sequential(nn.Conv2d(ch[2 * r], ch[r], 3, 2, 1), lrelu()))
        self.encoder.append(nn.Sequential(
            nn.Conv2d(ch[4], lce_channels, 3, 1, 1), lrelu(), nn.Flatten(),
            nn.Linear(16 * lce_channels, num_styles(out_size) * style_dim)))

        self.AFS_maskGen = MaskGenerator(cond, self.slots, ch[4])
        self.fusion_out = nn.ModuleList(nn.Conv2d(ch[r], ch[r], 3, 1, 1) for r in slot_res)

    # -- parts ---------------------------------------------------------------------------
    def condition(self, x: torch.Tensor) -> torch.Tensor:
        """v_DR (MFR) or the learned choice vector (SR), (B, cond)."""
        if self.variant == "mfr":
            return self.deg_encoder(F.adaptive_avg_pool2d(x, self.dre_size))
        return self.choice_vector.expand(x.shape[0], -1)

    def encode(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """IFE features per slot (slot 0 = 4x4 first) and the w+ code."""
        feats = []
        feat = x
        for block in self.encoder:
            feat = block(feat)
            feats.append(feat)
        w_plus = feats[-1].view(x.shape[0], -1, self.style_dim)
        return feats[-2::-1], w_plus

    def mask_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.AFS_maskGen(self.condition(x))

    # -- forward -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, bias: float = 0.0, bias_blocks: Mapping[int, float] | None = None,
                bias_map: torch.Tensor | None = None, bias_space: str = "mask",
                return_masks: bool = False, bias_map_blocks: Iterable[int] | None = None) -> Any:
        """x (B, 3, in, in) in [-1, 1].

        bias: global mask bias; bias_blocks: extra bias per DAFI slot (0 = 4x4 ... );
        bias_map: (B or 1, 1, h, w) spatial bias, resized to each slot's resolution;
        bias_map_blocks: slots the map acts on (default all); bias_space: "mask" | "logit".
        return_masks: also return the effective m_gpb per slot ((B, C, 1, 1) or (B, C, r, r)).
        """
        return self.finish(self.prepare(x), bias, bias_blocks, bias_map, bias_space, return_masks,
                           bias_map_blocks)

    def prepare(self, x: torch.Tensor) -> PaniniFeatures:
        """Everything that does not depend on the mask bias: mask logits, IFE features, w+.
        A restore session computes it once per face and re-runs only :meth:`finish`."""
        if tuple(x.shape[-2:]) != (self.in_size, self.in_size):
            raise ValueError(f"Panini input must be {self.in_size}x{self.in_size}, got {tuple(x.shape[-2:])}")
        logits = self.mask_logits(x)
        ife, w_plus = self.encode(x)
        return PaniniFeatures(logits, ife, w_plus)

    def finish(self, prepared: PaniniFeatures, bias: float = 0.0, bias_blocks: Mapping[int, float] | None = None,
               bias_map: torch.Tensor | None = None, bias_space: str = "mask", return_masks: bool = False,
               bias_map_blocks: Iterable[int] | None = None) -> Any:
        """The DAFI generator pass for prepared features (arguments as in :meth:`forward`)."""
        if bias_space not in ("mask", "logit"):
            raise ValueError(f"bias_space must be 'mask' or 'logit', got {bias_space!r}")
        logits, ife, w_plus = prepared
        soft = torch.softmax(logits, dim=2)
        map_slots = set(range(self.slots)) if bias_map_blocks is None else set(bias_map_blocks)

        g = self.generator
        noises = g.stored_noises()
        out, skip = g.start(w_plus, noises)
        masks = []
        for k in range(len(g.to_rgbs)):
            if k < self.slots:
                r = out.shape[-1]
                block_bias = float(bias) + float((bias_blocks or {}).get(k, 0.0))
                spatial = _resize_map(bias_map, r) if bias_map is not None and k in map_slots else None
                if block_bias == 0.0 and spatial is None:
                    m_gpb, m_ife = soft[:, k, 0, :, None, None], soft[:, k, 1, :, None, None]
                else:
                    total = block_bias if spatial is None else block_bias + spatial
                    if bias_space == "mask":
                        m_gpb = torch.clamp(soft[:, k, 0, :, None, None] + total, 0.0, 1.0)
                    else:
                        diff = logits[:, k, 0, :, None, None] - logits[:, k, 1, :, None, None]
                        m_gpb = torch.sigmoid(diff + total)
                    m_ife = 1.0 - m_gpb
                out = m_gpb * out + m_ife * self.fusion_out[k](ife[k])
                masks.append(m_gpb)
            out, skip = g.block(k, out, skip, w_plus, noises)
        return (skip, masks) if return_masks else skip

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """Load Kintsugi names or the official checkpoint names (``generator.*`` restorer keys)."""
        return super().load_state_dict(gan_prior_to_canonical(state_dict), strict=strict, assign=assign)


class PaniniFeatures(NamedTuple):
    """What :meth:`Panini.prepare` computes from the input (independent of any bias)."""

    logits: torch.Tensor  # (B, slots, 2, C) mask logits
    ife: list[torch.Tensor]  # IFE feature per DAFI slot, 4x4 first
    w_plus: torch.Tensor  # (B, N, style_dim)


def _resize_map(bias_map: torch.Tensor, size: int) -> torch.Tensor:
    if bias_map.ndim != 4 or bias_map.shape[1] != 1:
        raise ValueError(f"bias_map must be (B, 1, h, w), got {tuple(bias_map.shape)}")
    if tuple(bias_map.shape[-2:]) == (size, size):
        return bias_map
    return F.interpolate(bias_map, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


# ---------------------------------------------------------------------------------------
# ArchSpec
# ---------------------------------------------------------------------------------------

_HEAD = re.compile(r"^encoder\.0\.(\d+)\.weight$")


def detect(state: StateDict) -> bool:
    net = restorer_network(state)
    return "AFS_maskGen.mapping.0.weight" in net and "fusion_out.0.weight" in net


def params_from_state(state: StateDict) -> dict[str, Any]:
    canon = gan_prior_to_canonical(state)
    gen = canonical_generator_params(canon, "generator.")
    variant = "mfr" if "deg_encoder.E.0.weight" in canon else "sr"
    # encoder.0: 0 RRDB, 1 CBAM, then conv/LReLU pairs at 2, 4, ...: all but the last are the head.
    head_idx = sorted(int(m.group(1)) for k in canon if (m := _HEAD.match(k)))
    head = tuple(int(canon[f"encoder.0.{i}.weight"].shape[0]) for i in head_idx[:-1])
    slots = sum(1 for k in canon if re.match(r"^fusion_out\.\d+\.weight$", k))
    in_size = 4 * 2 ** (slots - 1) * 2 ** len(head)
    trunk = rrdb_trunk_params(canon)
    lce = canon[f"encoder.{slots}.0.weight"]
    params: dict[str, Any] = {
        "variant": variant,
        "in_size": in_size,
        "out_size": gen["out_size"],
        "style_dim": gen["style_dim"],
        "n_mlp": gen["n_mlp"],
        "channels": gen["channels"],
        **trunk,
        "cbam_reduction": trunk["rrdb_channels"] // int(canon["encoder.0.1.ChannelGate.mlp.1.weight"].shape[0]),
        "head_channels": head,
        "lce_channels": int(lce.shape[0]),
        "scale": gen["out_size"] // in_size,
    }
    if variant == "mfr":
        params["dre_channels"] = tuple(int(canon[f"deg_encoder.E.{i}.weight"].shape[0]) for i in (0, 6, 12))
    else:
        params["cond_dim"] = int(canon["choice_vector"].shape[1])
    return params


def build(**params: Any) -> UnitRangeWrapper:
    """The engine's [0, 1] model; the raw [-1, 1] Panini is ``.net``."""
    return build_unit_range(Panini, params)


def describe(params: dict[str, Any]) -> Capabilities:
    # DAFI slots at 4, 8, ..., fuse_top px (five in the official models); fp32 only:
    # StyleGAN2's demodulation rsqrt(sum + 1e-8) underflows in fp16.
    d = VARIANTS[params.get("variant", "mfr")]
    in_size = int(params.get("in_size") or d.in_size)
    head = params.get("head_channels")
    head = tuple(d.head_channels if head is None else head)
    slots = int(math.log2(in_size // 2 ** len(head))) - 1
    return Capabilities(purpose="face-restorer", scale=int(params["scale"]),
                        input_size=in_size, tiles=False, mask_blocks=max(0, slots),
                        seed=True, precisions=("fp32",))


SPEC = ArchSpec(
    describe=describe,
    id="panini",
    kind="face-restorer",
    build=build,
    detect=detect,
    params_from_state=params_from_state,
)
