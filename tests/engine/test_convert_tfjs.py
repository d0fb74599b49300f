"""TF.js (UpscalerJS RRDN) converter: layout maths, a synthetic package run through an
independent NumPy interpreter of the Keras graph, refusals, determinism, and (reference)
the real package against the manifest and a live TF.js run."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kintsugi.archs import rrdn
from kintsugi.convert import get_converter, save_safetensors, sha256_file
from kintsugi.convert.tfjs import convert_tfjs, depth_to_space_order
from kintsugi.engine.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
TFJS_TOOL = ROOT / "tools" / "tfjs_reference"
TARBALL = "upscalerjs-esrgan-thick-1.0.0.tgz"
TINY = {"C": 2, "D": 2, "G": 4, "G0": 8, "T": 2}


# ---- an independent reading of TF.js / Keras semantics, in NumPy --------------------------


def _tf_depth_to_space(x: np.ndarray, scale: int) -> np.ndarray:
    # TF: output[h*s + i, w*s + j, c] = input[h, w, (i*s + j)*C + c]
    h, w, depth = x.shape
    c = depth // (scale * scale)
    return (
        x.reshape(h, w, scale, scale, c).transpose(0, 2, 1, 3, 4).reshape(h * scale, w * scale, c)
    )


def _keras_conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    # "same", stride 1, 3x3: TF pads (k - 1) // 2 = 1 before and k - 1 - 1 = 1 after.
    h, w, _ = x.shape
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel.shape[3]), dtype=np.float64)
    for dy in range(3):
        for dx in range(3):
            out += padded[dy : dy + h, dx : dx + w] @ kernel[dy, dx]
    return out + bias


def _run_keras_graph(
    model_json: dict, weights: dict[str, np.ndarray], image: np.ndarray
) -> np.ndarray:
    config = model_json["modelTopology"]["model_config"]["config"]
    values: dict[str, np.ndarray] = {}
    for layer in config["layers"]:
        name, kind = layer["name"], layer["class_name"]
        inputs = (
            [values[node[0]] for node in layer["inbound_nodes"][0]]
            if layer["inbound_nodes"]
            else []
        )
        if kind == "InputLayer":
            values[name] = image.astype(np.float64)
        elif kind == "Conv2D":
            values[name] = _keras_conv_same(
                inputs[0], weights[f"{name}/kernel"], weights[f"{name}/bias"]
            )
        elif kind == "Activation":
            values[name] = np.maximum(inputs[0], 0.0)
        elif kind == "Concatenate":
            values[name] = np.concatenate(inputs, axis=-1)
        elif kind == "Add":
            values[name] = sum(inputs[1:], inputs[0])
        elif kind == "MultiplyBeta":
            values[name] = inputs[0] * 0.2
        elif kind.startswith("PixelShuffle"):
            values[name] = _tf_depth_to_space(inputs[0], layer["config"]["scale"])
        else:
            raise AssertionError(kind)
    return values[config["output_layers"][0][0]]


# ---- a synthetic UpscalerJS package with a tiny RRDN ---------------------------------------


def _conv_layer(name: str, source: str, filters: int) -> dict[str, Any]:
    config = {
        "name": name,
        "filters": filters,
        "kernel_size": [3, 3],
        "strides": [1, 1],
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": [1, 1],
        "groups": 1,
        "activation": "linear",
        "use_bias": True,
    }
    return {
        "class_name": "Conv2D",
        "config": config,
        "name": name,
        "inbound_nodes": [[[source, 0, 0, {}]]],
    }


def _layer(kind: str, name: str, sources: list[str], **config: Any) -> dict[str, Any]:
    nodes = [[[s, 0, 0, {}] for s in sources]] if sources else []
    return {
        "class_name": kind,
        "config": {"name": name, **config},
        "name": name,
        "inbound_nodes": nodes,
    }


def _tiny_model_json(
    C: int, D: int, G: int, G0: int, T: int, scale: int
) -> tuple[dict, list[dict]]:
    """Keras topology in idealo's naming (auto-numbered MultiplyBeta layers included)."""
    layers = [_layer("InputLayer", "LR_input", [], batch_input_shape=[None, None, None, 3])]
    shapes: dict[str, tuple[int, int]] = {}
    betas = iter(["multiply_beta"] + [f"multiply_beta_{i}" for i in range(1, 1000)])

    def conv(name: str, source: str, cin: int, cout: int) -> str:
        layers.append(_conv_layer(name, source, cout))
        shapes[name] = (cin, cout)
        return name

    def beta(source: str) -> str:
        name = next(betas)
        layers.append(_layer("MultiplyBeta", name, [source], beta=0.2))
        return name

    x = shallow = conv("Pre_blocks_conv", "LR_input", 3, G0)
    for t in range(1, T + 1):
        block_in = x
        for d in range(1, D + 1):
            features, width = x, G0
            for c in range(1, C + 1):
                f = conv(f"F_{t}_{d}_{c}", features, width, G)
                layers.append(_layer("Activation", f"{f}_Relu", [f], activation="relu"))
                layers.append(
                    _layer(
                        "Concatenate", f"RDB_Concat_{t}_{d}_{c}", [features, f"{f}_Relu"], axis=3
                    )
                )
                features, width = f"RDB_Concat_{t}_{d}_{c}", width + G
            lff = conv(f"LFF_{t}_{d}", features, width, G0)
            layers.append(_layer("Add", f"LRL_{t}_{d}", [x, beta(lff)]))
            x = f"LRL_{t}_{d}"
        layers.append(_layer("Add", f"RRDB_{t}_out", [block_in, beta(x)]))
        x = f"RRDB_{t}_out"
    conv("post_blocks_conv", x, G0, G0)
    layers.append(_layer("Add", "GRL", ["post_blocks_conv", shallow]))
    conv("PreShuffle", "GRL", G0, 3 * scale * scale)
    layers.append(_layer(f"PixelShuffle{scale}x", "pixel_shuffle", ["PreShuffle"], scale=scale))
    conv("SR", "pixel_shuffle", 3, 3)
    specs = []
    for name in sorted(shapes):  # the real manifests list weights alphabetically too
        cin, cout = shapes[name]
        specs.append({"name": f"{name}/kernel", "shape": [3, 3, cin, cout], "dtype": "float32"})
        specs.append({"name": f"{name}/bias", "shape": [cout], "dtype": "float32"})
    model_json = {
        "format": "layers-model",
        "modelTopology": {
            "model_config": {
                "class_name": "Functional",
                "config": {
                    "name": "model",
                    "layers": layers,
                    "input_layers": [["LR_input", 0, 0]],
                    "output_layers": [["SR", 0, 0]],
                },
            }
        },
        "weightsManifest": [{"paths": [], "weights": specs}],
    }
    return model_json, specs


