"""RRDBNet: layout detection, hyper-parameters from shapes, and parity with ncnn goldens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kintsugi.archs.rrdbnet import SPEC, RRDBNet

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
MODELS = ROOT / "models"

TINY = {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_block": 2, "num_grow_ch": 4}


def tiny_state(scale: int = 4, **overrides: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return RRDBNet(**{**TINY, **overrides}, scale=scale).state_dict()


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_params_round_trip(scale: int) -> None:
    state = tiny_state(scale)
    assert SPEC.detect(state)
    params = SPEC.params_from_state(state)
    assert params == {**TINY, "scale": scale}
    rebuilt = SPEC.build(**params)
    rebuilt.load_state_dict(state)  # strict: every key and shape matches


def test_params_follow_shapes() -> None:
    params = SPEC.params_from_state(
        tiny_state(num_feat=12, num_block=3, num_grow_ch=6, num_out_ch=1)
    )
    assert params["num_feat"] == 12
    assert params["num_block"] == 3
    assert params["num_grow_ch"] == 6
    assert params["num_out_ch"] == 1


def test_basicsr_key_names() -> None:
    keys = set(tiny_state())
    for key in (
        "conv_first.weight",
        "body.1.rdb3.conv5.bias",
        "conv_body.weight",
        "conv_up1.weight",
        "conv_up2.weight",
        "conv_hr.weight",
        "conv_last.bias",
    ):
        assert key in keys


def test_unknown_layouts_not_detected() -> None:
    state = tiny_state()
    without_up2 = {k: v for k, v in state.items() if not k.startswith("conv_up2")}
    assert not SPEC.detect(without_up2)
    x8 = {**state, "conv_up3.weight": state["conv_up2.weight"]}
    assert not SPEC.detect(x8)
    old_esrgan = {f"model.{i}.weight": torch.zeros(1) for i in range(5)}
    assert not SPEC.detect(old_esrgan)
    upconv7_like = {f"net.{i}.weight": torch.zeros(1) for i in range(0, 14, 2)}
    assert not SPEC.detect(upconv7_like)


def test_odd_input_channels_rejected() -> None:
    state = tiny_state()
    state["conv_first.weight"] = torch.zeros(8, 5, 3, 3)
    with pytest.raises(ValueError):
        SPEC.params_from_state(state)


@pytest.mark.parametrize(("scale", "size"), [(4, (5, 7)), (2, (7, 9)), (1, (6, 11))])
def test_output_size(scale: int, size: tuple[int, int]) -> None:
    model = RRDBNet(**TINY, scale=scale).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, *size))
    assert out.shape == (1, 3, size[0] * scale, size[1] * scale)


def test_channels_last_matches_contiguous() -> None:
    torch.manual_seed(1)
    model = RRDBNet(**TINY).eval()
    image = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        plain = model(image)
        model_cl = model.to(memory_format=torch.channels_last)
        fast = model_cl(image.to(memory_format=torch.channels_last))
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def load_shipped(model_id: str) -> torch.nn.Module:
    from safetensors.torch import load_file

    path = MODELS / f"{model_id}.safetensors"
    if not path.exists():
        pytest.skip(f"{path.name} not converted yet")
    state = load_file(str(path))
    assert SPEC.detect(state)
    model = SPEC.build(**SPEC.params_from_state(state))
    model.load_state_dict(state)
    return model.eval()


@pytest.mark.parametrize("model_id", ["realesrgan-x4plus", "realsr-df2k-x4"])
def test_matches_ncnn_golden(model_id: str) -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    golden = np.load(GOLDEN / f"ncnn_{model_id}.npz")
    image = golden["input_uint8"].transpose(2, 0, 1).astype(np.float32) / 255.0
    with torch.no_grad():
        out = load_shipped(model_id)(torch.from_numpy(image)[None])[0].numpy()
    expected = golden["output"]
    assert out.shape == expected.shape == (3, image.shape[1] * 4, image.shape[2] * 4)
    assert np.abs(out - expected).max() <= 1e-3
