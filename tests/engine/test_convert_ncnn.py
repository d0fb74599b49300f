"""kintsugi.convert.ncnn: format reading, reproducibility, and live parity with ncnn."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import struct
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import tomllib
import torch

from kintsugi.archs import rrdbnet, upconv7
from kintsugi.convert import save_safetensors, sha256_file
from kintsugi.convert.ncnn import (
    TAG_FP16,
    convert_ncnn,
    convert_param_bin,
    parse_param,
)
from kintsugi.engine.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
SHIPPED = [
    "realesrgan-x4plus",
    "realsr-df2k-x4",
    *(f"waifu2x-photo-noise{n}-x2" for n in range(4)),
    "waifu2x-photo-x2",
]


# ------------------------------------------------------------ synthetic ncnn files


def _conv_line(name: str, weight: torch.Tensor, slope: float | None, kind: str, extra: str) -> str:
    out_ch = weight.shape[0]
    act = f" 9=2 -23310=1,{slope:e}" if slope is not None else ""
    return (
        f"{kind:<24} {name:<24} 1 1 {name}_in {name}_out "
        f"0={out_ch} 1={weight.shape[-1]}{extra} 5=1 6={weight.numel()}{act}"
    )


def _blob(weight: torch.Tensor, fp16: bool) -> bytes:
    if fp16:
        raw = weight.detach().half().numpy().astype("<f2").tobytes()
        return struct.pack("<I", TAG_FP16) + raw + b"\0" * (-len(raw) % 4)
    return struct.pack("<I", 0) + weight.detach().float().numpy().astype("<f4").tobytes()


def to_ncnn(
    convs: list[tuple[torch.Tensor, torch.Tensor, float | None, str, str]], fp16: bool
) -> tuple[str, bytes]:
    """A .param/.bin pair holding the given convs; (weight in ncnn order, bias, slope, type, extra)."""
    lines = ["7767517", f"{len(convs) + 1} {len(convs) + 1}", "Input input 0 1 data"]
    data = b""
    for index, (weight, bias, slope, kind, extra) in enumerate(convs):
        lines.append(_conv_line(f"c{index}", weight, slope, kind, extra))
        data += _blob(weight, fp16) + bias.detach().float().numpy().astype("<f4").tobytes()
    return "\n".join(lines) + "\n", data


def rrdbnet_as_ncnn(model: rrdbnet.RRDBNet, fp16: bool) -> tuple[str, bytes]:
    slopes = {"conv1": 0.2, "conv2": 0.2, "conv3": 0.2, "conv4": 0.2, "conv_up1": 0.2}
    slopes |= {"conv_up2": 0.2, "conv_hr": 0.2}
    convs = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            slope = slopes.get(name.rsplit(".", 1)[-1])
            convs.append((module.weight, module.bias, slope, "Convolution", " 4=1"))
    return to_ncnn(convs, fp16)


def upconv7_as_ncnn(model: upconv7.UpConv7, fp16: bool) -> tuple[str, bytes]:
    convs = []
    for module in model.net:
        if isinstance(module, torch.nn.ConvTranspose2d):
            # ncnn stores deconvolution kernels (out, in, k, k).
            weight = module.weight.transpose(0, 1)
            convs.append((weight, module.bias, None, "Deconvolution", " 3=2 4=3"))
        elif isinstance(module, torch.nn.Conv2d):
            convs.append((module.weight, module.bias, 0.1, "Convolution", ""))
    return to_ncnn(convs, fp16)


# ------------------------------------------------------------------- format tests


def test_parse_param_reads_scalars_and_arrays() -> None:
    text = (
        "7767517\n2 2\nInput in 0 1 data 0=156 1=156 2=3\n"
        "Convolution conv 1 1 data out 0=16 1=3 5=1 6=432 9=2 -23310=1,0.100000\n"
    )
    layers = parse_param(text)
    assert [layer.type for layer in layers] == ["Input", "Convolution"]
    conv = layers[1]
    assert conv.inputs == ["data"] and conv.outputs == ["out"]
    assert conv.params[0] == 16 and conv.params[6] == 432
    assert conv.params[-23310] == [pytest.approx(0.1)]


def test_parse_param_rejects_bad_files() -> None:
    with pytest.raises(ModelError):
        parse_param("1234\n1 1\nInput in 0 1 data\n")
    with pytest.raises(ModelError):
        parse_param("7767517\n3 3\nInput in 0 1 data\n")


@pytest.mark.parametrize("fp16", [True, False])
def test_rrdbnet_round_trip(fp16: bool) -> None:
    # num_feat 3 with 1 output channel gives odd fp16 counts, exercising the 4-byte padding.
    torch.manual_seed(0)
    model = rrdbnet.RRDBNet(num_out_ch=1, num_feat=3, num_block=2, num_grow_ch=1)
    param, data = rrdbnet_as_ncnn(model, fp16)
    state = convert_param_bin(param, data, "rrdbnet")
    expected = model.state_dict()
    assert sorted(state) == sorted(expected)
    for key, value in expected.items():
        is_weight = key.endswith("weight")
        assert state[key].dtype == (torch.float16 if fp16 and is_weight else torch.float32)
        want = value.half() if fp16 and is_weight else value
        assert torch.equal(state[key], want), key


def test_upconv7_deconv_axes() -> None:
    torch.manual_seed(1)
    model = upconv7.UpConv7()
    state = convert_param_bin(*upconv7_as_ncnn(model, fp16=False), "upconv7")
    assert state["net.12.weight"].shape == (256, 3, 4, 4)
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key


def test_refuses_what_it_does_not_understand() -> None:
    torch.manual_seed(2)
    model = upconv7.UpConv7()
    param, data = upconv7_as_ncnn(model, fp16=True)
    with pytest.raises(ModelError, match="trailing"):
        convert_param_bin(param, data + b"\0" * 4, "upconv7")
    with pytest.raises(ModelError, match="shorter"):
        convert_param_bin(param, data[:-8], "upconv7")
    with pytest.raises(ModelError, match="not an RRDBNet"):
        convert_param_bin(param, data, "rrdbnet")
    with pytest.raises(ModelError, match="does not know"):
        convert_param_bin(param, data, "unet")
    with pytest.raises(ModelError, match="activation"):
        convert_param_bin(param.replace("1.000000e-01", "2.000000e-01", 1), data, "upconv7")
    with pytest.raises(ModelError, match="storage tag"):
        convert_param_bin(param, struct.pack("<I", 0xDEADBEEF) + data[4:], "upconv7")
    unknown = param.replace("Input input", "InnerProduct fc", 1)
    with pytest.raises(ModelError, match="not supported"):
        convert_param_bin(unknown, data, "upconv7")


def test_convert_ncnn_reads_from_a_wheel(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = upconv7.UpConv7()
    param, data = upconv7_as_ncnn(model, fp16=True)
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fake/models/m.param", param)
        archive.writestr("fake/models/m.bin", data)
    entry: dict[str, Any] = {
        "id": "fake",
        "arch": "upconv7",
        "source": {"files": [{"path": "fake/models/m.param"}, {"path": "fake/models/m.bin"}]},
    }
    state = convert_ncnn(wheel, entry)
    assert torch.equal(state["net.0.weight"], model.net[0].weight.detach().half())
    # Deterministic output: two saves are byte-identical.
    first = save_safetensors(state, tmp_path / "a.safetensors", {"kintsugi_id": "fake"})
    second = save_safetensors(
        convert_ncnn(wheel, entry), tmp_path / "b.safetensors", {"kintsugi_id": "fake"}
    )
    assert first == second
    entry["source"]["files"][1]["path"] = "fake/models/missing.bin"
    with pytest.raises(ModelError):
        convert_ncnn(wheel, entry)


# --------------------------------------------------------------------- manifest


def manifest_entries() -> dict[str, dict[str, Any]]:
    """Prefer the merged models/manifest.toml; fall back to this converter's fragment."""
    for path in (MODELS / "manifest.toml", MODELS / "_fragments" / "ncnn.toml"):
        if path.exists():
            with open(path, "rb") as fh:
                entries = {m["id"]: m for m in tomllib.load(fh)["model"]}
            if all(model_id in entries for model_id in SHIPPED):
                return entries
    pytest.skip("no manifest lists the ncnn models")


