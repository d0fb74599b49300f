"""Reading weights files: safetensors, or a pickle through torch.load(weights_only=True).

A pickle that wants to run code is refused; training wrappers (params_ema, state_dict, ...)
are unwrapped. Kept apart from the registry so that the importer and the registry both use
it without importing each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from kintsugi.engine.errors import ModelError

# Wrappers that training frameworks put around the real state dict, most specific first.
_WRAPPER_KEYS = ("params_ema", "params", "g_ema", "state_dict", "model", "generator")


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
    from kintsugi.engine.pickle_check import refusal

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    # Damaged bytes reach the unpickler and raise whatever it trips on (KeyError, IndexError,
    # UnicodeDecodeError...); every one of them means "this file cannot be read as weights".
    except Exception as error:
        raise ModelError(refusal(path, error)) from error


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


# Metadata keys of the model files `kintsugi train` writes (kintsugi.train.checkpoint).
ARCH_KEY = "kintsugi.arch"
PARAMS_KEY = "kintsugi.params"

# Files `kintsugi train` writes that are parts for further training, not models to run.
# A `dre` run's file is Panini's degradation encoder (plus its MoCo head and key encoder):
# it maps a photo to a 256-d description of how it was degraded and produces no image, and
# a Panini model carries its own copy of it, so no restoring or upscaling path has a use
# for it. Loading it as a model would put a network that does nothing in the window's list.
TRAINING_PARTS = {
    "dre": ("a degradation encoder from `kintsugi train dre` (Panini's DRE), not a model that "
            "restores or upscales; use it to train Panini: kintsugi train panini --dre {name}"),
}


def refuse_training_part(arch: str, name: str) -> None:
    """ModelError with the one-line reason when ``arch`` is a training-only part."""
    if arch in TRAINING_PARTS:
        raise ModelError(f"{name} is " + TRAINING_PARTS[arch].format(name=name))


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
