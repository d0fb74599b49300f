"""Panini-Net: official names load strict, DAFI limits (paper Eq. 12/13), mask bias."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_stylegan2 import mmagic_stylegan2_shapes, random_state, randomise

from kintsugi import load_model
from kintsugi.archs import gan_layouts as L
from kintsugi.archs.panini import SPEC, Panini

torch.set_num_threads(2)
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
GEN = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "max_channels": 8, "growth": 8, "lce_channels": 8}
TINY = {
    "sr": {**GEN, "in_size": 16, "rrdb_channels": 8, "num_rrdbs": 1, "cbam_reduction": 2, "cond_dim": 16},
    "mfr": {**GEN, "in_size": 32, "rrdb_channels": 8, "num_rrdbs": 1, "head_channels": (8,),
            "dre_channels": (8, 8, 16)},
}


def tiny(variant: str, seed: int = 0) -> Panini:
    torch.manual_seed(seed)
    return randomise(Panini(variant, **TINY[variant]), seed, gentle=True)


def official_panini_shapes(variant: str, in_size: int, out_size: int, style: int, gen_ch: list[int],
                           rrdb: int, nrrdb: int, growth: int, red: int, head: tuple[int, ...],
                           lce: int, dre: tuple[int, int, int], cond: int, n_mlp: int) -> dict[str, tuple]:
    """The official checkpoint's names/shapes (restorer prefix ``generator.``), written from
    the authors' model code, independently of kintsugi.archs.gan_layouts."""
    s: dict[str, tuple] = {}

    def conv(name: str, cin: int, cout: int, k: int = 3, bias: bool = True) -> None:
        s[f"{name}.weight"] = (cout, cin, k, k)
        if bias:
            s[f"{name}.bias"] = (cout,)

    def bn(name: str, c: int) -> None:
        for p in ("weight", "bias", "running_mean", "running_var"):
            s[f"{name}.{p}"] = (c,)
        s[f"{name}.num_batches_tracked"] = ()

    def linear(name: str, cin: int, cout: int) -> None:
        s[f"{name}.weight"], s[f"{name}.bias"] = (cout, cin), (cout,)

    top = in_size // 2 ** len(head)
    slots = int(math.log2(top)) - 1
    conv("encoder.0.0.conv_first", 3, rrdb)
    for b in range(nrrdb):
        for d in (1, 2, 3):
            for i in range(5):
                conv(f"encoder.0.0.body.{b}.rdb{d}.conv{i + 1}", rrdb + i * growth, rrdb if i == 4 else growth)
    conv("encoder.0.0.conv_body", rrdb, rrdb)
    conv("encoder.0.1.fea_preprocess", rrdb, rrdb)
    linear("encoder.0.1.ChannelGate.mlp.1", rrdb, rrdb // red)
    linear("encoder.0.1.ChannelGate.mlp.3", rrdb // red, rrdb)
    conv("encoder.0.1.SpatialGate.spatial.conv", 2, 1, 7, bias=False)
    bn("encoder.0.1.SpatialGate.spatial.bn", 1)
    widths = [rrdb, *head, gen_ch[0]]
    for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        conv(f"encoder.0.{2 + 2 * i}", cin, cout)
    c = gen_ch[0]
    for i in range(1, slots):
        conv(f"encoder.{i}.0", c, c)
    conv(f"encoder.{slots}.0", c, lce)
    linear(f"encoder.{slots}.3", 16 * lce, (2 * int(math.log2(out_size)) - 2) * style)
    linear("AFS_maskGen.mapping.0", cond, cond)
    linear("AFS_maskGen.mapping.2", cond, slots * 2 * c)
    for k in range(slots):
        conv(f"fusion_out.{k}", c, c)
    if variant == "mfr":
        a, b2, d = dre
        for idx, (cin, cout) in zip(range(0, 18, 3), ((3, a), (a, a), (a, b2), (b2, b2), (b2, d), (d, d)), strict=True):
            conv(f"deg_encoder.E.{idx}", cin, cout)
            bn(f"deg_encoder.E.{idx + 1}", cout)
        linear("deg_encoder.mlp.0", d, d)
        linear("deg_encoder.mlp.2", d, d)
    else:
        s["choice_vector"] = (1, cond)
    s = {"generator." + k: v for k, v in s.items()}
    bank = mmagic_stylegan2_shapes(out_size, style, gen_ch, n_mlp)
    s.update({"generator.generator." + k: v for k, v in bank.items()})
    return s


def tiny_official(variant: str) -> dict[str, tuple]:
    t = TINY[variant]
    return official_panini_shapes(
        variant, t["in_size"], 64, 16, [8] * 5, 8, 1, 8, t.get("cbam_reduction", 2), t.get("head_channels", ()),
        8, t.get("dre_channels", (0, 0, 0)), t.get("dre_channels", (0, 0, 16))[2] if variant == "mfr" else 16, 2)


@pytest.mark.parametrize(("variant", "count"), [("mfr", 94_339_836), ("sr", 108_847_096)])
def test_full_size_parameters_and_official_names(variant: str, count: int) -> None:
    with torch.device("meta"):
        net = Panini(variant)
    assert sum(p.numel() for p in net.parameters()) == count
    assert (net.in_size, net.out_size, net.scale, net.slots) == ((512, 1024, 2, 5) if variant == "mfr"
                                                                 else (64, 1024, 16, 5))
    official = official_panini_shapes(
        variant, net.in_size, 1024, 512, [512] * 5 + [256, 128, 64, 32],
        *((8, 2, 32, 2, (32, 64, 128)) if variant == "mfr" else (64, 23, 32, 8, ())),
        256, (64, 128, 256), 256, 8)
    exported = {k: tuple(v.shape) for k, v in L.gan_prior_from_canonical(net.state_dict()).items()}
    assert exported == official


@pytest.mark.parametrize("variant", ["mfr", "sr"])
def test_official_state_dict_loads_strict(variant: str) -> None:
    state = random_state(tiny_official(variant))
    state["discriminator.conv.weight"] = torch.zeros(1)  # restorer checkpoints carry it; unused
    assert SPEC.detect(state)
    params = SPEC.params_from_state(state)
    assert params["variant"] == variant and params["in_size"] == TINY[variant]["in_size"]
    model = SPEC.build(**params)
    model.load_state_dict(state, strict=True)
    net = model.net.eval()
    torch.testing.assert_close(net.fusion_out[2].weight, state["generator.fusion_out.2.weight"])
    x = torch.rand(1, 3, net.in_size, net.in_size)
    with torch.no_grad():
        y = model.eval()(x)
    assert y.shape == (1, 3, 64, 64) and torch.isfinite(y).all()
    broken = {k: v for k, v in state.items() if "fusion_out.1" not in k}
    with pytest.raises(RuntimeError, match="Missing"):
        SPEC.build(**params).load_state_dict(broken)


def reference_forward(net: Panini, x: torch.Tensor, mode: str) -> torch.Tensor:
    """Panini written directly from the paper: mode "official" = Eq. 7 with the softmax
    masks, "ife" = F_GPB dropped (F_DAFI = F_IFE), "gpb" = F_IFE dropped (F_DAFI = F_GPB)."""
    masks = torch.softmax(net.AFS_maskGen(net.condition(x)), dim=2)
    feats, feat = {}, x
    for block in net.encoder:
        feat = block(feat)
        if feat.ndim == 4:
            feats[feat.shape[-1]] = feat
    w = feat.view(x.shape[0], -1, net.style_dim)
    g = net.generator
    noise = g.stored_noises()
    out = g.conv1(g.const.expand(x.shape[0], -1, -1, -1), w[:, 0], noise[0])
    skip = g.to_rgb1(out, w[:, 1])
    for k in range(len(g.to_rgbs)):
        r = out.shape[-1]
        if r <= net.fuse_top:
            f_ife = net.fusion_out[k](feats[r])
            if mode == "official":
                out = masks[:, k, 0, :, None, None] * out + masks[:, k, 1, :, None, None] * f_ife
            elif mode == "ife":
                out = f_ife
        out = g.convs[2 * k](out, w[:, 2 * k + 1], noise[2 * k + 1])
        out = g.convs[2 * k + 1](out, w[:, 2 * k + 2], noise[2 * k + 2])
        skip = g.to_rgbs[k](out, w[:, 2 * k + 3], skip)
    return skip


@pytest.mark.parametrize("variant", ["mfr", "sr"])
def test_bias_limits_match_the_papers_ablations(variant: str) -> None:
    net = tiny(variant)
    x = torch.rand(1, 3, net.in_size, net.in_size) * 2 - 1
    with torch.no_grad():
        plain = net(x)
        assert torch.equal(plain, net(x, bias=0.0, bias_blocks={0: 0.0, 2: 0.0}))  # bitwise
        ref = {m: reference_forward(net, x, m) for m in ("official", "ife", "gpb")}
        torch.testing.assert_close(plain, ref["official"], atol=1e-6, rtol=0)
        torch.testing.assert_close(net(x, bias=-1.0), ref["ife"], atol=1e-5, rtol=0)
        torch.testing.assert_close(net(x, bias=1.0), ref["gpb"], atol=1e-5, rtol=0)
    # the three are really different networks
    assert (ref["ife"] - ref["gpb"]).abs().max() > 1e-2
    assert (ref["official"] - ref["gpb"]).abs().max() > 1e-3


@pytest.mark.parametrize("space", ["mask", "logit"])
def test_mean_mask_rises_with_bias(space: str) -> None:
    net = tiny("sr")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    means = []
    with torch.no_grad():
        for b in (-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0):
            _, masks = net(x, bias=b, bias_space=space, return_masks=True)
            means.append(torch.cat([m.flatten() for m in masks]).mean().item())
    assert all(a < b for a, b in zip(means, means[1:], strict=False)), means
    if space == "mask":
        assert means[0] == 0.0 and means[-1] == 1.0


def test_logit_space_without_bias_equals_softmax_masks() -> None:
    net = tiny("sr")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        _, plain = net(x, return_masks=True)
        _, tiny_b = net(x, bias=1e-30, bias_space="logit", return_masks=True)
    for a, b in zip(plain, tiny_b, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_per_block_bias_changes_only_that_block() -> None:
    net = tiny("mfr")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out0, plain = net(x, return_masks=True)
        out1, biased = net(x, bias_blocks={1: 0.3}, return_masks=True)
    assert torch.equal(plain[0], biased[0]) and torch.equal(plain[2], biased[2])
    assert not torch.equal(plain[1], biased[1])
    assert (out0 - out1).abs().max() > 1e-4


def test_spatial_bias_map_is_local() -> None:
    net = tiny("sr")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    bias_map = torch.zeros(1, 1, 64, 64)
    bias_map[..., :, :16] = 1.0  # left quarter
    with torch.no_grad():
        plain = net(x)
        top_only = net(x, bias_map=bias_map, bias_map_blocks=[net.slots - 1])
        everywhere = net(x, bias_map=bias_map)
    diff = (top_only - plain).abs()
    # slot 16x16: columns 0..3 biased; the generator's later layers spread it by a few pixels
    assert diff[..., :16].mean() > 1e-3
    # beyond the receptive field only float rounding remains (blocked/Winograd convs)
    assert diff[..., 36:].max() < 1e-5
    # at all slots, the 4x4 and 8x8 ones spread it further: still mostly local
    diff_all = (everywhere - plain).abs()
    assert diff_all[..., :16].mean() > 3 * diff_all[..., 48:].mean()


def test_input_size_and_options_are_checked() -> None:
    net = tiny("sr")
    with pytest.raises(ValueError, match="16x16"):
        net(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="bias_space"):
        net(torch.rand(1, 3, 16, 16), bias=0.1, bias_space="bogus")
    with pytest.raises(ValueError, match="bias_map"):
        net(torch.rand(1, 3, 16, 16), bias_map=torch.zeros(1, 3, 16, 16))


@pytest.mark.parametrize(("variant", "scale"), [("mfr", 2), ("sr", 4)])
def test_matches_the_official_code(variant: str, scale: int) -> None:
    """Golden outputs of the authors' Panini_MFR / Panini_SR (tools/make_panini_golden.py):
    a random official checkpoint (restorer keys, mmagic bank, BatchNorm statistics) loaded
    through the engine must give the official output on the astronaut's face."""
    path = GOLDEN / f"panini_official_{variant}.safetensors"
    golden = np.load(GOLDEN / f"panini_official_{variant}.npz")
    x, y_official = torch.from_numpy(golden["x"]), torch.from_numpy(golden["y"])
    model = load_model(path, device="cpu")
    assert model.info.arch == "panini" and model.scale == scale
    assert model.info.params["variant"] == variant
    with torch.no_grad():
        y = model.net.eval()(x)
        raw = model.net.net(x * 2 - 1, bias=1.0)
    torch.testing.assert_close(y, (y_official + 1) / 2, atol=1e-5, rtol=0)
    # the fixture is sensitive to the DAFI masks: the GAN-prior-only limit is far from it
    assert (raw - y_official).abs().max() > 0.1