def test_manifest_entries_are_complete() -> None:
    entries = manifest_entries()
    fields = {"id", "name", "arch", "kind", "scale", "purpose", "input_range", "dtype", "file"}
    fields |= {"sha256", "licence", "licence_file", "converter", "params", "source"}
    for model_id in SHIPPED:
        entry = entries[model_id]
        assert fields <= set(entry), model_id
        assert entry["converter"] == "ncnn"
        assert (MODELS / entry["licence_file"]).is_file()
        spec = rrdbnet.SPEC if entry["arch"] == "rrdbnet" else upconv7.SPEC
        spec.build(**entry["params"])
        path = MODELS / entry["file"]
        if path.exists():
            assert sha256_file(path) == entry["sha256"], model_id


# ------------------------------------------------------- reference (needs wheels)


def package_cache() -> Path:
    return Path(os.environ.get("KINTSUGI_PACKAGE_CACHE", "/work/cache"))


def artifact_for(entry: dict[str, Any]) -> Path:
    path = package_cache() / entry["source"]["artifact"]
    if not path.exists():
        pytest.skip(f"{path.name} not in {package_cache()}")
    return path


@pytest.mark.reference
@pytest.mark.parametrize("model_id", ["realesrgan-x4plus", "waifu2x-photo-noise2-x2"])
def test_reconversion_matches_manifest(model_id: str, tmp_path: Path) -> None:
    entry = manifest_entries()[model_id]
    artifact = artifact_for(entry)
    with zipfile.ZipFile(artifact) as archive:
        for item in entry["source"]["files"]:
            assert hashlib.sha256(archive.read(item["path"])).hexdigest() == item["sha256"]
    state = convert_ncnn(artifact, entry)
    meta = {"kintsugi_id": model_id, "arch": entry["arch"]}
    assert save_safetensors(state, tmp_path / entry["file"], meta) == entry["sha256"]


