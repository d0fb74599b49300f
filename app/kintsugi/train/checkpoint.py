"""Run folders: the model file the registry loads, and the resumable training state.

Both are safetensors (no pickle, so a run folder from someone else cannot run code), each
written to a temporary file beside its destination and moved into place, so an interrupted
write leaves the previous checkpoint whole.

* ``RUN/<run name>.safetensors``: the network's weights; metadata ``kintsugi.arch`` and
  ``kintsugi.params`` (JSON) let :func:`kintsugi.load_model` build it without guessing.
* ``RUN/state.safetensors``: every trained module, each optimizer's tensors (``opt.<name>.``)
  and, in the metadata, the step, the optimizers' scalar state and the run's settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from kintsugi.engine.atomic import write_atomically
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.weights import ARCH_KEY, PARAMS_KEY

STATE_FILE = "state.safetensors"


class CheckpointError(KintsugiError):
    """A run folder cannot be written, or its state cannot be resumed."""


def model_file(run: Path) -> Path:
    return run / f"{run.name}.safetensors"


def write_file(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically(dest, data)
    except OSError as error:
        raise CheckpointError(f"cannot write {dest}: {error.strerror or error}") from None


def _plain(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or non-contiguous storage; detached copies are always fine.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def save_model(path: Path, state: Mapping[str, torch.Tensor], arch: str, params: Mapping[str, Any],
               extra: Mapping[str, str] | None = None) -> None:
    metadata = {ARCH_KEY: arch, PARAMS_KEY: json.dumps(dict(params)), **(extra or {})}
    write_file(save(_plain(state), metadata=metadata), path)


def flatten_optimizer(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    """Tensors under ``opt.<name>.<param index>.<key>``; everything else as JSON-able data."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{name}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(name: str, optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                      info: Mapping[str, Any]) -> None:
    prefix = f"opt.{name}."
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, field = key[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[field] = value
    for index, fields in info["scalars"].items():
        state.setdefault(int(index), {}).update(fields)
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def save_state(run: Path, modules: Mapping[str, torch.nn.Module], optimizers: Mapping[str, torch.optim.Optimizer],
               step: int, settings: Mapping[str, Any]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        tensors.update({f"module.{name}.{k}": v for k, v in module.state_dict().items()})
    opt_info = {}
    for name, optimizer in optimizers.items():
        opt_tensors, opt_info[name] = flatten_optimizer(name, optimizer)
        tensors.update(opt_tensors)
    metadata = {"step": str(step), "optimizers": json.dumps(opt_info), "settings": json.dumps(dict(settings))}
    write_file(save(_plain(tensors), metadata=metadata), run / STATE_FILE)


def load_state(run: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = run / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{run} holds no training state ({STATE_FILE}); nothing to resume")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable training state ({error})") from None


def module_state(tensors: Mapping[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    prefix = f"module.{name}."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
