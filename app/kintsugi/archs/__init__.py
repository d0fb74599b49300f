"""Network architectures: plain nn.Modules, no I/O, no Qt.

Every architecture module exposes ``SPEC``, an :class:`ArchSpec`. The table below is an
explicit ordered list (never filled by import side effects): ``detect`` is tried in order
on a state dict's key names, so more specific layouts come first.

Contract for image-to-image networks (kind "upscaler"): ``forward`` takes RGB
(N, 3, H, W) float in [0, 1] and returns (N, 3, s*H, s*W) in the same value space,
unclamped; any padding a network needs (e.g. waifu2x's unpadded convs) happens inside.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

StateDict = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class ArchSpec:
    id: str
    kind: str  # "upscaler" | "detector" | "face-restorer" | ...
    build: Callable[..., nn.Module]  # build(**params) -> module
    detect: Callable[[StateDict], bool]  # True if the key names are this layout
    params_from_state: Callable[[StateDict], dict[str, Any]]  # hyper-parameters from shapes
    context: int = 0  # pixels of input context each side a tile needs for exact results


# Order matters: specific layouts before general ones.
_MODULES = [
    "kintsugi.archs.panini",
    "kintsugi.archs.glean",
    "kintsugi.archs.stylegan2",
    "kintsugi.archs.rrdbnet",
    "kintsugi.archs.rrdn",
    "kintsugi.archs.upconv7",
    "kintsugi.archs.retinaface",
]


def architectures() -> list[ArchSpec]:
    return [importlib.import_module(name).SPEC for name in _MODULES]


def arch_by_id(arch_id: str) -> ArchSpec:
    for spec in architectures():
        if spec.id == arch_id:
            return spec
    raise KeyError(arch_id)


def detect_arch(state: StateDict) -> ArchSpec | None:
    for spec in architectures():
        if spec.detect(state):
            return spec
    return None
