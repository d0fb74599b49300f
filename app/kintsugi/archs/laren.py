"""LAREN: latent multi-relation reasoning for large-factor super-resolution, on GLEAN.

No official code or weights exist, and the text of the paper we have lost most of its math,
so this is a reconstruction of the structure it describes; every choice below is marked
and configurable.

Pipeline (paper Fig. 3): LR -> GLEAN's encoder -> one latent code z (512) -> GDM -> one
disentangled 512-d code per StyleGAN2 style input -> frozen StyleGAN2 bank (GLEAN's fusion
and decoder), with CGM's image-specific codes, projected to each noise input's shape,
replacing StyleGAN2's stochastic noise.

GDM (graph disentangled module):
  * nodes: two trainable projections of z give subject and object nodes S, O (K x d).
  * hierarchical multi-relation reasoning: one relation matrix per attribute level m (one
    level per style input): A_m = softmax(mask(ReLU(S W_m O^T / sqrt(d)))), where the mask
    sets the zeros ReLU left to -inf before the softmax (the paper's "embedding for setting
    zero values"); a row with no positive relation gives zero messages.
  * ConvKB-style attribute extractor: for sub-graph m, node i's triplet (s_i, (A_m O)_i, o_i)
    is a d x 3 matrix; F shared 1x3 filters + ReLU, mixed by a shared weight vector (ConvKB's
    w), give d features per node; the K*d features are sub-graph m's code. Choice: K=16,
    d=32, so K*d = 512 is exactly one style code (the paper's K and d were lost).
CGM (graph-based code generation module), per noise input l (coarse to fine):
  * nodes: each of the 512 dimensions of that layer's code c_l becomes a node c_l[k]*u_l + b_l
    (dimension e = 16);
  * recursive relation reasoning: R_l = softmax(Q_l K_l^T / sqrt(e) + lambda_l * R_{l-1}),
    Q, K by trainable projections; lambda_l a learned scalar (choice: the paper's learnable
    matrix would be 512x512 per layer);
  * code: a linear map of the reasoned nodes R_l N_l to a 64-d image-specific code, then a
    linear projection to a (min(r, 32))^2 map upsampled to the noise resolution r (choice:
    a full r^2 projection at 1024 px alone would be 67M parameters, far above the paper's
    11M for all of CGM).

Parameter budget (paper Table III: baseline 67.1M, +GDM 0.42M, +CGM 11M), counted by
``tests/archs/test_laren.py`` at 1024 px with 18 style inputs: GDM 0.54M (two 512x512
projections = 0.52M; the paper's smaller figure suggests smaller K*d or one projection),
CGM 9.8M (17 noise layers x (0.52M code map + up to 66k projection)). The baseline differs by
design: this is GLEAN's encoder with one 512-d latent output instead of GLEAN's 18x512 w+
(whose Linear alone is 75M at 64 -> 1024).

Value space: [-1, 1] in and out; the engine uses :class:`UnitRangeWrapper`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import ArchSpec, Capabilities, StateDict, glean
from .gan_layouts import raw_network
from .glean import GLEAN
from .stylegan2 import UnitRangeWrapper, noise_resolution


class GDM(nn.Module):
    """z (B, latent_dim) -> codes (B, levels, code_dim) with code_dim = nodes * node_dim."""

    def __init__(self, latent_dim: int, levels: int, nodes: int = 16, node_dim: int = 32, filters: int = 4) -> None:
        super().__init__()
        self.nodes, self.node_dim, self.levels = nodes, node_dim, levels
        self.subject = nn.Linear(latent_dim, nodes * node_dim, bias=False)
        self.object = nn.Linear(latent_dim, nodes * node_dim, bias=False)
        self.relations = nn.Parameter(torch.randn(levels, node_dim, node_dim) / math.sqrt(node_dim))
        self.convkb = nn.Conv2d(1, filters, kernel_size=(1, 3))  # ConvKB's shared 1x3 filters
        self.mix = nn.Parameter(torch.full((filters,), 1.0 / filters))  # ConvKB's weight vector w

    @property
    def code_dim(self) -> int:
        return self.nodes * self.node_dim

    def relation_matrices(self, s: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        """(B, levels, K, K): one attribute-specific relation matrix per level."""
        scores = torch.relu(torch.einsum("bid,mde,bje->bmij", s, self.relations, o) / math.sqrt(self.node_dim))
        masked = scores.masked_fill(scores == 0, float("-inf"))
        return torch.nan_to_num(torch.softmax(masked, dim=-1), nan=0.0)  # all-masked rows -> 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        s = self.subject(z).view(b, self.nodes, self.node_dim)
        o = self.object(z).view(b, self.nodes, self.node_dim)
        relations = self.relation_matrices(s, o)
        messages = relations @ o[:, None]  # (B, M, K, d)
        triplets = torch.stack([s[:, None].expand_as(messages), messages, o[:, None].expand_as(messages)], -1)
        feats = torch.relu(self.convkb(triplets.reshape(-1, 1, self.node_dim, 3)))  # (B*M*K, F, d, 1)
        feats = torch.einsum("nfd,f->nd", feats[..., 0], self.mix)
        return feats.view(b, self.levels, self.code_dim)


class CGM(nn.Module):
    """Disentangled codes -> image-specific noise maps, one per noise input, coarse to fine."""

    def __init__(self, code_dim: int, resolutions: Sequence[int], node_dim: int = 16, out_dim: int = 64,
                 max_map: int = 32) -> None:
        super().__init__()
        self.resolutions = tuple(resolutions)
        self.node_dim, self.max_map = node_dim, max_map
        n = len(self.resolutions)
        self.node_scale = nn.Parameter(torch.randn(n, node_dim) * 0.1)
        self.node_bias = nn.Parameter(torch.zeros(n, node_dim))
        self.query = nn.ModuleList(nn.Linear(node_dim, node_dim, bias=False) for _ in range(n))
        self.key = nn.ModuleList(nn.Linear(node_dim, node_dim, bias=False) for _ in range(n))
        self.recursion = nn.Parameter(torch.zeros(n))  # lambda_l (unused for the first layer)
        self.code = nn.ModuleList(nn.Linear(code_dim * node_dim, out_dim) for _ in range(n))
        self.project = nn.ModuleList(nn.Linear(out_dim, min(r, max_map) ** 2) for r in self.resolutions)

    def forward(self, codes: torch.Tensor) -> list[torch.Tensor]:
        """codes (B, n, code_dim) -> noise maps [(B, 1, r, r)] for the n noise inputs."""
        b = codes.shape[0]
        maps, previous = [], None
        for layer, r in enumerate(self.resolutions):
            nodes = codes[:, layer, :, None] * self.node_scale[layer] + self.node_bias[layer]  # (B, D, e)
            scores = self.query[layer](nodes) @ self.key[layer](nodes).transpose(1, 2) / math.sqrt(self.node_dim)
            if previous is not None:
                scores = scores + self.recursion[layer] * previous
            relation = torch.softmax(scores, dim=-1)
            specific = self.code[layer]((relation @ nodes).reshape(b, -1))  # the 64-d image-specific code
            side = min(r, self.max_map)
            noise = self.project[layer](specific).view(b, 1, side, side)
            if side != r:
                noise = F.interpolate(noise, size=(r, r), mode="bilinear", align_corners=False)
            maps.append(noise)
            previous = relation
        return maps


class LAREN(GLEAN):
    """GLEAN's encoder, bank and decoder with GDM codes and CGM noise.

    Args: those of :class:`GLEAN`, plus latent_dim (512), gdm_nodes (16), gdm_node_dim (32),
    gdm_filters (4), cgm_node_dim (16), cgm_code_dim (64), cgm_max_map (32).
    """

    def __init__(self, in_size: int = 64, out_size: int = 1024, style_dim: int = 512, n_mlp: int = 8,
                 channel_multiplier: float = 2, max_channels: int = 512, channels: Sequence[int] | None = None,
                 rrdb_channels: int = 64, num_rrdbs: int = 23, growth: int = 32, decoder_channels: int = 64,
                 latent_dim: int = 512, gdm_nodes: int = 16, gdm_node_dim: int = 32, gdm_filters: int = 4,
                 cgm_node_dim: int = 16, cgm_code_dim: int = 64, cgm_max_map: int = 32) -> None:
        super().__init__(in_size, out_size, style_dim, n_mlp, channel_multiplier, max_channels, channels,
                         rrdb_channels, num_rrdbs, growth, decoder_channels)
        if gdm_nodes * gdm_node_dim != style_dim:
            raise ValueError(f"gdm_nodes * gdm_node_dim must equal style_dim ({style_dim})")
        g = self.generator
        g.requires_grad_(False)  # frozen prior, as in GLEAN
        last = self.encoder[-1]
        assert isinstance(last, nn.Sequential) and isinstance(last[-1], nn.Linear)
        last[-1] = nn.Linear(last[-1].in_features, latent_dim)  # one latent code, not w+
        self.gdm = GDM(latent_dim, g.num_styles, gdm_nodes, gdm_node_dim, gdm_filters)
        self.cgm = CGM(style_dim, [noise_resolution(j) for j in range(g.num_noises)], cgm_node_dim,
                       cgm_code_dim, cgm_max_map)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, in, in) in [-1, 1] -> (B, 3, out, out) in about [-1, 1]."""
        if tuple(x.shape[-2:]) != (self.in_size, self.in_size):
            raise ValueError(f"LAREN input must be {self.in_size}x{self.in_size}, got {tuple(x.shape[-2:])}")
        feats = []
        feat = x
        for block in self.encoder:
            feat = block(feat)
            feats.append(feat)
        codes = self.gdm(feats[-1])
        noises = self.cgm(codes[:, : self.generator.num_noises])  # noise j is modulated by style j
        return self.synthesize(codes, noises, feats[-2::-1])

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False):
        return nn.Module.load_state_dict(self, state_dict, strict=strict, assign=assign)


