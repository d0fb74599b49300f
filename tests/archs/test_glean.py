"""GLEAN: official (mmediting/mmagic) names load strict, sizes, forward per the paper."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_stylegan2 import mmagic_stylegan2_shapes, random_state, randomise

from kintsugi.archs import detect_arch, panini, stylegan2
from kintsugi.archs import gan_layouts as L
from kintsugi.archs.glean import GLEAN, SPEC

torch.set_num_threads(2)
OFFICIAL_GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "glean_official_16to64.npz"
TINY = {"style_dim": 16, "n_mlp": 2, "max_channels": 8, "rrdb_channels": 8, "num_rrdbs": 1, "growth": 8,
        "decoder_channels": 8}


def official_glean_shapes(in_size: int, out_size: int, style: int, ch: dict[int, int], rrdb: int,
                          nrrdb: int, growth: int, dec: int, n_mlp: int) -> dict[str, tuple]:
    """Names/shapes of mmediting's GLEANStyleGANv2 restorer checkpoint, written from its
    module structure (independently of kintsugi.archs.gan_layouts)."""
    s: dict[str, tuple] = {}

    def conv(name: str, cin: int, cout: int) -> None:
        s[f"{name}.weight"], s[f"{name}.bias"] = (cout, cin, 3, 3), (cout,)

    conv("encoder.0.0.conv_first", 3, rrdb)
    for b in range(nrrdb):
        for d in (1, 2, 3):
            for i in range(5):
                conv(f"encoder.0.0.body.{b}.rdb{d}.conv{i + 1}", rrdb + i * growth, rrdb if i == 4 else growth)
    conv("encoder.0.0.conv_body", rrdb, rrdb)
    conv("encoder.0.1", rrdb, ch[in_size])
    enc_res = [2**i for i in range(int(math.log2(in_size)), 1, -1)]
    for idx, r in enumerate(enc_res, start=1):
        if r > 4:
            conv(f"encoder.{idx}.0", ch[r], ch[r // 2])
            conv(f"encoder.{idx}.2", ch[r // 2], ch[r // 2])
        else:
            conv(f"encoder.{idx}.0", ch[4], ch[4])
            s[f"encoder.{idx}.3.weight"] = ((2 * int(math.log2(out_size)) - 2) * style, 16 * ch[4])
            s[f"encoder.{idx}.3.bias"] = ((2 * int(math.log2(out_size)) - 2) * style,)
    for i, r in enumerate(enc_res[::-1]):
        conv(f"fusion_out.{i}", 2 * ch[r], ch[r])
        conv(f"fusion_skip.{i}", ch[r] + 3, 3)
    r, i = in_size, 0
    while r < out_size:
        conv(f"decoder.{i}.upsample_conv", ch[r] if r == in_size else 2 * ch[r], 4 * ch[2 * r])
        r, i = 2 * r, i + 1
    conv(f"decoder.{i}.0", 2 * ch[out_size], dec)
    conv(f"decoder.{i}.2", dec, 3)
    s = {"generator." + k: v for k, v in s.items()}
    chans = [ch[4 * 2**k] for k in range(int(math.log2(out_size)) - 1)]
    bank = mmagic_stylegan2_shapes(out_size, style, chans, n_mlp)
    s.update({"generator.generator." + k: v for k, v in bank.items()})
    return s


def reference_forward(net: GLEAN, x: torch.Tensor) -> torch.Tensor:
    """GLEAN from the paper/METHODS.md: encoder features E_r and w+; the bank fuses
    out = conv(cat[out, E_r]), skip = conv(cat[skip, E_r]) at r <= in; the decoder
    upsamples E_in with pixel shuffle, concatenating the bank's features G_r for r > in."""
    enc, feat = {}, x
    for block in net.encoder:
        feat = block(feat)
        if feat.ndim == 4:
            enc[feat.shape[-1]] = feat
    w = feat.view(x.shape[0], -1, net.style_dim)
    g = net.generator
    noise = g.stored_noises()
    out = g.conv1(g.const.expand(x.shape[0], -1, -1, -1), w[:, 0], noise[0])
    skip = g.to_rgb1(out, w[:, 1])
    bank = {}
    for k in range(len(g.to_rgbs)):
        r = out.shape[-1]
        if r <= net.in_size:
            out = net.fusion_out[k](torch.cat([out, enc[r]], 1))
            skip = net.fusion_skip[k](torch.cat([skip, enc[r]], 1))
        out = g.convs[2 * k](out, w[:, 2 * k + 1], noise[2 * k + 1])
        out = g.convs[2 * k + 1](out, w[:, 2 * k + 2], noise[2 * k + 2])
        skip = g.to_rgbs[k](out, w[:, 2 * k + 3], skip)
        bank[out.shape[-1]] = out
    h = enc[net.in_size]
    for i, block in enumerate(net.decoder):
        if i > 0:
            h = torch.cat([h, bank[h.shape[-1]]], 1)
        h = F.pixel_shuffle(block.upsample_conv(h), 2) if hasattr(block, "upsample_conv") else block(h)
    return h


