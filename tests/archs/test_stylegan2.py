"""StyleGAN2 generator: FIR maths, modulated conv equations, layouts, spandrel parity."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from kintsugi.archs import gan_layouts as L
from kintsugi.archs.fir import downsample2d, make_fir_kernel, upfirdn2d, upsample2d
from kintsugi.archs.stylegan2 import SPEC, ModulatedConv, StyleGAN2Generator, UnitRangeWrapper

torch.set_num_threads(2)
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
TINY = {"out_size": 32, "style_dim": 16, "n_mlp": 2, "max_channels": 8}


def randomise(net: torch.nn.Module, seed: int = 0, gentle: bool = False) -> torch.nn.Module:
    """Zero-initialised biases/noise strengths would hide naming bugs: make them random.

    gentle: only biases and all-zero tensors (keeps deep conv stacks like RRDB bounded).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if gentle and not (name.endswith("bias") or p.abs().max() == 0):
                continue
            p.add_((0.1 if gentle else 0.3) * torch.randn(p.shape, generator=gen))
    return net.eval()


def tiny_generator(seed: int = 0, **kw: object) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    return randomise(StyleGAN2Generator(**{**TINY, **kw}), seed)


def mmagic_stylegan2_shapes(out_size: int, style: int, chans: list[int], n_mlp: int) -> dict[str, tuple]:
    """Names and shapes of mmagic's StyleGANv2Generator state dict, written from its module
    structure (independently of kintsugi.archs.gan_layouts)."""
    s: dict[str, tuple] = {}
    for m in range(1, n_mlp + 1):
        s[f"style_mapping.{m}.linear.weight_orig"] = (style, style)
        s[f"style_mapping.{m}.bias"] = (style,)
    s["constant_input.input"] = (1, chans[0], 4, 4)

    def conv(p: str, cin: int, cout: int, k: int, up: bool, rgb: bool = False) -> None:
        s[f"{p}.conv.weight_orig"] = (1, cout, cin, k, k)
        s[f"{p}.conv.style_modulation.linear.weight_orig"] = (cin, style)
        s[f"{p}.conv.style_modulation.bias"] = (cin,)
        if up:
            s[f"{p}.conv.blur.kernel"] = (4, 4)
        if rgb:
            s[f"{p}.bias"] = (1, 3, 1, 1)
        else:
            s[f"{p}.noise_injector.weight"] = (1,)
            s[f"{p}.activate.bias"] = (cout,)

    conv("conv1", chans[0], chans[0], 3, False)
    conv("to_rgb1", chans[0], 3, 1, False, rgb=True)
    for k in range(len(chans) - 1):
        conv(f"convs.{2 * k}", chans[k], chans[k + 1], 3, True)
        conv(f"convs.{2 * k + 1}", chans[k + 1], chans[k + 1], 3, False)
        conv(f"to_rgbs.{k}", chans[k + 1], 3, 1, False, rgb=True)
        s[f"to_rgbs.{k}.upsample.kernel"] = (4, 4)
    for j in range(2 * int(math.log2(out_size)) - 3):
        r = 2 ** ((j + 5) // 2)
        s[f"injected_noise_{j}"] = (1, 1, r, r)
    return s


def random_state(shapes: dict[str, tuple], seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in shapes.items():
        if name.endswith("kernel"):
            out[name] = make_fir_kernel() * 4
        elif name.endswith("num_batches_tracked"):
            out[name] = torch.tensor(7)
        elif name.endswith("running_var"):
            out[name] = torch.rand(shape, generator=gen) + 0.5
        else:
            out[name] = torch.randn(shape, generator=gen) * 0.3
    return out


# -- FIR -----------------------------------------------------------------------------------

def upfirdn_by_definition(x: np.ndarray, k: np.ndarray, up: int, down: int, pad: tuple[int, int]) -> np.ndarray:
    h, w = x.shape
    z = np.zeros((h * up, w * up))
    z[::up, ::up] = x
    p0, p1 = pad
    z = np.pad(z, ((max(p0, 0), max(p1, 0)),) * 2)
    z = z[max(-p0, 0): z.shape[0] - max(-p1, 0), max(-p0, 0): z.shape[1] - max(-p1, 0)]
    kh, kw = k.shape
    out = np.zeros((z.shape[0] - kh + 1, z.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            # true convolution: kernel flipped
            out[i, j] = np.sum(z[i:i + kh, j:j + kw] * k[::-1, ::-1])
    return out[::down, ::down]


@pytest.mark.parametrize(("up", "down", "pad"), [(2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (1, 2)), (2, 2, (-1, 2))])
def test_upfirdn_matches_the_definition(up: int, down: int, pad: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 6))
    k = rng.standard_normal((3, 4))  # asymmetric: catches a missing flip
    got = upfirdn2d(torch.tensor(x)[None, None], torch.tensor(k), up=up, down=down, pad=pad)[0, 0].numpy()
    np.testing.assert_allclose(got, upfirdn_by_definition(x, k, up, down, pad), atol=1e-10)


def test_fir_resampling_keeps_constants_and_sizes() -> None:
    k = make_fir_kernel()
    assert torch.isclose(k.sum(), torch.tensor(1.0))
    x = torch.full((1, 2, 8, 8), 3.0)
    up = upsample2d(x, k)
    down = downsample2d(x, k)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 3.0))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 3.0))
    # borders see the zero padding: not constant, which proves the padding is real
    assert up[0, 0, 0, 0] < 3.0


