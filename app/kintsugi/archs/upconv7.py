"""waifu2x upconv_7: six unpadded 3x3 convs and a 4x4 stride-2 transposed conv (x2).

The convs shrink the image by 6 px per side and the transposed conv's padding of 3 takes
one more input pixel per side, so the network needs 7 px of context. waifu2x-ncnn-vulkan
supplies it by clamping coordinates at the border (edge replication); ``forward`` does the
same so that an H x W input gives exactly 2H x 2W like every other x2 model. Key names
match nunif's UpConv7 (``net.0`` .. ``net.12``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kintsugi.archs import ArchSpec, Capabilities, StateDict

CONTEXT = 7
SCALE = 2  # the transposed conv's stride
_WIDTHS = (16, 32, 64, 128, 128, 256)
_SLOPE = 0.1


class UpConv7(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for width in _WIDTHS:
            layers += [nn.Conv2d(previous, width, 3, 1, 0), nn.LeakyReLU(_SLOPE, inplace=True)]
            previous = width
        layers.append(nn.ConvTranspose2d(previous, out_channels, 4, SCALE, 3))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (CONTEXT, CONTEXT, CONTEXT, CONTEXT), mode="replicate")
        return self.net(padded)


_CONV_INDICES = tuple(range(0, 2 * len(_WIDTHS) + 1, 2))  # 0, 2, ..., 12
_DECONV = f"net.{_CONV_INDICES[-1]}.weight"


def detect(state: StateDict) -> bool:
    expected = {f"net.{i}.{part}" for i in _CONV_INDICES for part in ("weight", "bias")}
    if set(state) != expected:
        return False
    for index, width in zip(_CONV_INDICES, _WIDTHS, strict=False):
        weight = state[f"net.{index}.weight"]
        if weight.ndim != 4 or tuple(weight.shape[2:]) != (3, 3) or weight.shape[0] != width:
            return False
    deconv = state[_DECONV]
    return deconv.ndim == 4 and tuple(deconv.shape[2:]) == (4, 4) and deconv.shape[0] == 256


def params_from_state(state: StateDict) -> dict[str, Any]:
    return {
        "in_channels": int(state["net.0.weight"].shape[1]),
        "out_channels": int(state[_DECONV].shape[1]),
    }


def describe(params: dict[str, Any]) -> Capabilities:
    # x2 is the architecture itself (the stride-2 transposed conv), not a parameter: the
    # weights file holds no scale, so it is stated here rather than defaulted to 1.
    # Against fp32 on a real crop: bf16 65 dB PSNR, fp16 86 dB.
    return Capabilities(purpose="upscaler", scale=SCALE, precisions=("fp32", "bf16", "fp16"),
                        tile_context=CONTEXT)


SPEC = ArchSpec(
    id="upconv7",
    kind="upscaler",
    build=UpConv7,
    detect=detect,
    params_from_state=params_from_state,
    context=CONTEXT,
    describe=describe,
)
