"""RRDN (idealo ISR / UpscalerJS "ESRGAN thick"): layout round trips and shipped-weight parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kintsugi.archs import arch_by_id, detect_arch, rrdn

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
MODELS = ROOT / "models"
TINY = {"C": 2, "D": 2, "G": 4, "G0": 8, "T": 3}
PARITY_TOLERANCE = 1e-3  # max abs vs TF.js on [0, 1] images


def _tiny(scale: int) -> rrdn.RRDN:
    model = rrdn.build(**TINY, scale=scale).eval()
    with torch.no_grad():  # non-trivial weights so the output depends on every layer
        for param in model.parameters():
            param.normal_(0.0, 0.2)
    return model


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_params_round_trip_from_state_shapes(scale: int) -> None:
    state = _tiny(scale).state_dict()
    assert rrdn.detect(state)
    assert rrdn.params_from_state(state) == {**TINY, "scale": scale}
    assert detect_arch(state) is rrdn.SPEC
    rebuilt = arch_by_id("rrdn").build(**rrdn.params_from_state(state))
    rebuilt.load_state_dict(state, strict=True)


def test_detect_rejects_other_layouts() -> None:
    state = _tiny(2).state_dict()
    assert not rrdn.detect({k: v for k, v in state.items() if not k.startswith("pre_shuffle")})
    esrgan_like = {"conv_first.weight": torch.zeros(64, 3, 3, 3)}
    assert not rrdn.detect(esrgan_like)


@pytest.mark.parametrize("scale,height,width", [(2, 7, 5), (3, 6, 9), (8, 4, 3)])
def test_forward_contract_exact_size(scale: int, height: int, width: int) -> None:
    model = _tiny(scale)
    with torch.no_grad():
        out = model(torch.rand(2, 3, height, width))
    assert out.shape == (2, 3, scale * height, scale * width)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_beta_scales_both_residuals() -> None:
    # With beta 0 every block is the identity, so the body reduces to pre/post convs.
    model = _tiny(2)
    x = torch.rand(1, 3, 6, 6)
    no_blocks = rrdn.build(**{**TINY, "T": 0}, scale=2).eval()
    no_blocks.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("rrdb.")}
    )
    for module in model.modules():
        if isinstance(module, rrdn.RRDB):
            module.beta = 0.0
    with torch.no_grad():
        torch.testing.assert_close(model(x), no_blocks(x))
        for module in model.modules():
            if isinstance(module, rrdn.RRDB):
                module.beta = 0.2
        assert (model(x) - no_blocks(x)).abs().max() > 1e-3


def _load_shipped(model_id: str) -> rrdn.RRDN:
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = MODELS / f"{model_id}.safetensors"
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata() == {"kintsugi_id": model_id, "arch": "rrdn"}
    # Stored fp16; computed in fp32 as the engine does on CPU.
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    model = rrdn.build(**rrdn.params_from_state(state)).eval()
    model.load_state_dict(state, strict=True)
    return model


def _golden_cases(scale: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    with np.load(GOLDEN / f"tfjs_rrdn-x{scale}.npz") as data:
        names = sorted(k.removesuffix("__input") for k in data.files if k.endswith("__input"))
        info = json.loads(str(data["info"]))
        assert "tfjs" in info["engine"]
        return [(n, data[f"{n}__input"], data[f"{n}__output"]) for n in names]


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_shipped_weights_match_tfjs_on_photos(scale: int) -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model = _load_shipped(f"rrdn-x{scale}")
    cases = _golden_cases(scale)
    assert cases
    for name, image, expected in cases:
        with torch.no_grad():
            out = model(torch.from_numpy(image).permute(2, 0, 1)[None])
        got = out[0].permute(1, 2, 0).numpy()
        assert got.shape == expected.shape, name
        error = float(np.abs(got - expected).max())
        assert error <= PARITY_TOLERANCE, f"{name}: max abs {error}"
        # The network must do real work: far from a nearest-neighbour enlargement.
        nearest = image.repeat(scale, axis=0).repeat(scale, axis=1)
        assert np.abs(expected - nearest).max() > 0.05


@pytest.mark.parametrize("scale", [2, 8])
def test_context_makes_tiles_match_the_whole_image(scale: int, astronaut_full: np.ndarray) -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model = _load_shipped(f"rrdn-x{scale}")
    margin = rrdn.SPEC.context
    image = torch.from_numpy(astronaut_full[100:156, 180:236].astype(np.float32) / 255)
    image = image.permute(2, 0, 1)[None]
    top, size = 20, 16  # a 16 px tile in the middle, cut with `context` pixels around it
    with torch.no_grad():
        whole = model(image)
        tile = model(
            image[..., top - margin : top + size + margin, top - margin : top + size + margin]
        )
    inner = tile[
        ..., scale * margin : scale * (margin + size), scale * margin : scale * (margin + size)
    ]
    reference = whole[..., scale * top : scale * (top + size), scale * top : scale * (top + size)]
    assert float((inner - reference).abs().max()) <= 1e-5
    # A margin well below `context` is visibly wrong, so the check has teeth.
    with torch.no_grad():
        small = model(image[..., top - 4 : top + size + 4, top - 4 : top + size + 4])
    small_inner = small[..., scale * 4 : scale * (4 + size), scale * 4 : scale * (4 + size)]
    assert float((small_inner - reference).abs().max()) > 1e-4