# -- modulated conv --------------------------------------------------------------------------

@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_equals_the_equations(demodulate: bool) -> None:
    torch.manual_seed(0)
    conv = randomise(ModulatedConv(5, 4, 3, 6, demodulate=demodulate))
    x, w = torch.randn(2, 5, 6, 6), torch.randn(2, 6)
    got = conv(x, w)
    # s = A w + b (equalised LR: A scaled by 1/sqrt(6)); W' = W/sqrt(in*k*k) * s_in;
    # demod: W'' = W' / sqrt(sum_{in,ky,kx} W'^2 + 1e-8); then a plain conv per sample.
    s = w @ (conv.mod.weight / math.sqrt(6)).T + conv.mod.bias
    patches = F.unfold(x, 3, padding=1).view(2, 5, 9, 36)
    for b in range(2):
        wt = conv.weight[0] / math.sqrt(5 * 9) * s[b][None, :, None, None]
        if demodulate:
            wt = wt / torch.sqrt((wt**2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        ref = torch.einsum("oik,ikp->op", wt.reshape(4, 5, 9), patches[b]).view(4, 6, 6)
        torch.testing.assert_close(got[b], ref, atol=1e-5, rtol=1e-5)


# -- sizes -----------------------------------------------------------------------------------

def test_config_f_1024_parameter_count() -> None:
    with torch.device("meta"):
        g = StyleGAN2Generator(1024)
    assert sum(p.numel() for p in g.parameters()) == 30_370_060
    assert g.num_styles == 18 and g.channels[1024] == 32 and g.channels[64] == 512


def test_tiny_generator_output_and_noise_modes() -> None:
    g = tiny_generator()
    w = torch.randn(2, g.num_styles, 16)
    with torch.no_grad():
        a, b = g(w), g(w)
        s1, s1b, s2 = g(w, noise=11), g(w, noise=11), g(w, noise=12)
        none = g(w, noise="none")
    assert a.shape == (2, 3, 32, 32)
    assert torch.equal(a, b) and torch.equal(s1, s1b)
    assert not torch.allclose(s1, s2) and not torch.allclose(a, none)
    with pytest.raises(ValueError):
        g(torch.randn(1, g.num_styles + 1, 16))


# -- layouts -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("layout", "prefix"), [
    ("canonical", ""), ("rosinality", ""), ("basicsr", ""), ("mmagic", "generator_ema."), ("clean", "")])
def test_layout_round_trip(layout: str, prefix: str) -> None:
    clean = layout == "clean"
    g = tiny_generator(seed=3, clean=clean)
    exported = {prefix + k: v for k, v in L.stylegan2_from_canonical(g.state_dict(), layout).items()}
    if prefix:  # a full mmagic checkpoint also has the non-EMA generator: EMA must win
        exported.update({"generator." + k: v * 0 for k, v in L.stylegan2_from_canonical(g.state_dict(), layout).items()})
    assert L.find_stylegan2(exported) == (prefix, layout)
    assert SPEC.detect(exported)
    params = SPEC.params_from_state(exported)
    assert params["clean"] is clean and params["out_size"] == 32 and params["style_dim"] == 16
    loaded = SPEC.build(**params)
    loaded.load_state_dict(exported, strict=True)
    w = torch.randn(2, g.num_styles, 16)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(w), g(w))


