"""Pro-PULSE (reconstruction from the paper): G_ds side outputs, E_W, E_W+ progressive codes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kintsugi.archs import arch_by_id
from kintsugi.archs.propulse import ProPULSE, head_layers, side_output_sizes

torch.set_num_threads(2)
TINY = {"in_size": 8, "out_size": 64, "style_dim": 16, "n_mlp": 2, "channels": [16] * 5,
        "side_channels": (8, 4), "enc_channels": 8, "enc_groups": 1, "rcab_reduction": 4}


@pytest.fixture
def net() -> ProPULSE:
    torch.manual_seed(0)
    return ProPULSE(**TINY).eval()


def test_inference_returns_the_final_image_and_a_side_output_per_block(net):
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    final, sides = net(x, return_sides=True)
    assert final.shape == (2, 3, 64, 64)
    assert [s.shape[-1] for s in sides] == [32] == side_output_sizes(TINY)
    assert torch.equal(net(x), final)


def test_paper_size_has_side_outputs_from_32_to_512_and_the_papers_branch_widths():
    assert side_output_sizes({}) == [32, 64, 128, 256, 512]
    branch = ProPULSE(in_size=16, out_size=64, style_dim=16, n_mlp=1, channels=[16] * 5,
                      enc_channels=8, enc_groups=1).sides[0]
    convs = [m for m in branch if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 64, 3]
    assert all(c.kernel_size == (1, 1) for c in convs)


def test_base_encoder_head_is_the_papers_three_convs_for_a_16px_input():
    head = [m for m in head_layers(32, 64, 512) if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size[0], c.stride[0], c.out_channels) for c in head] == [(4, 4, 512), (4, 4, 512), (2, 1, 512)]
    w = ProPULSE(in_size=16, out_size=64, style_dim=16, n_mlp=1, channels=[16] * 5, enc_channels=8,
                 enc_groups=1).encoder_w(torch.rand(1, 3, 16, 16))
    assert w.shape == (1, 16)


def test_progressive_codes_replace_the_repeated_w_from_coarse_to_fine(net):
    x = torch.rand(1, 3, 8, 8)
    w = net.encoder_w(x)[0]
    stage0 = net.latent(x, stage=0)[0]
    assert torch.allclose(stage0, w.expand_as(stage0))
    stage1 = net.latent(x, stage=1)[0]  # 4..32 px from E_W+ (8 codes), 64 px still w
    assert torch.allclose(stage1[8:], w.expand(2, -1))
    assert not torch.allclose(stage1[:8], w.expand(8, -1))
    assert torch.allclose(stage1[:8], stage1[0].expand(8, -1))  # one code per scale
    stage2 = net.latent(x, stage=2)[0]  # everything from E_W+
    assert not torch.allclose(stage2[8:], w.expand(2, -1))
    assert torch.allclose(stage2[:8], stage1[:8])
    assert net.num_stages == 2


def test_stage_buffer_picks_the_inference_stage(net):
    x = torch.rand(1, 3, 8, 8)
    net.stage.fill_(0)
    at0 = net(x)
    net.stage.fill_(2)
    assert not torch.allclose(net(x), at0)
    assert torch.allclose(net(x), net(x, stage=2))


def test_paper_size_encoder_sizes():
    net = ProPULSE()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert net.encoder_wplus.codes_per_scale == (8, 2, 2, 2, 2, 2)
    assert count(net.encoder_w) == pytest.approx(6.4e6, rel=0.01)
    assert count(net.encoder_wplus) == pytest.approx(36.1e6, rel=0.01)
    assert count(net.sides) == pytest.approx(0.23e6, rel=0.01)


def test_the_prior_is_frozen_and_the_branches_and_encoders_train(net):
    assert not any(p.requires_grad for p in net.generator.parameters())
    for part in (net.sides, net.encoder_w, net.encoder_wplus):
        assert all(p.requires_grad for p in part.parameters())


def test_side_outputs_follow_the_generator_from_z(net):
    z = torch.randn(2, 16)
    final, sides = net(z, return_sides=True, from_z=True)
    assert final.shape == (2, 3, 64, 64) and sides[0].shape == (2, 3, 32, 32)


def test_capabilities_describe_a_16_to_1024_face_restorer():
    caps = arch_by_id("propulse").capabilities({})
    assert (caps.purpose, caps.input_size, caps.scale, caps.tiles) == ("face-restorer", 16, 64, False)
    assert caps.side_outputs  # what the window's side strip and --side-outputs read
    assert not arch_by_id("rrdbnet").capabilities({"scale": 4}).side_outputs
    assert arch_by_id("propulse").capabilities(TINY).scale == 8
