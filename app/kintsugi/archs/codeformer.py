"""CodeFormer (Zhou et al., NeurIPS 2022): codebook lookup transformer with a fidelity weight w.

Written from the paper and the structure of the official checkpoint; checked against
spandrel-extra-arches 0.2.0's copy of the authors' code on seeded random weights
(tools/make_codeformer_golden.py, tests/archs/test_codeformer.py).

Network (RGB in [-1, 1], 512 x 512 in and out; the engine sees [0, 1]):

- VQGAN encoder ``encoder.blocks``: conv3x3 3 -> nf; for each level (widths nf * ch_mult,
  512 px down to 16 px) two residual blocks (GroupNorm, swish, conv3x3, twice; 1x1
  ``conv_out`` when the width changes), a self-attention block after each at 16 px,
  and a stride-2 conv (padded right/bottom) between levels; then residual, attention,
  residual at 16 px, GroupNorm, conv3x3 -> emb_dim (256) = the low-quality latent.
- Transformer: ``feat_emb`` Linear(emb_dim -> d), ``position_emb`` (256 tokens, d) added
  to queries and keys, ``ft_layers``: pre-norm self-attention (8 heads) + GELU MLP (2d),
  ``idx_pred_layer`` LayerNorm + Linear(d -> codebook, no bias) = code logits.
- The top code per token picks ``quantize.embedding`` rows (16 x 16 x emb_dim), which are
  re-normalised to the latent's per-channel mean and std (AdaIN).
- VQGAN decoder ``generator.blocks`` (mirror of the encoder, nearest x2 + conv3x3 between
  levels). After the first residual block at 32, 64, 128 and 256 px (the official
  ``fuse_generator_block`` table; a 16 px fusion would follow the level's second
  residual block) a controllable feature transformation (``fuse_convs_dict``) mixes in
  the encoder feature of that size (taken after the level's last residual block):
  f = dec + w * (dec * scale + shift), scale/shift from a residual block over
  [enc, dec]. w = 0 is the pure codebook output (quality), w = 1 the most faithful.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import ArchSpec, Capabilities, StateDict
from .stylegan2 import UnitRangeWrapper

CH_MULT = (1, 2, 2, 4, 4, 8)
CONNECT = (32, 64, 128, 256)  # official fusion resolutions
DEFAULT_FIDELITY = 0.5  # the official inference default


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch, eps=1e-6)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.norm2 = nn.GroupNorm(groups, out_ch, eps=1e-6)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.conv_out = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        return h + (x if self.conv_out is None else self.conv_out(x))


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with a residual connection."""

    def __init__(self, ch: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.q, self.k, self.v = (nn.Conv2d(ch, ch, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).transpose(1, 2)
        k = self.k(n).reshape(b, c, h * w)
        v = self.v(n).reshape(b, c, h * w)
        attn = torch.softmax(torch.bmm(q, k) * c**-0.5, dim=2)
        return x + self.proj_out(torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, h, w))


class Downsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Blocks(nn.Module):
    """A plain list of blocks run in order (the official ``encoder`` / ``generator``)."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


class TransformerLayer(nn.Module):
    """Pre-norm self-attention + MLP; positions are added to queries and keys only."""

    def __init__(self, dim: int, heads: int, dim_mlp: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads)
        self.linear1 = nn.Linear(dim, dim_mlp)
        self.linear2 = nn.Linear(dim_mlp, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        qk = h + pos
        x = x + self.self_attn(qk, qk, value=h, need_weights=False)[0]
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class FuseBlock(nn.Module):
    """Controllable feature transformation: dec + w * (dec * scale + shift)."""

    def __init__(self, ch: int, groups: int) -> None:
        super().__init__()
        self.encode_enc = ResBlock(2 * ch, ch, groups)
        self.scale = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(ch, ch, 3, 1, 1))
        self.shift = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(ch, ch, 3, 1, 1))

    def forward(self, enc: torch.Tensor, dec: torch.Tensor, w: float) -> torch.Tensor:
        feat = self.encode_enc(torch.cat([enc, dec], dim=1))
        return dec + w * (dec * self.scale(feat) + self.shift(feat))


class Codebook(nn.Module):
    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(size, dim)


class CodeFormer(nn.Module):
    """``forward(x, fidelity=0.5)``: (B, 3, 512, 512) in [-1, 1] -> restored face.

    Args: nf / norm_groups (64 / 32 official; smaller only in tests), emb_dim (256),
    codebook_size (1024), dim_embd (512), n_layers (9), n_head (8; not stored in a
    checkpoint), dim_mlp (2 * dim_embd), connect (fusion resolutions), img_size (512).
    """

    def __init__(self, nf: int = 64, norm_groups: int = 32, emb_dim: int = 256, codebook_size: int = 1024,
                 dim_embd: int = 512, n_layers: int = 9, n_head: int = 8, dim_mlp: int | None = None,
                 connect: Sequence[int] = CONNECT, img_size: int = 512) -> None:
        super().__init__()
        self.in_size = self.out_size = img_size
        self.scale = 1
        self.latent = img_size // 2 ** (len(CH_MULT) - 1)
        self.emb_dim = emb_dim
        self.connect = tuple(int(r) for r in connect)
        g = norm_groups
        enc, self._enc_taps = self._encoder(nf, g, emb_dim, img_size)
        dec, self._dec_taps = self._decoder(nf, g, emb_dim)
        self.encoder = Blocks(enc)
        self.generator = Blocks(dec)
        self.quantize = Codebook(codebook_size, emb_dim)
        self.position_emb = nn.Parameter(torch.zeros(self.latent**2, dim_embd))
        self.feat_emb = nn.Linear(emb_dim, dim_embd)
        self.ft_layers = nn.ModuleList(
            TransformerLayer(dim_embd, n_head, dim_mlp or 2 * dim_embd) for _ in range(n_layers))
        self.idx_pred_layer = nn.Sequential(nn.LayerNorm(dim_embd), nn.Linear(dim_embd, codebook_size, bias=False))
        widths = {img_size // 2**i: nf * m for i, m in enumerate(CH_MULT)}
        self.fuse_convs_dict = nn.ModuleDict({str(r): FuseBlock(widths[r], g) for r in self.connect})

    # -- structure -----------------------------------------------------------------------
    def _encoder(self, nf: int, g: int, emb_dim: int, img_size: int) -> tuple[list[nn.Module], dict[int, int]]:
        """Blocks, and per resolution the block after which the encoder feature is taken."""
        blocks: list[nn.Module] = [nn.Conv2d(3, nf, 3, 1, 1)]
        taps: dict[int, int] = {}
        ch, res = nf, img_size
        for level, mult in enumerate(CH_MULT):
            for _ in range(2):
                blocks.append(ResBlock(ch, nf * mult, g))
                ch = nf * mult
                taps[res] = len(blocks) - 1
                if res == self.latent:
                    blocks.append(AttnBlock(ch, g))
            if level != len(CH_MULT) - 1:
                blocks.append(Downsample(ch))
                res //= 2
        blocks += [ResBlock(ch, ch, g), AttnBlock(ch, g), ResBlock(ch, ch, g),
                   nn.GroupNorm(g, ch, eps=1e-6), nn.Conv2d(ch, emb_dim, 3, 1, 1)]
        return blocks, taps

    def _decoder(self, nf: int, g: int, emb_dim: int) -> tuple[list[nn.Module], dict[int, int]]:
        """Blocks, and per resolution the block after which the fusion runs."""
        ch = nf * CH_MULT[-1]
        blocks: list[nn.Module] = [nn.Conv2d(emb_dim, ch, 3, 1, 1), ResBlock(ch, ch, g), AttnBlock(ch, g),
                                   ResBlock(ch, ch, g)]
        taps: dict[int, int] = {}
        res = self.latent
        for level in reversed(range(len(CH_MULT))):
            for n in range(2):
                blocks.append(ResBlock(ch, nf * CH_MULT[level], g))
                ch = nf * CH_MULT[level]
                # Official table: after the first residual block of a level; at the
                # latent size (16 px) after the second.
                if n == (1 if res == self.latent else 0):
                    taps[res] = len(blocks) - 1
                if res == self.latent:
                    blocks.append(AttnBlock(ch, g))
            if level != 0:
                blocks.append(Upsample(ch))
                res *= 2
        blocks += [nn.GroupNorm(g, ch, eps=1e-6), nn.Conv2d(ch, 3, 3, 1, 1)]
        return blocks, taps

    # -- parts ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """What does not depend on w: the AdaIN'd code features (B, emb, 16, 16) and the
        encoder features the fusion blocks read."""
        if tuple(x.shape[-2:]) != (self.in_size, self.in_size):
            raise ValueError(f"CodeFormer input must be {self.in_size}x{self.in_size}, got {tuple(x.shape[-2:])}")
        taps = {self._enc_taps[r]: r for r in self.connect}
        feats: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.encoder.blocks):
            x = block(x)
            if i in taps:
                feats[taps[i]] = x
        lq = x
        tokens = self.feat_emb(lq.flatten(2).permute(2, 0, 1))  # (hw, B, d)
        pos = self.position_emb[:, None, :]
        for layer in self.ft_layers:
            tokens = layer(tokens, pos)
        logits = self.idx_pred_layer(tokens).permute(1, 0, 2)  # (B, hw, codebook)
        top = logits.argmax(dim=2)
        b = x.shape[0]
        quant = self.quantize.embedding.weight[top].view(b, self.latent, self.latent, self.emb_dim)
        return _adain(quant.permute(0, 3, 1, 2).contiguous(), lq), feats

    def decode(self, quant: torch.Tensor, feats: dict[int, torch.Tensor], fidelity: float) -> torch.Tensor:
        """The decoder with the fusion weight w (0: codebook only, no fusion runs)."""
        taps = {self._dec_taps[r]: r for r in self.connect}
        x = quant
        for i, block in enumerate(self.generator.blocks):
            x = block(x)
            if i in taps and fidelity > 0:
                r = taps[i]
                x = self.fuse_convs_dict[str(r)](feats[r], x, fidelity)
        return x

    def forward(self, x: torch.Tensor, fidelity: float = DEFAULT_FIDELITY) -> torch.Tensor:
        return self.finish(self.prepare(x), fidelity)

    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """What a restore session keeps per face: encoder, transformer and code lookup."""
        return self.encode(x)

    def finish(self, prepared: tuple[torch.Tensor, dict[int, torch.Tensor]],
               fidelity: float = DEFAULT_FIDELITY) -> torch.Tensor:
        """The decoder at fidelity weight w in [0, 1]."""
        if not 0.0 <= float(fidelity) <= 1.0:
            raise ValueError(f"fidelity must lie in [0, 1], got {fidelity}")
        quant, feats = prepared
        return self.decode(quant, feats, float(fidelity))


def _adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """content re-normalised to style's per-channel mean and (unbiased) std."""
    def stats(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = t.flatten(2)
        return flat.mean(dim=2)[..., None, None], (flat.var(dim=2) + eps).sqrt()[..., None, None]

    c_mean, c_std = stats(content)
    s_mean, s_std = stats(style)
    return (content - c_mean) / c_std * s_std + s_mean


# ---------------------------------------------------------------------------------------
# ArchSpec: every key name equals the official one (docs/adr/0002).
# ---------------------------------------------------------------------------------------


def detect(state: StateDict) -> bool:
    return all(k in state for k in ("position_emb", "idx_pred_layer.1.weight", "quantize.embedding.weight",
                                    "encoder.blocks.0.weight", "generator.blocks.0.weight"))


def params_from_state(state: StateDict) -> dict[str, Any]:
    nf = int(state["encoder.blocks.0.weight"].shape[0])
    codebook = state["quantize.embedding.weight"]
    pos = state["position_emb"]
    latent = math.isqrt(int(pos.shape[0]))
    n_layers = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("ft_layers."))
    connect = sorted(int(k.split(".")[1]) for k in state
                     if k.startswith("fuse_convs_dict.") and k.endswith(".scale.0.weight"))
    return {
        "nf": nf,
        # GroupNorm's group count is not stored; the official 32 needs nf >= 32.
        "norm_groups": min(32, nf),
        "emb_dim": int(codebook.shape[1]),
        "codebook_size": int(codebook.shape[0]),
        "dim_embd": int(pos.shape[1]),
        "n_layers": n_layers,
        "dim_mlp": int(state["ft_layers.0.linear1.weight"].shape[0]),
        "connect": tuple(connect),
        "img_size": latent * 2 ** (len(CH_MULT) - 1),
        "scale": 1,
    }


class CodeFormerModel(UnitRangeWrapper):
    """The engine's [0, 1] CodeFormer; ``fidelity`` passes through."""

    def forward(self, x: torch.Tensor, fidelity: float = DEFAULT_FIDELITY) -> Any:  # type: ignore[override]
        return super().forward(x, fidelity=fidelity)


def build(**params: Any) -> CodeFormerModel:
    return CodeFormerModel(CodeFormer(**{k: v for k, v in params.items() if k != "scale"}))


def describe(params: dict[str, Any]) -> Capabilities:
    # No noise inputs: the code lookup is deterministic, so no seed. bf16 as spandrel says.
    return Capabilities(purpose="face-restorer", scale=1, input_size=int(params.get("img_size", 512)),
                        tiles=False, fidelity_weight=True, precisions=("fp32", "bf16"))


SPEC = ArchSpec(
    id="codeformer",
    kind="face-restorer",
    build=build,
    detect=detect,
    params_from_state=params_from_state,
    describe=describe,
)