def _write_package(
    path: Path, model_json: dict, weights: dict[str, np.ndarray], scale: int
) -> None:
    blob = b"".join(
        weights[s["name"]].astype("<f4").tobytes()
        for s in model_json["weightsManifest"][0]["weights"]
    )
    cut = len(blob) // 3 + 2  # shards split mid-tensor, as TF.js does every 4 MB
    shards = {"group1-shard1of2.bin": blob[:cut], "group1-shard2of2.bin": blob[cut:]}
    model_json = copy.deepcopy(model_json)
    model_json["weightsManifest"][0]["paths"] = list(shards)
    files = {"model.json": json.dumps(model_json).encode(), **shards}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/models/x{scale}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def tiny_package(tmp_path: Path) -> tuple[Path, dict, dict[str, np.ndarray]]:
    scale = 3
    model_json, specs = _tiny_model_json(**TINY, scale=scale)
    rng = np.random.default_rng(0)
    weights = {s["name"]: rng.normal(0.0, 0.15, s["shape"]).astype(np.float32) for s in specs}
    path = tmp_path / "tiny-esrgan.tgz"
    _write_package(path, model_json, weights, scale)
    return path, model_json, weights


# ---- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_depth_to_space_order_gives_tf_layout_with_pixel_shuffle(scale: int) -> None:
    rng = np.random.default_rng(scale)
    x = rng.normal(size=(5, 4, 3 * scale * scale)).astype(np.float32)
    expected = _tf_depth_to_space(x, scale)
    torch_in = torch.from_numpy(x).permute(2, 0, 1)[None][:, depth_to_space_order(scale)]
    got = torch.nn.functional.pixel_shuffle(torch_in, scale)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, expected)
    # Without the permutation the layouts really differ (so the test can fail).
    plain = torch.nn.functional.pixel_shuffle(torch.from_numpy(x).permute(2, 0, 1)[None], scale)
    assert not np.array_equal(plain[0].permute(1, 2, 0).numpy(), expected)


