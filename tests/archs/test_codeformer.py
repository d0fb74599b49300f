"""CodeFormer: parity with the authors' code, strict official key names, the fidelity weight."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from kintsugi.archs import detect_arch
from kintsugi.archs.codeformer import SPEC, CodeFormer

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
# The random reference network amplifies rounding: the thread count alone moves its
# output by ~3e-5 (measured); a wrong operation moves it by far more than this.
TOLERANCE = 2e-4


@pytest.fixture(scope="module")
def golden() -> tuple[torch.nn.Module, np.lib.npyio.NpzFile]:
    state = {k: v.float() for k, v in load_file(str(GOLDEN / "codeformer_spandrel.safetensors")).items()}
    spec = detect_arch(state)
    assert spec is SPEC
    net = spec.build(**spec.params_from_state(state))
    net.load_state_dict(state, strict=True)
    return net.eval(), np.load(GOLDEN / "codeformer_spandrel.npz")


@pytest.fixture(scope="module")
def outputs(golden) -> dict[float, torch.Tensor]:
    """One encoder pass, the decoder at five fidelity weights (w does not reach the encoder)."""
    net, ref = golden
    x = torch.from_numpy(ref["x"].astype(np.float32) / 255.0)
    with torch.no_grad():
        quant, feats = net.net.encode(x * 2 - 1)
        outs = {w: net.net.decode(quant, feats, w) for w in (0.0, 0.25, 0.5, 0.75, 1.0)}
        plain = quant
        for block in net.net.generator.blocks:
            plain = block(plain)
    outs[-1.0] = plain  # the decoder alone, no fusion
    return outs


def _pooled(y: torch.Tensor) -> np.ndarray:
    return y.numpy().reshape(1, 3, 128, 4, 128, 4).mean(axis=(3, 5))


@pytest.mark.slow
@pytest.mark.parametrize(("w", "name"), [(0.0, "y_w0"), (0.5, "y_w05"), (1.0, "y_w1")])
def test_parity_with_spandrel_extra_arches(golden, outputs, w: float, name: str) -> None:
    """Same output as spandrel-extra-arches 0.2.0's CodeFormer (tools/make_codeformer_golden.py)
    at w = 0, 0.5 and 1."""
    _net, ref = golden
    y = outputs[w]
    assert np.abs(_pooled(y) - ref[f"{name}_pooled"]).max() < TOLERANCE
    if w == 0.5:
        assert np.abs(y.numpy()[:, :, 192:320, 192:320] - ref["y_w05_centre"]).max() < TOLERANCE


def test_official_configuration_has_exactly_the_official_keys() -> None:
    official = json.loads((GOLDEN / "codeformer_official_keys.json").read_text())
    with torch.device("meta"):
        net = CodeFormer()
    assert {k: list(v.shape) for k, v in net.state_dict().items()} == official
    params = SPEC.params_from_state({k: torch.empty(v) for k, v in official.items()})
    assert params == {"nf": 64, "norm_groups": 32, "emb_dim": 256, "codebook_size": 1024, "dim_embd": 512,
                      "n_layers": 9, "dim_mlp": 1024, "connect": (32, 64, 128, 256), "img_size": 512,
                      "scale": 1}


def test_official_fusion_tables() -> None:
    """The encoder taps and decoder fusion points equal the official fuse_encoder_block /
    fuse_generator_block tables (sczhou/CodeFormer codeformer_arch.py)."""
    with torch.device("meta"):
        net = CodeFormer()
    assert net._enc_taps == {512: 2, 256: 5, 128: 8, 64: 11, 32: 14, 16: 18}
    assert net._dec_taps == {16: 6, 32: 9, 64: 12, 128: 15, 256: 18, 512: 21}


def test_capabilities(golden) -> None:
    caps = SPEC.capabilities(SPEC.params_from_state(dict(golden[0].net.state_dict())))
    assert caps.purpose == "face-restorer" and caps.input_size == 512 and caps.scale == 1
    assert caps.fidelity_weight and not caps.seed and caps.mask_blocks == 0 and not caps.tiles
    assert caps.precisions[0] == "fp32" and "fp16" not in caps.precisions


@pytest.mark.slow
def test_fidelity_moves_between_its_limits(golden, outputs) -> None:
    """w = 0 is the codebook-only path (no fusion block runs), w = 1 the most faithful;
    values between lie between them, and the distance from w = 0 grows with w."""
    net, ref = golden
    outs = outputs
    assert torch.equal(outs[0.0], outs[-1.0])
    far = (outs[1.0] - outs[0.0]).abs().mean().item()
    dist = [(outs[w] - outs[0.0]).abs().mean().item() for w in (0.25, 0.5, 0.75, 1.0)]
    assert all(a < b for a, b in zip(dist, dist[1:], strict=False)), dist
    mid = outs[0.5]
    assert (mid - outs[0.0]).abs().mean().item() < far and (mid - outs[1.0]).abs().mean().item() < far
    with pytest.raises(ValueError, match="fidelity"):
        net.net(torch.zeros(1, 3, 512, 512), fidelity=1.5)
