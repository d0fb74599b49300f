"""Read TF.js layers models (Keras topology + float32 weight shards) out of an npm tarball.

Supports the idealo ISR RRDN graphs shipped by ``@upscalerjs/esrgan-thick`` and maps them to
:mod:`kintsugi.archs.rrdn`. The whole Keras graph is checked against the graph RRDN builds
for the hyper-parameters read from it, so a package whose model differs in any wiring or
layer setting is refused instead of being converted into something that runs but is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kintsugi.engine.errors import ModelError

log = logging.getLogger(__name__)

BETA = 0.2
_DTYPES = {"float32": torch.float32, "float16": torch.float16}


@dataclass(frozen=True)
class TfjsModel:
    """A TF.js layers model as read from its package."""

    model_json: dict[str, Any]
    weights: dict[str, np.ndarray]  # Keras weight name ("F_1_1_1/kernel") -> array
    file_sha256: dict[str, str]  # path inside the artifact -> SHA-256 of the file

    @property
    def layers(self) -> list[dict[str, Any]]:
        return self.model_json["modelTopology"]["model_config"]["config"]["layers"]


def read_tfjs_model(artifact_path: Path, model_json_path: str) -> TfjsModel:
    """Read ``model_json_path`` and its weight shards from an npm tarball."""
    folder = posixpath.dirname(model_json_path)
    try:
        files = _read_folder(artifact_path, folder)
        model_json = json.loads(files[model_json_path])
        weights: dict[str, np.ndarray] = {}
        used = [model_json_path]
        for group in model_json["weightsManifest"]:
            shard_paths = [posixpath.join(folder, name) for name in group["paths"]]
            used += shard_paths
            blob = b"".join(files[path] for path in shard_paths)
            weights.update(_split_weights(blob, group["weights"]))
    except (OSError, tarfile.TarError, json.JSONDecodeError, KeyError) as exc:
        raise ModelError(
            f"cannot read TF.js model {model_json_path} from {artifact_path}: {exc}"
        ) from exc
    hashes = {path: hashlib.sha256(files[path]).hexdigest() for path in used}
    return TfjsModel(model_json=model_json, weights=weights, file_sha256=hashes)


def _read_folder(artifact_path: Path, folder: str) -> dict[str, bytes]:
    """Every regular file directly in ``folder``, in one streaming pass over the tarball
    (random access into a .tgz would decompress it again for each file)."""
    files: dict[str, bytes] = {}
    with tarfile.open(artifact_path, "r|*") as tar:
        for member in tar:
            if member.isfile() and posixpath.dirname(member.name) == folder:
                handle = tar.extractfile(member)
                if handle is not None:
                    files[member.name] = handle.read()
    return files


def _split_weights(blob: bytes, specs: Iterable[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Cut the concatenated shards into tensors, in manifest order (TF.js' own layout)."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    for spec in specs:
        if spec.get("dtype") != "float32" or "quantization" in spec:
            raise ModelError(f"weight {spec['name']}: only plain float32 weights are supported")
        shape = tuple(int(n) for n in spec["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        end = offset + 4 * count
        if end > len(blob):
            raise ModelError(f"weight shards end before {spec['name']}")
        out[spec["name"]] = np.frombuffer(blob, dtype="<f4", count=count, offset=offset).reshape(
            shape
        )
        offset = end
    if offset != len(blob):
        raise ModelError(
            f"weight shards hold {len(blob) - offset} bytes the manifest does not list"
        )
    return out


# ---- RRDN graph ---------------------------------------------------------------------------

_BLOCK_OUT = re.compile(r"^RRDB_(\d+)_out$")
_LFF = re.compile(r"^LFF_1_(\d+)$")
_DENSE = re.compile(r"^F_1_1_(\d+)$")
_SHUFFLE = re.compile(r"^PixelShuffle(\d+)x$")


def rrdn_params(model: TfjsModel) -> dict[str, int]:
    """Hyper-parameters (idealo's names) read from the Keras topology."""
    by_name = {layer["name"]: layer for layer in model.layers}
    names = list(by_name)
    shuffles = [layer for layer in model.layers if _SHUFFLE.match(layer["class_name"])]
    if len(shuffles) != 1 or "Pre_blocks_conv" not in by_name:
        raise ModelError("the TF.js model is not an RRDN graph (one pixel shuffle expected)")
    return {
        "C": sum(1 for n in names if _DENSE.match(n)),
        "D": sum(1 for n in names if _LFF.match(n)),
        "G": int(by_name["F_1_1_1"]["config"]["filters"]),
        "G0": int(by_name["Pre_blocks_conv"]["config"]["filters"]),
        "T": sum(1 for n in names if _BLOCK_OUT.match(n)),
        "scale": int(shuffles[0]["config"]["scale"]),
    }


def _expected_rrdn_graph(C: int, D: int, G: int, G0: int, T: int, scale: int) -> set[tuple]:
    """(class, name, inputs, filters) of every layer idealo's RRDN builds, beta layers
    named after their input because Keras numbers them automatically."""
    graph: set[tuple] = set()

    def conv(name: str, source: str, filters: int) -> str:
        graph.add(("Conv2D", name, (source,), filters))
        return name

    def beta(source: str) -> str:
        name = f"beta({source})"
        graph.add(("MultiplyBeta", name, (source,), None))
        return name

    def add(name: str, *sources: str) -> str:
        graph.add(("Add", name, sources, None))
        return name

    graph.add(("InputLayer", "LR_input", (), None))
    shallow = conv("Pre_blocks_conv", "LR_input", G0)
    x = shallow
    for t in range(1, T + 1):
        block_in = x
        for d in range(1, D + 1):
            features = x
            for c in range(1, C + 1):
                f = conv(f"F_{t}_{d}_{c}", features, G)
                graph.add(("Activation", f"{f}_Relu", (f,), None))
                graph.add(("Concatenate", f"RDB_Concat_{t}_{d}_{c}", (features, f"{f}_Relu"), None))
                features = f"RDB_Concat_{t}_{d}_{c}"
            x = add(f"LRL_{t}_{d}", x, beta(conv(f"LFF_{t}_{d}", features, G0)))
        x = add(f"RRDB_{t}_out", block_in, beta(x))
    x = add("GRL", conv("post_blocks_conv", x, G0), shallow)
    x = conv("PreShuffle", x, 3 * scale * scale)
    graph.add((f"PixelShuffle{scale}x", "pixel_shuffle", (x,), None))
    conv("SR", "pixel_shuffle", 3)
    return graph


def _actual_graph(model: TfjsModel) -> set[tuple]:
    renamed = {
        layer["name"]: f"beta({layer['inbound_nodes'][0][0][0]})"
        for layer in model.layers
        if layer["class_name"] == "MultiplyBeta"
    }
    graph: set[tuple] = set()
    for layer in model.layers:
        nodes = layer["inbound_nodes"]
        if len(nodes) > 1:
            raise ModelError(f"layer {layer['name']} is shared; RRDN has no shared layers")
        sources = tuple(renamed.get(node[0], node[0]) for node in nodes[0]) if nodes else ()
        name = renamed.get(layer["name"], layer["name"])
        filters = layer["config"].get("filters")
        graph.add((layer["class_name"], name, sources, filters))
    return graph


def _check_layer_settings(model: TfjsModel) -> None:
    """Every setting the PyTorch module hard-codes must hold in the Keras graph."""
    for layer in model.layers:
        kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
        if kind == "Conv2D":
            plain = (
                list(cfg["kernel_size"]) == [3, 3]
                and list(cfg["strides"]) == [1, 1]
                and list(cfg["dilation_rate"]) == [1, 1]
                and cfg["padding"] == "same"
                and cfg["activation"] == "linear"
                and cfg["use_bias"] is True
                and cfg.get("groups", 1) == 1
                and cfg.get("data_format", "channels_last") == "channels_last"
            )
            if not plain:
                raise ModelError(f"conv {name} is not a plain 3x3 'same' conv with bias")
        elif kind == "Activation" and cfg["activation"] != "relu":
            raise ModelError(f"activation {name} is {cfg['activation']}, expected relu")
        elif kind == "Concatenate" and cfg["axis"] not in (3, -1):
            raise ModelError(f"concatenate {name} is not along channels")
        elif kind == "MultiplyBeta" and cfg.get("beta", BETA) != BETA:
            raise ModelError(f"{name} has beta {cfg['beta']}, expected {BETA}")


def check_rrdn_topology(model: TfjsModel) -> dict[str, int]:
    """Verify the graph is exactly idealo's RRDN and return its hyper-parameters."""
    params = rrdn_params(model)
    _check_layer_settings(model)
    expected = _expected_rrdn_graph(**params)
    actual = _actual_graph(model)
    if actual != expected:
        missing = sorted(expected - actual, key=str)[:3]
        extra = sorted(actual - expected, key=str)[:3]
        raise ModelError(f"TF.js graph is not RRDN {params}: missing {missing}, unexpected {extra}")
    return params


def _conv_kernel(kernel: np.ndarray) -> torch.Tensor:
    # Keras (kh, kw, in, out) -> PyTorch (out, in, kh, kw).
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def depth_to_space_order(scale: int, channels: int = 3) -> list[int]:
    """For each PyTorch pixel_shuffle input channel, the TF depthToSpace channel feeding the
    same output pixel: TF reads channel (i*s + j)*C + c, PyTorch reads c*s*s + i*s + j,
    for output colour c at sub-pixel (i, j)."""
    return [
        (i * scale + j) * channels + c
        for c in range(channels)
        for i in range(scale)
        for j in range(scale)
    ]


def _rrdn_key(layer: str) -> str:
    fixed = {
        "Pre_blocks_conv": "pre_blocks",
        "post_blocks_conv": "post_blocks",
        "PreShuffle": "pre_shuffle",
        "SR": "sr",
    }
    if layer in fixed:
        return fixed[layer]
    dense = re.fullmatch(r"F_(\d+)_(\d+)_(\d+)", layer)
    if dense:
        t, d, c = (int(g) - 1 for g in dense.groups())
        return f"rrdb.{t}.rdb.{d}.f.{c}"
    fuse = re.fullmatch(r"LFF_(\d+)_(\d+)", layer)
    if fuse:
        t, d = (int(g) - 1 for g in fuse.groups())
        return f"rrdb.{t}.rdb.{d}.lff"
    raise ModelError(f"unexpected weight owner {layer!r} in RRDN model")


def rrdn_state_dict(model: TfjsModel, scale: int) -> dict[str, torch.Tensor]:
    """Map Keras weights to :class:`kintsugi.archs.rrdn.RRDN` keys (float32)."""
    order = depth_to_space_order(scale)
    state: dict[str, torch.Tensor] = {}
    for name, array in model.weights.items():
        layer, _, kind = name.rpartition("/")
        key = _rrdn_key(layer)
        if kind == "kernel":
            tensor = _conv_kernel(array)
        elif kind == "bias":
            tensor = torch.from_numpy(array.copy())
        else:
            raise ModelError(f"unexpected weight {name!r}")
        if layer == "PreShuffle":
            tensor = tensor[order].contiguous()
        state[f"{key}.{'weight' if kind == 'kernel' else 'bias'}"] = tensor
    return state


def _model_json_path(entry: Mapping[str, Any]) -> str:
    for item in entry.get("source", {}).get("files", []):
        if item["path"].endswith("/model.json"):
            return str(item["path"])
    return f"package/models/x{int(entry['scale'])}/model.json"


def _check_source_hashes(model: TfjsModel, entry: Mapping[str, Any]) -> None:
    for item in entry.get("source", {}).get("files", []):
        want = item.get("sha256")
        got = model.file_sha256.get(item["path"])
        if want and got is None:
            raise ModelError(f"{item['path']} listed in the manifest is not part of the model")
        if want and got != want:
            raise ModelError(
                f"{item['path']} in the package has SHA-256 {got}, manifest says {want}"
            )


def convert_tfjs(artifact_path: Path, entry: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """State dict for ``entry`` (a manifest [[model]] table) from the npm tarball."""
    if entry.get("arch", "rrdn") != "rrdn":
        raise ModelError(f"the TF.js converter only knows arch 'rrdn', not {entry['arch']!r}")
    model = read_tfjs_model(Path(artifact_path), _model_json_path(entry))
    _check_source_hashes(model, entry)
    params = check_rrdn_topology(model)
    wanted = entry.get("params")
    if wanted is not None and dict(wanted) != params:
        raise ModelError(f"manifest params {dict(wanted)} differ from the model's {params}")
    if "scale" in entry and int(entry["scale"]) != params["scale"]:
        raise ModelError(
            f"manifest scale {entry['scale']} differs from the model's {params['scale']}"
        )
    dtype_name = str(entry.get("dtype", "float32"))
    if dtype_name not in _DTYPES:
        raise ModelError(f"unsupported storage dtype {dtype_name!r}")
    state = rrdn_state_dict(model, params["scale"])
    log.info("converted RRDN %s: %d tensors, stored as %s", params, len(state), dtype_name)
    return {key: state[key].to(_DTYPES[dtype_name]) for key in sorted(state)}
