"""What a job is asked to do, as plain frozen values: one record per kind of setting, shared by
the engine's functions, its sessions, the batch runner, the command line and the window.

- :class:`RestoreSpec`: what is restored (the face model, which faces, the background, the
  photo's scale, the consistency lock, colour matching). A restore session is built for one
  spec; the window keys its per-photo session cache by it.
- :class:`Controls`: the slider-like values one render of a session uses (mask bias, bias
  blocks, bias map, CodeFormer's fidelity w, the noise seed). Changing them re-runs only the
  generator pass, so the seed is a control too: another seed is another render of one session.
- :class:`TilePolicy`: the tile size, "auto" or a side in px, parsed and checked once.

No torch here: the command line and the window build these before any model loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from kintsugi.engine.errors import KintsugiError

if TYPE_CHECKING:
    from kintsugi.engine.registry import Model

# "all", indices in reading order, a minimum face size in px, or None: the image is one
# aligned face crop.
FaceSelection = str | int | Sequence[int] | None
# A model id, a weights file, or a loaded model (which then is not loaded again).
ModelRef = Union["Model", str, Path]

# px: a smaller tile spends most of its time on overlap (out of memory, the tiler halves a
# tile down to tiling.MIN_TILE on its own)
SMALLEST_TILE = 16


@dataclass(frozen=True)
class RestoreSpec:
    """What is restored. `background`: an upscaler (ModelRef), "bicubic", or None for the
    default upscaler; ignored for aligned crops. `scale` None: the face model's own, capped.
    `color_match` None: on for photos, off for aligned crops."""

    model: ModelRef
    faces: FaceSelection = "all"
    background: ModelRef | None = None
    scale: int | None = None
    consistency: bool = False
    color_match: bool | None = None

    def __post_init__(self) -> None:
        # A list of indices becomes a tuple, so that equal specs hash equally (cache keys).
        if isinstance(self.faces, Sequence) and not isinstance(self.faces, str):
            object.__setattr__(self, "faces", tuple(int(i) for i in self.faces))

    @property
    def aligned(self) -> bool:
        """The input is one aligned face crop, not a photo."""
        return self.faces is None


@dataclass(frozen=True)
class Controls:
    """The values of one render (see kintsugi.engine.restore's module doc). Models refuse a
    control they do not have rather than ignore it. `bias_map`: HxW values added to the mask
    bias, any size (stretched over the photo); it is left out of comparisons (an array)."""

    bias: float = 0.0
    bias_blocks: tuple[tuple[int, float], ...] = ()
    bias_map: np.ndarray | None = field(default=None, compare=False, repr=False)
    fidelity: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        blocks: Any = self.bias_blocks
        pairs = blocks.items() if isinstance(blocks, Mapping) else (blocks or ())
        object.__setattr__(self, "bias_blocks", tuple(sorted((int(k), float(v)) for k, v in pairs)))
        object.__setattr__(self, "bias", float(self.bias))
        if self.fidelity is not None:
            object.__setattr__(self, "fidelity", float(self.fidelity))

    @property
    def has_map(self) -> bool:
        return self.bias_map is not None

    @property
    def blocks(self) -> dict[int, float]:
        """The bias blocks that change something."""
        return {k: v for k, v in self.bias_blocks if v != 0.0}

    @property
    def wants_bias(self) -> bool:
        return self.bias != 0.0 or bool(self.blocks) or self.has_map


def as_spec(spec: RestoreSpec | ModelRef, settings: Mapping[str, Any]) -> RestoreSpec:
    """`spec` (or just its model) with `settings` naming its fields (TypeError on others)."""
    return replace(spec if isinstance(spec, RestoreSpec) else RestoreSpec(spec), **settings)


def spec_and_controls(spec: RestoreSpec | ModelRef, controls: Controls | None,
                      settings: Mapping[str, Any]) -> tuple[RestoreSpec, Controls]:
    """The pair a restore call describes: `spec` (or just its model) and `controls`, with
    `settings` naming fields of either, so that ``restore(image, "panini-mfr", bias=0.3)``
    needs neither record spelled out."""
    theirs = {f.name for f in fields(Controls)}
    controls = replace(controls or Controls(), **{k: v for k, v in settings.items() if k in theirs})
    return as_spec(spec, {k: v for k, v in settings.items() if k not in theirs}), controls


@dataclass(frozen=True)
class TilePolicy:
    """Tile side in px; None: automatic (what fits the device's memory)."""

    side: int | None = None

    @classmethod
    def parse(cls, value: TilePolicy | int | str | None) -> TilePolicy:
        """"auto" (or None) or a whole number of px, at least SMALLEST_TILE; one error for all."""
        if isinstance(value, TilePolicy):
            return value
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return cls()
        try:
            side = int(value)
        except ValueError:
            side = 0
        if side < SMALLEST_TILE or str(side) != str(value).strip():
            raise KintsugiError(f"tile must be auto or a size of at least {SMALLEST_TILE} px, not {value!r}")
        return cls(side)

    @property
    def auto(self) -> bool:
        return self.side is None

    def __str__(self) -> str:
        return "auto" if self.side is None else str(self.side)