@pytest.mark.parametrize(("in_size", "out_size", "count"), [
    (64, 1024, 175_516_723), (128, 1024, 174_196_615), (32, 256, 162_479_861), (16, 256, 171_903_649)])
def test_official_configs_parameters_and_names(in_size: int, out_size: int, count: int) -> None:
    with torch.device("meta"):
        net = GLEAN(in_size, out_size)
    assert sum(p.numel() for p in net.parameters()) == count
    assert net.scale == out_size // in_size
    official = official_glean_shapes(in_size, out_size, 512, net.generator.channels, 64, 23, 32, 64, 8)
    exported = {k: tuple(v.shape) for k, v in L.gan_prior_from_canonical(net.state_dict()).items()}
    assert exported == official


@pytest.mark.parametrize(("in_size", "out_size"), [(16, 64), (8, 64)])
def test_official_state_dict_loads_strict_and_runs(in_size: int, out_size: int) -> None:
    ch = stylegan2.default_channels(out_size, 2, 8)
    state = random_state(official_glean_shapes(
        in_size, out_size, 16, {4 * 2**i: c for i, c in enumerate(ch)}, 8, 1, 8, 8, 2))
    state["discriminator.conv.weight"] = torch.zeros(1)
    assert SPEC.detect(state)
    assert not panini.SPEC.detect(state) and not stylegan2.SPEC.detect(state)
    params = SPEC.params_from_state(state)
    assert (params["in_size"], params["out_size"], params["scale"]) == (in_size, out_size, out_size // in_size)
    model = SPEC.build(**params)
    model.load_state_dict(state, strict=True)
    torch.testing.assert_close(model.net.decoder[0].upsample_conv.weight,
                               state["generator.decoder.0.upsample_conv.weight"])
    with torch.no_grad():
        y = model.eval()(torch.rand(2, 3, in_size, in_size))
    assert y.shape == (2, 3, out_size, out_size) and torch.isfinite(y).all()
    with pytest.raises(RuntimeError, match="Unexpected"):
        SPEC.build(**params).load_state_dict({**state, "generator.decoder.9.weight": torch.zeros(1)})


def test_forward_follows_the_paper() -> None:
    torch.manual_seed(0)
    net = randomise(GLEAN(16, 64, **TINY), gentle=True)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        y = net(x)
        torch.testing.assert_close(y, reference_forward(net, x), atol=1e-6, rtol=0)
        # the latent bank matters: another bank gives another image
        net.generator.convs[-1].conv.weight.mul_(-1)
        assert (net(x) - y).abs().max() > 1e-3
    with pytest.raises(ValueError, match="16x16"):
        net(torch.rand(1, 3, 32, 32))


def official_golden_state(fx: np.lib.npyio.NpzFile) -> dict[str, torch.Tensor]:
    """The official module's random state dict, regenerated as tools/make_glean_golden.py
    made it: N(0, 1) from numpy's PCG64 seeded with crc32(name), times scale, plus offset;
    FIR kernel buffers stored literally. Wrapped as an mmediting restorer checkpoint."""
    state: dict[str, torch.Tensor] = {}
    dims = iter(fx["dims"].tolist())
    for name, ndim, scale, offset in zip(fx["names"], fx["ndims"], fx["scales"], fx["offsets"], strict=True):
        shape = tuple(next(dims) for _ in range(int(ndim)))
        rng = np.random.default_rng(zlib.crc32(str(name).encode()))
        value = rng.standard_normal(shape, dtype=np.float32) * np.float32(scale) + np.float32(offset)
        state[f"generator.{name}"] = torch.from_numpy(value)
    for key in fx.files:
        if key.startswith("literal:"):
            state["generator." + key[len("literal:"):]] = torch.from_numpy(fx[key])
    return state


def test_matches_the_official_mmagic_glean() -> None:
    """Golden output of mmagic's GLEANStyleGANv2 (in 16 -> out 64, random weights in the
    official key layout, skimage astronaut face), from tools/make_glean_golden.py."""
    with np.load(OFFICIAL_GOLDEN, allow_pickle=False) as fx:
        state = official_golden_state(fx)
        x01 = torch.from_numpy(fx["input"])
        official = torch.from_numpy(fx["output"])
    assert official.std() > 0.1  # a non-trivial image, not a constant
    assert detect_arch(state) is SPEC
    params = SPEC.params_from_state(state)
    assert (params["in_size"], params["out_size"], params["scale"]) == (16, 64, 4)
    assert params["channels"] == (512, 512, 512, 512, 256)
    model = SPEC.build(**params).eval()
    model.load_state_dict(state, strict=True)
    del state
    with torch.no_grad():
        y01 = model(x01)  # the engine's [0, 1] contract; the official network works in [-1, 1]
    torch.testing.assert_close(y01 * 2 - 1, official, atol=2e-5, rtol=0)
