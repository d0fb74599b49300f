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
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # this module stays torch-free: the window lists models before torch loads
    import torch
    from torch import nn

StateDict = Mapping[str, "torch.Tensor"]


PURPOSES = ("upscaler", "face-restorer", "detector", "prior")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Capabilities:
    """What a model can do and needs: the one place the registry, pipeline, GUI and CLI read.

    A fact about a model written down anywhere else (a block count in a panel, a list of
    noise architectures in the CLI) is a bug waiting; derive it from here instead.
    """

    purpose: str  # one of PURPOSES
    scale: int = 1  # output side / input side
    input_size: int | None = None  # fixed square input side (aligned face crops), else None
    size_multiple: int = 1  # input sides must be a multiple of this
    value_range: str = "0..1"  # of the module the engine calls (wrappers map [-1, 1] nets)
    precisions: tuple[str, ...] = ("fp32",)  # compute dtypes known to be safe, best first
    tiles: bool = True  # may run on tiles of the image (False: needs the whole input)
    tile_context: int = 0  # input px each side a tile needs for exact results
    mask_blocks: int = 0  # DAFI mask-bias blocks (0: no mask bias)
    seed: bool = False  # has noise inputs a seed can redraw
    fidelity_weight: bool = False  # has a fidelity/realness weight (CodeFormer's w)
    side_outputs: bool = False  # draws deeply supervised side outputs (Pro-PULSE)

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}, not {self.purpose!r}")
        unknown = set(self.precisions) - set(PRECISIONS)
        if unknown or "fp32" not in self.precisions:
            raise ValueError(f"precisions must include fp32 and name only {PRECISIONS}: {self.precisions}")
        if self.scale < 1 or self.size_multiple < 1:
            raise ValueError(f"scale and size_multiple must be at least 1: {self}")

    @property
    def output_size(self) -> int | None:
        return None if self.input_size is None else self.input_size * self.scale

    def to_dict(self) -> dict[str, Any]:
        """Plain data (TOML/JSON-ready; None entries left out) for a user model's record."""
        data = asdict(self)
        data["precisions"] = list(self.precisions)
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Capabilities:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "precisions" in values:
            values["precisions"] = tuple(values["precisions"])
        return cls(**values)


@dataclass(frozen=True)
class ArchSpec:
    id: str
    kind: str  # the purpose every model of this architecture has (see PURPOSES)
    build: Callable[..., nn.Module]  # build(**params) -> module
    detect: Callable[[StateDict], bool]  # True if the key names are this layout
    params_from_state: Callable[[StateDict], dict[str, Any]]  # hyper-parameters from shapes
    context: int = 0  # pixels of input context each side a tile needs for exact results
    # describe(params) -> Capabilities; None: a plain tiling model of `kind` and params' scale.
    describe: Callable[[dict[str, Any]], Capabilities] | None = None

    def capabilities(self, params: dict[str, Any]) -> Capabilities:
        if self.describe is not None:
            return self.describe(params)
        purpose = self.kind if self.kind in PURPOSES else "prior"
        return Capabilities(purpose=purpose, scale=int(params.get("scale", 1)),
                            tiles=self.kind == "upscaler", tile_context=self.context)


# Order matters: specific layouts before general ones.
_MODULES = [
    "kintsugi.archs.panini",
    "kintsugi.archs.glean",
    "kintsugi.archs.gfpgan",
    "kintsugi.archs.codeformer",
    "kintsugi.archs.propulse",
    "kintsugi.archs.laren",
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