def test_official_mmagic_names_load_strict_and_errors_are_reported() -> None:
    chans = [8, 8, 8, 8]
    state = random_state(mmagic_stylegan2_shapes(32, 16, chans, 2))
    g = StyleGAN2Generator(**TINY)
    g.load_state_dict(state, strict=True)
    torch.testing.assert_close(g.mapping[1].weight, state["style_mapping.2.linear.weight_orig"])
    torch.testing.assert_close(g.convs[3].noise_strength, state["convs.3.noise_injector.weight"])

    missing = dict(state)
    del missing["convs.2.activate.bias"]
    with pytest.raises(RuntimeError, match="Missing"):
        StyleGAN2Generator(**TINY).load_state_dict(missing)
    extra = {**state, "convs.2.surplus": torch.zeros(1)}
    with pytest.raises(RuntimeError, match="Unexpected"):
        StyleGAN2Generator(**TINY).load_state_dict(extra)
    other_fir = {**state, "to_rgbs.0.upsample.kernel": torch.ones(4, 4)}
    with pytest.raises(ValueError, match="FIR"):
        StyleGAN2Generator(**TINY).load_state_dict(other_fir)


# -- parity with an independent implementation -------------------------------------------------

@pytest.mark.parametrize("name", ["clean", "basicsr"])
def test_parity_with_spandrel(name: str) -> None:
    """Golden outputs made by spandrel's StyleGAN2GeneratorClean / StyleGAN2Generator
    (tools/make_stylegan2_golden.py)."""
    state = load_file(str(GOLDEN / f"stylegan2_{name}_spandrel.safetensors"))
    ref = np.load(GOLDEN / f"stylegan2_{name}_spandrel.npz")
    params = SPEC.params_from_state(state)
    assert params["layout"] == name and params["clean"] is (name == "clean")
    g = SPEC.build(**params)
    g.load_state_dict(state, strict=True)
    g.eval()
    with torch.no_grad():
        out_w = g(torch.from_numpy(ref["w_plus"])).numpy()
        out_z = g(torch.from_numpy(ref["z"]), input_is_latent=False).numpy()
    assert np.abs(out_w - ref["out_w_plus"]).max() <= 1e-5
    # The z path adds 8 mapping layers: float32 summation order differs between CPUs
    # (1.2e-5 seen on an AVX-512 machine), still far below one 16-bit level.
    assert np.abs(out_z - ref["out_z"]).max() <= 5e-5
    assert ref["out_w_plus"].std() > 0.1  # a real image-like signal, not zeros

    # The flag matters: the same weights through the other network give another image.
    other = SPEC.build(**{**params, "clean": name != "clean"})
    other.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert np.abs(other.eval()(torch.from_numpy(ref["w_plus"])).numpy() - ref["out_w_plus"]).max() > 1e-2


def test_unit_range_wrapper_maps_value_spaces() -> None:
    class Double(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.clamp(-1, 1)

    wrapped = UnitRangeWrapper(Double())
    x = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(wrapped(x), x)
    torch.testing.assert_close(UnitRangeWrapper.to_unit(UnitRangeWrapper.from_unit(x)), x)
    assert UnitRangeWrapper.from_unit(torch.tensor(0.0)) == -1.0


def test_demodulation_is_safe_in_fp16() -> None:
    """rsqrt(sum + 1e-8) in fp16: small weights square to 0 and 1e-8 rounds to 0, giving inf."""
    conv = ModulatedConv(4, 4, 3, style_dim=8).eval()
    with torch.no_grad():
        conv.weight.mul_(1e-4)
    conv = conv.half()
    style = torch.randn(1, 8).half()
    with torch.no_grad():
        weight = conv.modulated_weight(style)
        reference = conv.float().modulated_weight(style.float())
    assert weight.dtype == torch.float16 and torch.isfinite(weight).all()
    torch.testing.assert_close(weight.float(), reference, atol=2e-3, rtol=2e-3)
