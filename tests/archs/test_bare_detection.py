"""Bare weights (no Kintsugi metadata) are recognised by their key names, one architecture
each: Pro-PULSE and LAREN from their distinctive parts, and no detector claims another's
weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from test_stylegan2 import randomise

import kintsugi
from kintsugi.archs import arch_by_id, architectures, detect_arch

torch.set_num_threads(1)
G = {"style_dim": 16, "n_mlp": 2, "channels": [16, 16, 16, 16, 8]}
TRUNK = {"rrdb_channels": 8, "num_rrdbs": 1, "growth": 4, "decoder_channels": 8}
TINY = {
    "propulse": {"in_size": 8, "out_size": 64, **G, "side_min": 16, "side_channels": [8, 4], "enc_channels": 8,
                 "enc_groups": 2, "rcab_reduction": 4},
    "laren": {"in_size": 16, "out_size": 64, **G, **TRUNK, "latent_dim": 24, "gdm_nodes": 2, "gdm_node_dim": 8,
              "gdm_filters": 3, "cgm_node_dim": 4, "cgm_code_dim": 8, "cgm_max_map": 8},
    "glean": {"in_size": 16, "out_size": 64, **G, **TRUNK},
    "panini": {"variant": "mfr", "in_size": 32, "out_size": 64, "style_dim": 16, "n_mlp": 2, "max_channels": 8,
               "growth": 8, "lce_channels": 8, "rrdb_channels": 8, "num_rrdbs": 1, "head_channels": (8,),
               "dre_channels": (8, 8, 16)},
    "stylegan2": {"out_size": 32, "style_dim": 16, "n_mlp": 2, "max_channels": 8},
    "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 4},
    "rrdn": {"C": 2, "D": 1, "G": 8, "G0": 8, "T": 1, "scale": 2},
}


def tiny_state(arch: str, wrapped: bool = True) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    net = randomise(arch_by_id(arch).build(**TINY[arch]), gentle=True)
    if arch == "propulse":
        net.net.stage.fill_(2)  # how far progressive training went: a buffer the file keeps
    state = net.state_dict()
    if not wrapped and all(k.startswith("net.") for k in state):
        state = {k[4:]: v for k, v in state.items()}  # the raw [-1, 1] network's own names
    return {k: v.contiguous() for k, v in state.items()}


@pytest.mark.parametrize("arch", list(TINY))
@pytest.mark.parametrize("wrapped", [True, False])
def test_exactly_one_detector_claims_each_architectures_weights(arch, wrapped):
    state = tiny_state(arch, wrapped)
    claimed = [spec.id for spec in architectures() if spec.detect(state)]
    # StyleGAN2's detector finds the generator inside any GAN-prior network; it is tried
    # last (the registry's order), so it is the fallback, never the answer, for these.
    assert claimed[0] == arch and set(claimed[1:]) <= {"stylegan2"}, claimed
    found = detect_arch(state)
    assert found is not None and found.id == arch


@pytest.mark.parametrize("arch", ["propulse", "laren"])
@pytest.mark.parametrize("wrapped", [True, False])
def test_bare_safetensors_load_through_load_model(arch, wrapped, tmp_path: Path):
    state = tiny_state(arch, wrapped)
    path = tmp_path / f"{arch}.safetensors"
    save_file(state, str(path))  # no metadata: only the key names and shapes say what it is
    spec = detect_arch(state)
    assert spec is not None and spec.id == arch
    params = spec.params_from_state(state)
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in TINY[arch].items()}
    assert {k: params[k] for k in expected} == expected
    model = kintsugi.load_model(path, device="cpu", precision="fp32")
    assert model.info.arch == arch and model.caps.purpose == "face-restorer"
    assert (model.caps.input_size, model.caps.scale) == (TINY[arch]["in_size"], 64 // TINY[arch]["in_size"])
    torch.manual_seed(0)
    reference = randomise(arch_by_id(arch).build(**TINY[arch]), gentle=True).eval()
    reference.load_state_dict(state)
    x = torch.rand(1, 3, TINY[arch]["in_size"], TINY[arch]["in_size"])
    with torch.no_grad():
        torch.testing.assert_close(model.net(x), reference(x))
