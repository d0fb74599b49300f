"""LAREN (reconstruction): GDM codes per layer, CGM codes replacing noise, parameter budget."""

from __future__ import annotations

import pytest
import torch

from kintsugi.archs import arch_by_id
from kintsugi.archs.laren import CGM, GDM, LAREN
from kintsugi.archs.stylegan2 import noise_resolution

torch.set_num_threads(2)
TINY = {"in_size": 16, "out_size": 64, "style_dim": 32, "n_mlp": 2, "channels": [16] * 5, "rrdb_channels": 8,
        "num_rrdbs": 1, "growth": 4, "decoder_channels": 8, "gdm_nodes": 4, "gdm_node_dim": 8,
        "cgm_node_dim": 4, "cgm_code_dim": 8, "cgm_max_map": 8}


@pytest.fixture
def net() -> LAREN:
    torch.manual_seed(0)
    return LAREN(**TINY).eval()


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_budget_at_the_papers_size():
    """Paper Table III: +GDM 0.42M, +CGM 11M. Ours (module docstring says why): 0.54M, 9.8M."""
    gdm = GDM(512, 18)
    cgm = CGM(512, [noise_resolution(j) for j in range(17)])
    assert count(gdm) == pytest.approx(0.54e6, rel=0.02)
    assert count(cgm) == pytest.approx(9.8e6, rel=0.02)
    assert 0.3e6 < count(gdm) < 0.6e6 and 8e6 < count(cgm) < 12e6


def test_gdm_gives_one_code_per_layer_from_attribute_specific_relations():
    gdm = GDM(32, levels=6, nodes=4, node_dim=8)
    z = torch.randn(3, 32)
    codes = gdm(z)
    assert codes.shape == (3, 6, 32)
    s = gdm.subject(z).view(3, 4, 8)
    o = gdm.object(z).view(3, 4, 8)
    rel = gdm.relation_matrices(s, o)
    assert rel.shape == (3, 6, 4, 4)
    sums = rel.sum(-1)
    assert torch.all(((sums - 1).abs() < 1e-5) | (sums == 0))
    assert not torch.allclose(codes[:, 0], codes[:, 1])  # levels differ


def test_cgm_noise_maps_have_each_layers_noise_shape():
    cgm = CGM(32, [4, 8, 8, 16], node_dim=4, out_dim=8, max_map=8)
    maps = cgm(torch.randn(2, 4, 32))
    assert [tuple(m.shape) for m in maps] == [(2, 1, 4, 4), (2, 1, 8, 8), (2, 1, 8, 8), (2, 1, 16, 16)]


def test_cgm_codes_replace_stylegan2_noise(net):
    with torch.no_grad():
        for name, param in net.generator.named_parameters():
            if name.endswith("noise_strength"):
                param.fill_(0.5)  # a trained prior's noise strengths are non-zero
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    before = net(x)
    for buffer in net.generator.stored_noises():
        buffer.normal_()  # the stored stochastic noise is not used
    assert torch.allclose(net(x), before)
    with torch.no_grad():
        net.cgm.project[-1].bias.add_(1.0)  # the image-specific codes are
    assert not torch.allclose(net(x), before)


def test_forward_shape_and_frozen_prior(net):
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 3, 64, 64)
    assert not any(p.requires_grad for p in net.generator.parameters())
    assert all(p.requires_grad for p in net.gdm.parameters()) and all(p.requires_grad for p in net.cgm.parameters())


def test_capabilities():
    caps = arch_by_id("laren").capabilities(TINY)
    assert (caps.purpose, caps.input_size, caps.scale, caps.seed) == ("face-restorer", 16, 4, False)
