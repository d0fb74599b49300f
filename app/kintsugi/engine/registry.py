"""Model registry: the shipped models in models/manifest.toml, and weights files users bring.

Shipped weights are safetensors only. Foreign .pth/.pt/.ckpt files go through
torch.load(weights_only=True); a pickle that wants to run code is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kintsugi.archs import ArchSpec, Capabilities, arch_by_id, detect_arch
from kintsugi.engine.device import compute_dtype, pick_device
from kintsugi.engine.errors import ModelError
from kintsugi.engine.manifest import (
    WEIGHT_SUFFIXES,
    ModelInfo,
    default_model_id,
    list_models,
    manifest_entry,
    model_info,
)
from kintsugi.resources import models_dir

# Manifest look-ups live in kintsugi.engine.manifest (no torch); re-exported for callers.
__all__ = ["Model", "ModelInfo", "default_model_id", "list_models", "load_model",
           "manifest_entry", "model_info", "read_state_dict"]

log = logging.getLogger(__name__)

# Wrappers that training frameworks put around the real state dict, most specific first.
_WRAPPER_KEYS = ("params_ema", "params", "g_ema", "state_dict", "model", "generator")


class Model:
    """A loaded network on its device, with what the pipeline needs to drive it."""

    def __init__(self, info: ModelInfo, spec: ArchSpec, net: nn.Module, device: torch.device):
        self.info = info
        self.spec = spec
        self.net = net
        self.device = device
        self.dtype = compute_dtype(device)

    @property
    def caps(self) -> Capabilities:
        """What this model can do and needs (read this, never re-derive it)."""
        return self.spec.capabilities(self.info.params)

    @property
    def scale(self) -> int:
        return self.info.scale

    @property
    def context(self) -> int:
        return self.spec.context

    def __repr__(self) -> str:
        return f"Model({self.info.id!r}, scale={self.scale}, device={self.device})"


def load_model(id_or_path: str | Path, device: str = "auto") -> Model:
    """Load a shipped model by id, or a weights file by path."""
    target = pick_device(device)
    path = Path(id_or_path)
    if path.suffix.lower() in WEIGHT_SUFFIXES or path.exists():
        state = read_state_dict(path)
        described = read_description(path)
        if described is not None:  # a Kintsugi training run says what it is
            spec = _spec_for_arch(described[0], path.name)
            params = described[1]
        else:
            spec = _detect(state, path)
            params = spec.params_from_state(state)
        info = ModelInfo(id=path.stem, name=path.name, arch=spec.id, kind=spec.kind,
                         scale=int(params.get("scale", 1)), params=params, file=None,
                         licence="as distributed by its authors")
    else:
        info = model_info(str(id_or_path))
        if info.path is None or not info.path.is_file():
            raise ModelError(f"the weights of {info.id} ({info.file}) are missing from {models_dir()}")
        if info.source.get("engine") == "spandrel":
            return _load_spandrel(info, target)
        state = read_state_dict(info.path)
        spec = _spec_for(info)
        params = info.params
    net = _build(spec, params, state, info.id)
    return Model(info, spec, _placed(net, target), target)


# Metadata keys of the model files `kintsugi train` writes (kintsugi.train.checkpoint).
ARCH_KEY = "kintsugi.arch"
PARAMS_KEY = "kintsugi.params"


def read_description(path: Path) -> tuple[str, dict[str, Any]] | None:
    """(arch, params) from a safetensors file's metadata; None for files without them."""
    import json

    from safetensors import SafetensorError, safe_open

    if path.suffix.lower() != ".safetensors":
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if ARCH_KEY not in metadata:
            return None
        return metadata[ARCH_KEY], dict(json.loads(metadata.get(PARAMS_KEY, "{}")))
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise ModelError(f"{path.name}: unreadable model description ({error})") from error


def _spec_for_arch(arch: str, name: str) -> ArchSpec:
    try:
        return arch_by_id(arch)
    except KeyError:
        raise ModelError(f"{name}: this version of Kintsugi has no {arch!r} architecture") from None


def _spec_for(info: ModelInfo) -> ArchSpec:
    try:
        return arch_by_id(info.arch)
    except KeyError:
        raise ModelError(f"{info.id}: this version of Kintsugi has no {info.arch!r} "
                         "architecture") from None


def _placed(net: nn.Module, target: torch.device) -> nn.Module:
    net = net.to(device=target, dtype=compute_dtype(target))
    if target.type == "cpu":
        # Channels-last lets oneDNN pick its fastest convolutions (~1.5x on RRDBNet); only
        # 4-D weights have that layout (StyleGAN2's modulated weights are 5-D).
        for param in net.parameters():
            if param.dim() == 4:
                param.data = param.data.contiguous(memory_format=torch.channels_last)
    return net


def _load_spandrel(info: ModelInfo, target: torch.device) -> Model:
    """A model imported through spandrel (GFPGAN, SwinIR, ...): spandrel builds the network."""
    from kintsugi.engine.importer import spandrel_network

    assert info.path is not None
    net = spandrel_network(info.path)
    spec = ArchSpec(id=info.arch, kind=info.kind, build=lambda **_: net,
                    detect=lambda _state: False, params_from_state=lambda _state: {})
    return Model(info, spec, _placed(net, target), target)


def _detect(state: dict[str, torch.Tensor], path: Path) -> ArchSpec:
    spec = detect_arch(state)
    if spec is None:
        sample = ", ".join(list(state)[:3])
        raise ModelError(f"{path.name}: unknown model layout (first keys: {sample})")
    return spec


def _build(spec: ArchSpec, params: dict[str, Any], state, name: str) -> nn.Module:
    net = spec.build(**params)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ModelError(f"{name}: weights do not fit the {spec.id} architecture ({first})") from error
    return net.eval().requires_grad_(False)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path)
    return _unwrap(_read_pickle(path), path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelError(f"{path.name} is not a valid safetensors file ({error})") from error


def _read_pickle(path: Path) -> Any:
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ModelError(
            f"{path.name} contains code that would run on loading; Kintsugi refuses to load it "
            "(only plain weights are accepted)"
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise ModelError(f"{path.name} is not a readable PyTorch weights file ({error})") from error


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, dict) and not _is_state_dict(obj):
            inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict) or not _is_state_dict(obj):
        raise ModelError(f"{path.name} holds no state dict of tensors")
    return dict(obj)


def _is_state_dict(obj: dict) -> bool:
    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())
