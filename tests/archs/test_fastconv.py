"""The fused oneDNN conv path equals plain F.conv2d, alone and inside a whole RRDBNet."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kintsugi.archs import fastconv
from kintsugi.archs.rrdbnet import RRDBNet

pytestmark = pytest.mark.skipif(fastconv._OPS is None, reason="PyTorch built without oneDNN fusion ops")

TINY = {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_block": 2, "num_grow_ch": 4}


def _layout(t: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t.contiguous()


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize(("height", "width"), [(13, 7), (5, 9), (1, 1)])
def test_concat_conv_equals_conv_of_cat(channels_last: bool, height: int, width: int) -> None:
    torch.manual_seed(1)
    sizes = [6, 3, 5]
    pieces = [_layout(torch.randn(2, c, height, width), channels_last) for c in sizes]
    weight = torch.randn(4, sum(sizes), 3, 3)
    bias = torch.randn(4)
    residual = _layout(torch.randn(2, 4, height, width), channels_last)
    expected = F.conv2d(torch.cat(pieces, 1), weight, bias, padding=1)
    split = [_layout(w, channels_last) for w in torch.split(weight, sizes, dim=1)]
    with torch.inference_mode():
        plain = fastconv.concat_conv(pieces, split, bias)
        with_residual = fastconv.concat_conv(pieces, split, bias, residual=residual)
    torch.testing.assert_close(plain, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(with_residual, expected + residual, atol=1e-5, rtol=1e-5)


def test_conv3x3_fuses_leaky_relu() -> None:
    torch.manual_seed(2)
    x = torch.randn(1, 5, 11, 6).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(7, 5, 3, 3).contiguous(memory_format=torch.channels_last)
    bias = torch.randn(7)
    with torch.inference_mode():
        out = fastconv.conv3x3(x, weight, bias, 0.2)
    expected = F.leaky_relu(F.conv2d(x, weight, bias, padding=1), 0.2)
    assert (out < 0).any()  # the activation really kept scaled negatives
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_split_weights_follow_new_parameters() -> None:
    conv = nn.Conv2d(6, 2, 3, 1, 1)
    cache = fastconv.SplitWeights([4, 2], scale=0.5)
    first, _ = cache.get(conv)
    with torch.no_grad():
        conv.weight.add_(1.0)
    second, bias = cache.get(conv)
    torch.testing.assert_close(torch.cat(second, 1), conv.weight.detach() * 0.5)
    torch.testing.assert_close(bias, conv.bias.detach() * 0.5)
    assert not torch.equal(torch.cat(first, 1), torch.cat(second, 1))


def test_usable_only_for_cpu_fp32_or_bf16_inference() -> None:
    conv = nn.Conv2d(3, 3, 3, 1, 1)
    x = torch.rand(1, 3, 4, 4)
    with torch.no_grad():
        assert fastconv.usable(x, conv)
        assert fastconv.usable(x.bfloat16(), nn.Conv2d(3, 3, 3, 1, 1).bfloat16())
        assert not fastconv.usable(x.bfloat16(), conv)  # mixed dtypes: plain path
        assert not fastconv.usable(x.half(), nn.Conv2d(3, 3, 3, 1, 1).half())
        assert not fastconv.usable(x.double(), conv.double())
    assert not fastconv.usable(x, conv)  # weights require grad: keep autograd's path


def test_tiny_rrdbnet_fused_equals_plain_in_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(3)
    net = RRDBNet(**TINY, scale=4).eval().requires_grad_(False).bfloat16()
    net = net.to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 19, 13).bfloat16().contiguous(memory_format=torch.channels_last)
    calls: list[int] = []
    original = fastconv.concat_conv
    monkeypatch.setattr(fastconv, "concat_conv", lambda *a, **k: calls.append(1) or original(*a, **k))
    with torch.inference_mode():
        fused = net(x).float()
        monkeypatch.setattr(fastconv, "usable", lambda *args: False)
        plain = net(x).float()
    assert calls  # bf16 took the fused path
    # Both in bf16 (8 bits of mantissa): equal to within its rounding.
    torch.testing.assert_close(fused, plain, atol=3e-2, rtol=3e-2)


def test_glean_and_panini_trunks_are_the_rrdb_with_the_fused_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from kintsugi.archs import glean, panini

    assert glean.RRDBFeatureExtractor is panini.RRDBFeatureExtractor
    trunk = glean.RRDBFeatureExtractor(3, 8, 2, 4).eval().requires_grad_(False)
    calls: list[int] = []
    original = fastconv.concat_conv
    monkeypatch.setattr(fastconv, "concat_conv", lambda *a, **k: calls.append(1) or original(*a, **k))
    x = torch.rand(1, 3, 9, 7)
    with torch.inference_mode():
        fused = trunk(x)
        assert len(calls) == 2 * 3 * 4
        monkeypatch.setattr(fastconv, "usable", lambda *args: False)
        plain = trunk(x)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_tiny_rrdbnet_fused_equals_plain(scale: int, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(3)
    net = RRDBNet(**TINY, scale=scale).eval().requires_grad_(False)
    net = net.to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 19, 13).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        fused = net(x)
        monkeypatch.setattr(fastconv, "usable", lambda *args: False)
        plain = net(x)
    assert fused.shape == (1, 3, 19 * scale, 13 * scale)
    assert plain.abs().max() > 1e-3  # a network that does something
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)


def test_fused_path_is_taken_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = fastconv.concat_conv

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(fastconv, "concat_conv", counting)
    net = RRDBNet(**TINY).eval().requires_grad_(False)
    with torch.inference_mode():
        net(torch.rand(1, 3, 8, 8))
    assert len(calls) == TINY["num_block"] * 3 * 4  # conv2..conv5 of every dense block
