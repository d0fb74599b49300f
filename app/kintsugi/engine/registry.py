"""Model registry: the shipped models in models/manifest.toml, and weights files users bring.

Shipped weights are safetensors only. Foreign .pth/.pt/.ckpt files go through
torch.load(weights_only=True); a pickle that wants to run code is refused.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kintsugi.archs import ArchSpec, Capabilities, arch_by_id, detect_arch
from kintsugi.engine.catalog import capabilities, default_model_id, list_models, model_info
from kintsugi.engine.device import DTYPES, choose_precision, pick_device, same_device
from kintsugi.engine.errors import ModelError
from kintsugi.engine.manifest import WEIGHT_SUFFIXES, ModelInfo, manifest_entry
from kintsugi.engine.weights import read_description, read_state_dict, refuse_training_part
from kintsugi.resources import models_dir

# Catalog look-ups live in kintsugi.engine.catalog (no torch); re-exported for callers.
__all__ = ["Model", "ModelInfo", "default_model_id", "list_models", "load_model",
           "manifest_entry", "model_info", "read_state_dict"]

log = logging.getLogger(__name__)


class Model:
    """A loaded network on its device and in its compute precision.

    The network is never moved or cast in place once a Model holds it (another call, or the
    window's history, may be using it): ``on`` gives a new Model with its own copy.
    """

    def __init__(self, info: ModelInfo, spec: ArchSpec, net: nn.Module, device: torch.device,
                 precision: str = "fp32", caps: Capabilities | None = None) -> None:
        self.info = info
        self.spec = spec
        self.net = net
        self.device = device
        self.precision = precision
        self.caps: Capabilities = caps if caps is not None else spec.capabilities(info.params)

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    @property
    def scale(self) -> int:
        return self.caps.scale

    @property
    def context(self) -> int:
        return self.caps.tile_context

    def on(self, device: torch.device, precision: str) -> Model:
        """This model on `device` in `precision`: itself if already so, else a copy."""
        if same_device(device, self.device) and precision == self.precision:
            return self
        net = copy.deepcopy(self.net)
        return Model(self.info, self.spec, _placed(net, device, DTYPES[precision]), device,
                     precision, self.caps)

    def __repr__(self) -> str:
        return (f"Model({self.info.id!r}, scale={self.scale}, device={self.device}, "
                f"precision={self.precision})")


def load_model(id_or_path: str | Path, device: str = "auto", precision: str = "auto") -> Model:
    """Load a shipped or imported model by id, or a weights file by path.

    `precision` "auto" picks the fastest one the model's capabilities call safe on the device
    (see kintsugi.engine.device.choose_precision); parity checks pass "fp32".
    """
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
        caps = spec.capabilities(params)
        # The scale is the architecture's (read from the weights' shapes), never a default.
        info = ModelInfo(id=path.stem, name=path.name, arch=spec.id, kind=spec.kind,
                         scale=caps.scale, params=params, file=None, caps=caps,
                         licence="as distributed by its authors")
    else:
        info = model_info(str(id_or_path))
        weights = info.path
        if weights is None or not weights.is_file():
            raise ModelError(f"the weights of {info.id} ({info.file}) are missing from {models_dir()}")
        if info.source.get("engine") == "spandrel":
            caps = capabilities(info)
            return _load_spandrel(info, caps, target, choose_precision(caps.precisions, target,
                                                                       precision))
        spec = _spec_for(info)
        params = info.params
        caps = spec.capabilities(params)  # the architecture's word, not a record's copy
        if info.scale != caps.scale:
            # A record written before scales were read from the weights (waifu2x got x1).
            log.warning("%s: recorded as x%d, but its weights are x%d; using x%d",
                        info.id, info.scale, caps.scale, caps.scale)
            info = replace(info, scale=caps.scale, caps=caps)
        state = read_state_dict(weights)
    chosen = choose_precision(caps.precisions, target, precision)
    net = _build(spec, params, state, info.id)
    return Model(info, spec, _placed(net, target, DTYPES[chosen]), target, chosen, caps)


def _spec_for_arch(arch: str, name: str) -> ArchSpec:
    refuse_training_part(arch, name)
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


def _placed(net: nn.Module, target: torch.device, dtype: torch.dtype) -> nn.Module:
    """`net` (a network no one else holds) on `target` in `dtype`."""
    net = net.to(device=target, dtype=dtype)
    if target.type == "cpu":
        # Channels-last lets oneDNN pick its fastest convolutions (~1.5x on RRDBNet); only
        # 4-D weights have that layout (StyleGAN2's modulated weights are 5-D).
        for param in net.parameters():
            if param.dim() == 4:
                param.data = param.data.contiguous(memory_format=torch.channels_last)
    return net


def _load_spandrel(info: ModelInfo, caps: Capabilities, target: torch.device, precision: str) -> Model:
    """A model imported through spandrel (GFPGAN, SwinIR, ...): spandrel builds the network."""
    from kintsugi.engine.importer import spandrel_network

    assert info.path is not None
    net = spandrel_network(info.path)
    spec = ArchSpec(id=info.arch, kind=info.kind, build=lambda **_: net,
                    detect=lambda _state: False, params_from_state=lambda _state: {},
                    describe=lambda _params: caps)
    return Model(info, spec, _placed(net, target, DTYPES[precision]), target, precision, caps)
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
