"""GFPGAN v1.3/v1.4 ("clean"): parity with the authors' code, strict official key names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from kintsugi.archs import arch_by_id, detect_arch
from kintsugi.archs.gfpgan import GFPGAN, SPEC, gfpgan_from_canonical

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"


def _golden() -> tuple[dict[str, torch.Tensor], np.lib.npyio.NpzFile]:
    return load_file(str(GOLDEN / "gfpgan_spandrel.safetensors")), np.load(GOLDEN / "gfpgan_spandrel.npz")


def test_parity_with_spandrel() -> None:
    """Same output as spandrel 0.4.2's GFPGANv1Clean on seeded random weights
    (tools/make_gfpgan_golden.py), loaded strictly from the official key names."""
    state, ref = _golden()
    spec = detect_arch(state)
    assert spec is SPEC
    params = spec.params_from_state(state)
    net = spec.build(**params)
    net.load_state_dict(state, strict=True)
    with torch.no_grad():
        y = net.net(torch.from_numpy(ref["x"]) * 2 - 1)
    assert np.abs(y.numpy() - ref["y"]).max() < 1e-5 * max(1.0, float(np.abs(ref["y"]).max()))
    # The engine-facing wrapper maps [0, 1] in and out.
    with torch.no_grad():
        y01 = net(torch.from_numpy(ref["x"]))
    np.testing.assert_allclose(y01.numpy(), (ref["y"] + 1) / 2, atol=1e-5)


def test_official_v13_v14_configuration_has_exactly_the_official_keys() -> None:
    """The full 512 px network's names and shapes equal the official module's (written
    from it by the golden script), so GFPGANv1.3.pth / v1.4.pth load with strict=True."""
    official = json.loads((GOLDEN / "gfpgan_official_keys.json").read_text())
    with torch.device("meta"):
        net = GFPGAN(out_size=512)
    mine = {k: list(v.shape) for k, v in gfpgan_from_canonical(net.state_dict()).items()}
    assert mine == official
    meta_state = {k: torch.empty(v) for k, v in official.items()}
    assert SPEC.detect(meta_state)
    params = SPEC.params_from_state(meta_state)
    assert params["out_size"] == 512 and params["style_dim"] == 512 and params["n_mlp"] == 8
    assert params["sft_half"] is True


def test_missing_or_surplus_tensors_are_errors() -> None:
    state, _ref = _golden()
    params = SPEC.params_from_state(state)
    broken = dict(state)
    broken.pop("condition_shift.0.0.bias")
    with pytest.raises(RuntimeError, match="condition_shift.0.0.bias"):
        SPEC.build(**params).load_state_dict(broken, strict=True)
    extra = {**state, "stylegan_decoder.unexpected": torch.zeros(1)}
    with pytest.raises(RuntimeError, match="unexpected"):
        SPEC.build(**params).load_state_dict(extra, strict=True)


def test_capabilities() -> None:
    state, _ref = _golden()
    caps = arch_by_id("gfpgan").capabilities(SPEC.params_from_state(state))
    assert caps.purpose == "face-restorer"
    assert (caps.input_size, caps.scale, caps.output_size) == (64, 1, 64)
    assert caps.seed and not caps.fidelity_weight and not caps.tiles and caps.mask_blocks == 0
    assert caps.precisions[0] == "fp32" and "fp16" not in caps.precisions
    full = SPEC.capabilities({"out_size": 512})
    assert full.input_size == 512


def test_noise_changes_the_output_and_stored_noise_is_deterministic() -> None:
    state, ref = _golden()
    net = SPEC.build(**SPEC.params_from_state(state))
    net.load_state_dict(state, strict=True)
    x = torch.from_numpy(ref["x"]) * 2 - 1
    gen = net.net.stylegan_decoder
    with torch.no_grad():
        a, b = net.net(x), net.net(x)
        saved = gen.stored_noises()
        for j, noise in enumerate(gen.seeded_noises(5)):
            setattr(gen, f"noise_{j}", noise)
        c = net.net(x)
        for j, noise in enumerate(saved):
            setattr(gen, f"noise_{j}", noise)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3
