"""waifu2x upconv_7: layout detection, exact x2 size, tiling context, ncnn golden parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kintsugi.archs.rrdbnet import RRDBNet
from kintsugi.archs.upconv7 import SPEC, UpConv7

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
MODELS = ROOT / "models"
SHIPPED = [f"waifu2x-photo-noise{n}-x2" for n in range(4)] + ["waifu2x-photo-x2"]


def random_model(seed: int = 0, **params: int) -> UpConv7:
    torch.manual_seed(seed)
    return UpConv7(**params).eval()


def test_params_round_trip() -> None:
    for params in ({"in_channels": 3, "out_channels": 3}, {"in_channels": 1, "out_channels": 1}):
        state = random_model(**params).state_dict()
        assert SPEC.detect(state)
        assert SPEC.params_from_state(state) == params
        SPEC.build(**params).load_state_dict(state)


def test_nunif_key_names() -> None:
    keys = set(random_model().state_dict())
    assert keys == {f"net.{i}.{p}" for i in range(0, 14, 2) for p in ("weight", "bias")}


def test_unknown_layouts_not_detected() -> None:
    state = random_model().state_dict()
    assert not SPEC.detect({k: v for k, v in state.items() if not k.startswith("net.12")})
    assert not SPEC.detect({**state, "net.14.weight": torch.zeros(3, 3, 3, 3)})
    flat_deconv = {**state, "net.12.weight": torch.zeros(256, 3, 3, 3)}
    assert not SPEC.detect(flat_deconv)
    narrow = {**state, "net.4.weight": torch.zeros(48, 32, 3, 3)}
    assert not SPEC.detect(narrow)
    torch.manual_seed(0)
    assert not SPEC.detect(RRDBNet(num_feat=8, num_block=1, num_grow_ch=4).state_dict())


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (16, 16), (23, 18)])
def test_output_is_exactly_twice_the_input(size: tuple[int, int]) -> None:
    with torch.no_grad():
        out = random_model()(torch.rand(1, 3, *size))
    assert out.shape == (1, 3, 2 * size[0], 2 * size[1])


def test_context_makes_tiles_exact() -> None:
    model = random_model(seed=3)
    torch.manual_seed(4)
    image = torch.rand(1, 3, 40, 40)
    c = SPEC.context
    assert c == 7
    with torch.no_grad():
        full = model(image)
        tile = model(image[..., 12 - c : 28 + c, 12 - c : 28 + c])
    inner = tile[..., 2 * c : 2 * c + 32, 2 * c : 2 * c + 32]
    torch.testing.assert_close(inner, full[..., 24:56, 24:56], atol=1e-5, rtol=1e-5)
    # One pixel less context must change the result, or the claim above proves nothing.
    with torch.no_grad():
        short = model(image[..., 12 - c + 1 : 28 + c - 1, 12 - c + 1 : 28 + c - 1])
    short_inner = short[..., 2 * c - 2 : 2 * c + 30, 2 * c - 2 : 2 * c + 30]
    assert (short_inner - full[..., 24:56, 24:56]).abs().max() > 1e-4


def test_border_is_edge_replicated() -> None:
    model = random_model(seed=5)
    image = torch.rand(1, 3, 9, 9)
    replicated = torch.nn.functional.pad(image, (7, 7, 7, 7), mode="replicate")
    with torch.no_grad():
        torch.testing.assert_close(model(image), model.net(replicated))


@pytest.mark.parametrize("model_id", SHIPPED)
def test_matches_ncnn_golden(model_id: str) -> None:
    from safetensors.torch import load_file

    path = MODELS / f"{model_id}.safetensors"
    if not path.exists():
        pytest.skip(f"{path.name} not converted yet")
    state = load_file(str(path))
    assert SPEC.detect(state)
    model = SPEC.build(**SPEC.params_from_state(state))
    model.load_state_dict(state)
    golden = np.load(GOLDEN / f"ncnn_{model_id}.npz")
    image = golden["input_uint8"].transpose(2, 0, 1).astype(np.float32) / 255.0
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(image)[None])[0].numpy()
    expected = golden["output"]
    assert out.shape == expected.shape == (3, image.shape[1] * 2, image.shape[2] * 2)
    assert np.abs(out - expected).max() <= 1e-3