def parameter_counts(net: LAREN) -> dict[str, int]:
    """Parameters of the baseline (everything but GDM, CGM and the frozen StyleGAN2), GDM, CGM."""
    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    total = count(net)
    return {"gdm": count(net.gdm), "cgm": count(net.cgm), "stylegan2": count(net.generator),
            "baseline": total - count(net.gdm) - count(net.cgm) - count(net.generator), "total": total}


def detect(state: StateDict) -> bool:
    # GLEAN's names plus GDM's and CGM's, which no other architecture has.
    net = raw_network(state)
    return "gdm.subject.weight" in net and "cgm.recursion" in net and glean.detect(_without_graphs(net))


def _without_graphs(net: StateDict) -> dict[str, Any]:
    return {k: v for k, v in net.items() if not k.startswith(("gdm.", "cgm."))}


_PROJECT = re.compile(r"^cgm\.project\.(\d+)\.weight$")


def params_from_state(state: StateDict) -> dict[str, Any]:
    """Every constructor argument, read back from the shapes of a bare state dict."""
    net = raw_network(state)
    params = glean.params_from_state(_without_graphs(net))
    node_dim = int(net["gdm.relations"].shape[-1])
    biggest_map = max(int(net[k].shape[0]) for k in net if _PROJECT.match(k))
    params.update({
        "channels": list(params["channels"]),
        "latent_dim": int(net["gdm.subject.weight"].shape[1]),
        "gdm_nodes": int(net["gdm.subject.weight"].shape[0]) // node_dim,
        "gdm_node_dim": node_dim,
        "gdm_filters": int(net["gdm.convkb.weight"].shape[0]),
        "cgm_node_dim": int(net["cgm.node_scale"].shape[1]),
        "cgm_code_dim": int(net["cgm.code.0.weight"].shape[0]),
        # min(r, max_map)^2 rows; a max_map at or above the largest noise map builds the same.
        "cgm_max_map": math.isqrt(biggest_map),
    })
    return params


def build(**params: Any) -> UnitRangeWrapper:
    return UnitRangeWrapper(LAREN(**{k: v for k, v in params.items() if k != "scale"}))


def describe(params: dict[str, Any]) -> Capabilities:
    in_size = int(params.get("in_size", 64))
    out_size = int(params.get("out_size", 1024))
    # No seed: CGM's codes replace the noise, so the output is a function of the input alone.
    return Capabilities(purpose="face-restorer", scale=out_size // in_size, input_size=in_size,
                        tiles=False, precisions=("fp32",))


SPEC = ArchSpec(
    describe=describe,
    id="laren",
    kind="face-restorer",
    build=build,
    detect=detect,
    params_from_state=params_from_state,
)