def reference_tool() -> ModuleType:
    pytest.importorskip("ncnn")
    pytest.importorskip("skimage")
    spec = importlib.util.spec_from_file_location(
        "ncnn_reference", ROOT / "tools" / "ncnn_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ncnn_reference", module)
    spec.loader.exec_module(module)
    return module


# Crops differ from the golden fixtures', and are odd-sized and non-square on purpose.
LIVE_CROPS = {
    "realesrgan-x4plus": ("coffee", (150, 300, 27, 35)),
    "realsr-df2k-x4": ("astronaut", (300, 60, 30, 25)),
}


@pytest.mark.reference
@pytest.mark.parametrize("model_id", SHIPPED)
def test_live_parity_with_ncnn(model_id: str) -> None:
    tool = reference_tool()
    entry = manifest_entries()[model_id]
    state = convert_ncnn(artifact_for(entry), entry)
    spec = rrdbnet.SPEC if entry["arch"] == "rrdbnet" else upconv7.SPEC
    model = spec.build(**entry["params"])
    model.load_state_dict(state)
    photo, box = LIVE_CROPS.get(model_id, ("astronaut", (20, 150, 37, 41)))
    crop = tool.photo_crop(photo, *box)
    image = crop.transpose(2, 0, 1).astype(np.float32) / 255.0
    expected = tool.run_ncnn(model_id, image, package_cache())
    torch.set_num_threads(min(2, torch.get_num_threads()))
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(image)[None])[0].numpy()
    scale = entry["scale"]
    assert out.shape == expected.shape == (3, box[2] * scale, box[3] * scale)
    assert np.abs(out - expected).max() <= 1e-3
