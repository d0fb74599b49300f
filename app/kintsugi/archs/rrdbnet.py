"""RRDBNet, the ESRGAN / Real-ESRGAN / RealSR generator.

Key names follow BasicSR's (conv_first, body.N.rdbK.convM, conv_body, conv_up1, conv_up2,
conv_hr, conv_last) so that the Real-ESRGAN checkpoints users already have load as they are.
Scale 2 and 1 variants fold the image into channels with pixel_unshuffle first, as BasicSR's
do; they are recognised by conv_first's input channels (12 and 48 for RGB).
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kintsugi.archs import ArchSpec, Capabilities, StateDict, fastconv

_SLOPE = 0.2
_RESIDUAL = 0.2
_UNSHUFFLE = {4: 1, 2: 2, 1: 4}  # network scale -> pixel_unshuffle factor at the input


def _conv(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1)


class DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and all earlier outputs."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.conv1 = _conv(num_feat, num_grow_ch)
        self.conv2 = _conv(num_feat + num_grow_ch, num_grow_ch)
        self.conv3 = _conv(num_feat + 2 * num_grow_ch, num_grow_ch)
        self.conv4 = _conv(num_feat + 3 * num_grow_ch, num_grow_ch)
        self.conv5 = _conv(num_feat + 4 * num_grow_ch, num_feat)
        pieces = [num_feat] + [num_grow_ch] * 4
        # conv5's weights carry the residual scale, so its output is the block's output.
        self._split = [fastconv.SplitWeights(pieces[: k + 1]) for k in range(1, 4)]
        self._split.append(fastconv.SplitWeights(pieces, scale=_RESIDUAL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fastconv.usable(x, self.conv1):
            return self._forward_fused(x)
        # Conv outputs are fresh tensors, so the activation can run in place.
        x1 = F.leaky_relu(self.conv1(x), _SLOPE, inplace=True)
        x2 = F.leaky_relu(self.conv2(torch.cat((x, x1), 1)), _SLOPE, inplace=True)
        x3 = F.leaky_relu(self.conv3(torch.cat((x, x1, x2), 1)), _SLOPE, inplace=True)
        x4 = F.leaky_relu(self.conv4(torch.cat((x, x1, x2, x3), 1)), _SLOPE, inplace=True)
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5.mul_(_RESIDUAL).add_(x)

    def _forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        """The same computation on CPU without the concatenation copies (see fastconv)."""
        pieces = [x, fastconv.conv3x3(x, self.conv1.weight, self.conv1.bias, _SLOPE)]
        for conv, split in zip((self.conv2, self.conv3, self.conv4), self._split[:3], strict=True):
            weights, bias = split.get(conv)
            pieces.append(F.leaky_relu(fastconv.concat_conv(pieces, weights, bias), _SLOPE, inplace=True))
        weights, bias = self._split[3].get(self.conv5)
        return fastconv.concat_conv(pieces, weights, bias, residual=x)


class RRDB(nn.Module):
    """Three dense blocks with a scaled residual around them."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = DenseBlock(num_feat, num_grow_ch)
        self.rdb2 = DenseBlock(num_feat, num_grow_ch)
        self.rdb3 = DenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out.mul_(_RESIDUAL).add_(x)


class RRDBTrunk(nn.Module):
    """ESRGAN's trunk without upsampling: conv_first, RRDB body, conv_body, long skip.

    The one RRDB implementation: RRDBNet runs the same blocks, and GLEAN's encoder and
    Panini's IFE are this trunk, so their 23-block trunks take the fused CPU path too.
    """

    def __init__(self, in_ch: int = 3, channels: int = 64, num_blocks: int = 23, growth: int = 32) -> None:
        super().__init__()
        self.conv_first = _conv(in_ch, channels)
        self.body = nn.Sequential(*(RRDB(channels, growth) for _ in range(num_blocks)))
        self.conv_body = _conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fastconv.usable(x, self.conv_first):
            feat = fastconv.conv3x3(x, self.conv_first.weight, self.conv_first.bias)
            return fastconv.conv3x3_add(self.body(feat), self.conv_body.weight, self.conv_body.bias, feat)
        feat = self.conv_first(x)
        return self.conv_body(self.body(feat)).add_(feat)