def test_synthetic_package_converts_to_same_function_as_keras_graph(tiny_package) -> None:
    path, model_json, weights = tiny_package
    state = get_converter("tfjs")(
        path, {"arch": "rrdn", "scale": 3, "params": {**TINY, "scale": 3}}
    )
    assert rrdn.detect(state)
    assert rrdn.params_from_state(state) == {**TINY, "scale": 3}
    model = rrdn.build(**rrdn.params_from_state(state)).eval().double()
    model.load_state_dict(state, strict=True)
    image = np.random.default_rng(1).random((7, 5, 3))
    expected = _run_keras_graph(model_json, weights, image)
    with torch.no_grad():
        got = model(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert got.shape == (21, 15, 3)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def _mutate(model_json: dict, name: str, **config: Any) -> dict:
    changed = copy.deepcopy(model_json)
    for layer in changed["modelTopology"]["model_config"]["config"]["layers"]:
        if layer["name"] == name:
            if "inbound" in config:
                layer["inbound_nodes"] = [[[s, 0, 0, {}] for s in config.pop("inbound")]]
            layer["config"].update(config)
    return changed


@pytest.mark.parametrize(
    "name,change",
    [
        ("F_1_1_2_Relu", {"activation": "linear"}),
        ("multiply_beta_1", {"beta": 0.3}),
        ("LFF_1_2", {"padding": "valid"}),
        ("SR", {"kernel_size": [1, 1]}),
        ("LRL_1_2", {"inbound": ["LRL_1_1", "LFF_1_2"]}),  # skips the beta scaling
        ("RRDB_2_out", {"inbound": ["Pre_blocks_conv", "multiply_beta_5"]}),  # wrong skip source
    ],
)
def test_refuses_graph_that_is_not_rrdn(
    tmp_path: Path, tiny_package, name: str, change: dict
) -> None:
    _, model_json, weights = tiny_package
    path = tmp_path / "changed.tgz"
    _write_package(path, _mutate(model_json, name, **change), weights, 3)
    with pytest.raises(ModelError):
        convert_tfjs(path, {"arch": "rrdn", "scale": 3})


def test_refuses_manifest_that_disagrees(tiny_package) -> None:
    path, _, _ = tiny_package
    with pytest.raises(ModelError, match="params"):
        convert_tfjs(path, {"arch": "rrdn", "scale": 3, "params": {**TINY, "T": 10, "scale": 3}})
    wrong_hash = {"path": "package/models/x3/model.json", "sha256": "0" * 64}
    with pytest.raises(ModelError, match="SHA-256"):
        convert_tfjs(path, {"arch": "rrdn", "scale": 3, "source": {"files": [wrong_hash]}})
    with pytest.raises(ModelError):
        convert_tfjs(path, {"arch": "rrdn", "scale": 2})  # no x2 folder in this package


def test_conversion_is_deterministic_and_honours_dtype(tmp_path: Path, tiny_package) -> None:
    path, _, _ = tiny_package
    entry = {"arch": "rrdn", "scale": 3, "dtype": "float16"}
    first, second = convert_tfjs(path, entry), convert_tfjs(path, entry)
    assert list(first) == sorted(first) == list(second)
    assert {t.dtype for t in first.values()} == {torch.float16}
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert all(t.is_contiguous() for t in first.values())
    meta = {"kintsugi_id": "tiny", "arch": "rrdn"}
    hashes = {
        save_safetensors(convert_tfjs(path, entry), tmp_path / f"{i}.safetensors", meta)
        for i in range(3)
    }
    assert len(hashes) == 1


# ---- reference: the real package ----------------------------------------------------------


def _package() -> Path:
    path = Path(os.environ.get("KINTSUGI_PACKAGE_CACHE", "/work/cache")) / TARBALL
    if not path.is_file():
        pytest.skip(f"{TARBALL} not in KINTSUGI_PACKAGE_CACHE")
    return path


def _manifest_entry(model_id: str) -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    for path in (ROOT / "models" / "manifest.toml", ROOT / "models" / "_fragments" / "tfjs.toml"):
        if path.is_file():
            for entry in tomllib.loads(path.read_text()).get("model", []):
                if entry["id"] == model_id:
                    return entry
    raise AssertionError(f"{model_id} is in neither models/manifest.toml nor the tfjs fragment")


def _golden(scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    with np.load(GOLDEN / f"tfjs_rrdn-x{scale}.npz") as data:
        names = sorted(k.removesuffix("__input") for k in data.files if k.endswith("__input"))
        return [(data[f"{n}__input"], data[f"{n}__output"]) for n in names]


@pytest.mark.reference
def test_reconverting_rrdn_x2_reproduces_the_shipped_file(tmp_path: Path) -> None:
    entry = _manifest_entry("rrdn-x2")
    shipped = ROOT / "models" / entry["file"]
    assert sha256_file(shipped) == entry["sha256"]
    state = convert_tfjs(_package(), entry)
    rebuilt = tmp_path / entry["file"]
    sha = save_safetensors(state, rebuilt, {"kintsugi_id": entry["id"], "arch": entry["arch"]})
    assert sha == entry["sha256"]


@pytest.mark.reference
@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_float32_conversion_matches_tfjs_goldens(scale: int) -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    state = convert_tfjs(_package(), {"arch": "rrdn", "scale": scale, "dtype": "float32"})
    model = rrdn.build(**rrdn.params_from_state(state)).eval()
    model.load_state_dict(state, strict=True)
    for image, expected in _golden(scale):
        with torch.no_grad():
            got = model(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
        assert np.abs(got - expected).max() <= 1e-5


@pytest.mark.reference
def test_live_tfjs_run_matches_pytorch(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (TFJS_TOOL / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        pytest.skip("node or tools/tfjs_reference/node_modules missing (run npm install there)")
    package = _package()
    with tarfile.open(package) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/models/x2/")]
        tar.extractall(tmp_path, members=members, filter="data")
    image = np.random.default_rng(7).random((20, 28, 3), dtype=np.float32)  # not a golden input
    image.astype("<f4").tofile(tmp_path / "in.f32")
    done = subprocess.run(
        [
            node,
            str(TFJS_TOOL / "run.js"),
            str(tmp_path / "package/models/x2"),
            str(tmp_path / "in.f32"),
            "20",
            "28",
            str(tmp_path / "out.f32"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    expected = np.fromfile(tmp_path / "out.f32", dtype="<f4").reshape(40, 56, 3)
    state = convert_tfjs(package, {"arch": "rrdn", "scale": 2})
    model = rrdn.build(**rrdn.params_from_state(state)).eval()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        got = model(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(got - expected).max() <= 1e-5