class RRDBNet(RRDBTrunk):
    """The trunk, then two nearest x2 upsamplings with convs (x4; x2 and x1 fold first)."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        scale: int = 4,
    ) -> None:
        if scale not in _UNSHUFFLE:
            raise ValueError(f"RRDBNet supports scale 1, 2 or 4, not {scale}")
        super().__init__(num_in_ch * _UNSHUFFLE[scale] ** 2, num_feat, num_block, num_grow_ch)
        self.scale = scale
        self.unshuffle = _UNSHUFFLE[scale]
        self.conv_up1 = _conv(num_feat, num_feat)
        self.conv_up2 = _conv(num_feat, num_feat)
        self.conv_hr = _conv(num_feat, num_feat)
        self.conv_last = _conv(num_feat, num_out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.unshuffle > 1:
            # pixel_unshuffle needs sizes divisible by the factor: pad by replication, crop after.
            pad_h = -height % self.unshuffle
            pad_w = -width % self.unshuffle
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = super().forward(x)
        if fastconv.usable(feat, self.conv_up1):
            out = self._upsample_fused(feat)
        else:
            out = self._upsample_plain(feat)
        return out[..., : height * self.scale, : width * self.scale]

    def _upsample_plain(self, feat: torch.Tensor) -> torch.Tensor:
        feat = F.interpolate(feat, scale_factor=2.0, mode="nearest")
        feat = F.leaky_relu(self.conv_up1(feat), _SLOPE, inplace=True)
        feat = F.interpolate(feat, scale_factor=2.0, mode="nearest")
        feat = F.leaky_relu(self.conv_up2(feat), _SLOPE, inplace=True)
        feat = F.leaky_relu(self.conv_hr(feat), _SLOPE, inplace=True)
        return self.conv_last(feat)

    def _upsample_fused(self, feat: torch.Tensor) -> torch.Tensor:
        """The plain path with bias and LeakyReLU inside the convs."""

        def conv(layer: nn.Conv2d, inp: torch.Tensor, slope: float | None = _SLOPE) -> torch.Tensor:
            return fastconv.conv3x3(inp, layer.weight, layer.bias, slope)

        feat = conv(self.conv_up1, F.interpolate(feat, scale_factor=2.0, mode="nearest"))
        feat = conv(self.conv_up2, F.interpolate(feat, scale_factor=2.0, mode="nearest"))
        feat = conv(self.conv_hr, feat)
        return conv(self.conv_last, feat, None)


_BLOCK_KEY = re.compile(r"^body\.(\d+)\.rdb1\.conv1\.weight$")
_REQUIRED = (
    "conv_first.weight",
    "body.0.rdb1.conv1.weight",
    "body.0.rdb3.conv5.weight",
    "conv_body.weight",
    "conv_up1.weight",
    "conv_up2.weight",
    "conv_hr.weight",
    "conv_last.weight",
)


def detect(state: StateDict) -> bool:
    if not all(key in state for key in _REQUIRED):
        return False
    # A third upsampling conv means an x8 ESRGAN variant this module cannot build.
    return "conv_up3.weight" not in state


def params_from_state(state: StateDict) -> dict[str, Any]:
    first = state["conv_first.weight"]
    num_feat, folded_in = int(first.shape[0]), int(first.shape[1])
    num_out_ch = int(state["conv_last.weight"].shape[0])
    num_grow_ch = int(state["body.0.rdb1.conv1.weight"].shape[0])
    num_block = 1 + max(int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k)))
    # The input is RGB; extra input channels come from pixel_unshuffle (x2: 12, x1: 48).
    scale = {3 * factor**2: scale for scale, factor in _UNSHUFFLE.items()}.get(folded_in)
    if scale is None:
        raise ValueError(f"RRDBNet conv_first has {folded_in} input channels; expected 3, 12 or 48")
    return {
        "num_in_ch": 3,
        "num_out_ch": num_out_ch,
        "num_feat": num_feat,
        "num_block": num_block,
        "num_grow_ch": num_grow_ch,
        "scale": scale,
    }


# Measured on an astronaut crop against fp32 (both shipped x4 models): bf16 58 dB PSNR,
# fp16 75 dB; Real-ESRGAN's own tools run it in fp16 on GPUs.
PRECISIONS = ("fp32", "bf16", "fp16")
CONTEXT = 32


def describe(params: dict[str, Any]) -> Capabilities:
    # The scale comes from conv_first's input channels (params_from_state): never assumed.
    return Capabilities(purpose="upscaler", scale=int(params["scale"]), precisions=PRECISIONS,
                        tile_context=CONTEXT)


# The receptive field spans hundreds of pixels, so no finite margin is exact. Measured on an
# astronaut crop with Real-ESRGAN x4plus (output levels of 255, tile vs whole image): 10 px of
# context (what the ncnn tools use) differs by up to 62, 16 px by up to 32, 32 px by up to 8
# with a mean of 0.3, 48 px by up to 3. 32 px is the compromise between seams and overlap cost.
SPEC = ArchSpec(
    id="rrdbnet",
    kind="upscaler",
    build=RRDBNet,
    detect=detect,
    params_from_state=params_from_state,
    context=CONTEXT,
    describe=describe,
)
