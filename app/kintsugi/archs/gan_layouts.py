"""Checkpoint key layouts of the GAN-prior networks and their translation to Kintsugi's names.

Each layout is a table of name templates (canonical name <- checkpoint name); the full
key table for a given network size is generated from it (see docs/adr/0002). Loading
renames the keys and then loads with ``strict=True`` into one canonical module, so a
missing or surplus tensor is an error, never silently ignored.

StyleGAN2 layouts (``{P}`` is the layer prefix, ``{m}`` the mapping index, ``{j}`` the noise):

=============  ==========================  ==============================  ====================
canonical      rosinality (``g_ema``)      BasicSR / clean (``params_ema``)  mmagic (``generator_ema.``)
=============  ==========================  ==============================  ====================
mapping.i.w    style.{i+1}.weight          style_mlp.{i+1 | 2i+1}.weight   style_mapping.{i+1}.linear.weight_orig
mapping.i.b    style.{i+1}.bias            style_mlp.{i+1 | 2i+1}.bias     style_mapping.{i+1}.bias
const          input.input                 constant_input.weight           constant_input.input
P.conv.weight  P.conv.weight               P'.modulated_conv.weight        P.conv.weight_orig
P.conv.mod.w   P.conv.modulation.weight    P'.modulated_conv.modulation.weight  P.conv.style_modulation.linear.weight_orig
P.conv.mod.b   P.conv.modulation.bias      P'.modulated_conv.modulation.bias    P.conv.style_modulation.bias
P.noise_str.   P.noise.weight              P'.weight                       P.noise_injector.weight
P.bias         P.activate.bias             P'.activate.bias | P'.bias (1,C,1,1)  P.activate.bias
rgb.conv.*     as P.conv.*                 as P'.modulated_conv.*          as P.conv.*
rgb.bias       R.bias                      R.bias                          R.bias
noise_j        noises.noise_{j}            noises.noise{j}                 injected_noise_{j}
=============  ==========================  ==============================  ====================

P = conv1 | convs.{i}; P' (BasicSR/clean) = style_conv1 | style_convs.{i}; R = to_rgb1 | to_rgbs.{i}.
rosinality and mmagic also store the FIR kernels as buffers (``convs.{2k}.conv.blur.kernel``,
``to_rgbs.{k}.upsample.kernel``, both make_kernel([1,3,3,1])*4); they are checked against
the expected kernel and dropped (a different kernel would be a different network).
mmagic may store ``w_avg`` (mean w, unused by restoration), which is dropped too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .fir import make_fir_kernel

STYLEGAN2_LAYOUTS = ("canonical", "rosinality", "basicsr", "clean", "mmagic")

# Wrapper prefixes tried when looking for a bare StyleGAN2 generator, in order.
_GENERATOR_PREFIXES = ("", "generator_ema.", "g_ema.", "params_ema.", "module.", "generator.")


@dataclass(frozen=True)
class KeyRule:
    canonical: str
    external: str
    bias_4d: bool = False  # external tensor is (1, C, 1, 1), canonical (C,)


@dataclass(frozen=True)
class _Templates:
    mapping_index: str  # python expression of i
    mapping_weight: str
    mapping_bias: str
    const: str
    conv_prefix: tuple[str, str]  # (first conv, block convs with {i})
    weight: str
    mod_weight: str
    mod_bias: str
    noise_strength: str
    conv_bias: str
    rgb_weight: str
    rgb_mod_weight: str
    rgb_mod_bias: str
    noise: str
    bias_4d: bool = False
    fir_buffers: bool = False


_TEMPLATES: dict[str, _Templates] = {
    "rosinality": _Templates(
        "i+1", "style.{m}.weight", "style.{m}.bias", "input.input", ("conv1", "convs.{i}"),
        "{P}.conv.weight", "{P}.conv.modulation.weight", "{P}.conv.modulation.bias", "{P}.noise.weight",
        "{P}.activate.bias", "{R}.conv.weight", "{R}.conv.modulation.weight", "{R}.conv.modulation.bias",
        "noises.noise_{j}", fir_buffers=True),
    "basicsr": _Templates(
        "i+1", "style_mlp.{m}.weight", "style_mlp.{m}.bias", "constant_input.weight",
        ("style_conv1", "style_convs.{i}"), "{P}.modulated_conv.weight", "{P}.modulated_conv.modulation.weight",
        "{P}.modulated_conv.modulation.bias", "{P}.weight", "{P}.activate.bias", "{R}.modulated_conv.weight",
        "{R}.modulated_conv.modulation.weight", "{R}.modulated_conv.modulation.bias", "noises.noise{j}"),
    "clean": _Templates(
        "2*i+1", "style_mlp.{m}.weight", "style_mlp.{m}.bias", "constant_input.weight",
        ("style_conv1", "style_convs.{i}"), "{P}.modulated_conv.weight", "{P}.modulated_conv.modulation.weight",
        "{P}.modulated_conv.modulation.bias", "{P}.weight", "{P}.bias", "{R}.modulated_conv.weight",
        "{R}.modulated_conv.modulation.weight", "{R}.modulated_conv.modulation.bias", "noises.noise{j}",
        bias_4d=True),
    "mmagic": _Templates(
        "i+1", "style_mapping.{m}.linear.weight_orig", "style_mapping.{m}.bias", "constant_input.input",
        ("conv1", "convs.{i}"), "{P}.conv.weight_orig", "{P}.conv.style_modulation.linear.weight_orig",
        "{P}.conv.style_modulation.bias", "{P}.noise_injector.weight", "{P}.activate.bias",
        "{R}.conv.weight_orig", "{R}.conv.style_modulation.linear.weight_orig", "{R}.conv.style_modulation.bias",
        "injected_noise_{j}", fir_buffers=True),
}

# Keys whose presence identifies a layout (on names without wrapper prefix).
_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("canonical", ("const", "conv1.conv.mod.weight")),
    ("rosinality", ("input.input", "conv1.conv.modulation.weight")),
    ("mmagic", ("constant_input.input", "conv1.conv.style_modulation.bias")),
    ("basicsr", ("constant_input.weight", "style_conv1.activate.bias")),
    ("clean", ("constant_input.weight", "style_conv1.bias")),
)


def _mapping_index(layout: str, i: int) -> int:
    return 2 * i + 1 if _TEMPLATES[layout].mapping_index == "2*i+1" else i + 1


def stylegan2_key_table(layout: str, num_blocks: int, n_mlp: int) -> list[KeyRule]:
    """Full canonical <- external table for a generator with ``num_blocks`` blocks (8..out)."""
    t = _TEMPLATES[layout]
    rules: list[KeyRule] = []
    for i in range(n_mlp):
        m = _mapping_index(layout, i)
        rules.append(KeyRule(f"mapping.{i}.weight", t.mapping_weight.format(m=m)))
        rules.append(KeyRule(f"mapping.{i}.bias", t.mapping_bias.format(m=m)))
    rules.append(KeyRule("const", t.const))
    convs = [("conv1", t.conv_prefix[0])] + [
        (f"convs.{i}", t.conv_prefix[1].format(i=i)) for i in range(2 * num_blocks)]
    for canon, ext in convs:
        rules += [
            KeyRule(f"{canon}.conv.weight", t.weight.format(P=ext)),
            KeyRule(f"{canon}.conv.mod.weight", t.mod_weight.format(P=ext)),
            KeyRule(f"{canon}.conv.mod.bias", t.mod_bias.format(P=ext)),
            KeyRule(f"{canon}.noise_strength", t.noise_strength.format(P=ext)),
            KeyRule(f"{canon}.bias", t.conv_bias.format(P=ext), bias_4d=t.bias_4d),
        ]
    rgbs = [("to_rgb1", "to_rgb1")] + [(f"to_rgbs.{k}", f"to_rgbs.{k}") for k in range(num_blocks)]
    for canon, ext in rgbs:
        rules += [
            KeyRule(f"{canon}.conv.weight", t.rgb_weight.format(R=ext)),
            KeyRule(f"{canon}.conv.mod.weight", t.rgb_mod_weight.format(R=ext)),
            KeyRule(f"{canon}.conv.mod.bias", t.rgb_mod_bias.format(R=ext)),
            KeyRule(f"{canon}.bias", f"{ext}.bias"),
        ]
    for j in range(2 * num_blocks + 1):
        rules.append(KeyRule(f"noise_{j}", t.noise.format(j=j)))
    return rules


def stylegan2_fir_buffers(layout: str, num_blocks: int) -> dict[str, torch.Tensor]:
    """The FIR kernel buffers a layout stores (expected values)."""
    if layout not in _TEMPLATES or not _TEMPLATES[layout].fir_buffers:
        return {}
    kernel = make_fir_kernel() * 4
    out: dict[str, torch.Tensor] = {}
    for k in range(num_blocks):
        out[f"convs.{2 * k}.conv.blur.kernel"] = kernel
        out[f"to_rgbs.{k}.upsample.kernel"] = kernel
    return out


_IGNORED = {"mmagic": ("w_avg",)}


def detect_stylegan2_layout(keys: Iterable[str]) -> str | None:
    names = set(keys)
    for layout, markers in _MARKERS:
        if all(m in names for m in markers):
            return layout
    return None


def find_stylegan2(state: Mapping[str, Any]) -> tuple[str, str] | None:
    """(prefix, layout) of a bare StyleGAN2 generator inside ``state``, or None.

    A full mmagic GAN checkpoint holds ``generator.`` and ``generator_ema.``: EMA first.
    """
    for prefix in _GENERATOR_PREFIXES:
        keys = [k[len(prefix):] for k in state if k.startswith(prefix)]
        layout = detect_stylegan2_layout(keys)
        if layout is not None:
            return prefix, layout
    return None


_TO_RGBS = re.compile(r"^to_rgbs\.(\d+)\.")


def _geometry(keys: Iterable[str], layout: str) -> tuple[int, int]:
    """(num_blocks, n_mlp) read from key names."""
    keys = list(keys)
    num_blocks = 1 + max((int(m.group(1)) for k in keys if (m := _TO_RGBS.match(k))), default=-1)
    if layout == "canonical":
        pattern = re.compile(r"^mapping\.(\d+)\.weight$")
    else:
        t = _TEMPLATES[layout]
        pattern = re.compile("^" + re.escape(t.mapping_weight).replace(r"\{m\}", r"(\d+)") + "$")
    n_mlp = sum(1 for k in keys if pattern.match(k))
    return num_blocks, n_mlp


def _sub(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def stylegan2_to_canonical(state: Mapping[str, Any], layout: str | None = None) -> dict[str, Any]:
    """Rename a StyleGAN2 state dict (any layout, optional wrapper prefix) to canonical names.

    Keys the table does not know are kept unchanged so that a strict load reports them.
    """
    if layout is None:
        found = find_stylegan2(state)
        if found is None:
            return dict(state)  # let load_state_dict report what is wrong
        prefix, layout = found
        state = _sub(state, prefix)
    if layout == "canonical":
        return dict(state)
    num_blocks, n_mlp = _geometry(state, layout)
    remaining = dict(state)
    out: dict[str, Any] = {}
    for rule in stylegan2_key_table(layout, num_blocks, n_mlp):
        if rule.external not in remaining:
            continue  # reported as missing by the strict load
        value = remaining.pop(rule.external)
        out[rule.canonical] = value.reshape(-1) if rule.bias_4d else value
    for name, expected in stylegan2_fir_buffers(layout, num_blocks).items():
        if name in remaining:
            value = remaining.pop(name)
            if value.shape != expected.shape or not torch.allclose(value.float().cpu(), expected, atol=1e-6):
                raise ValueError(f"{name}: FIR kernel differs from [1,3,3,1]; this is another network")
    for name in _IGNORED.get(layout, ()):
        remaining.pop(name, None)
    out.update(remaining)
    return out


def stylegan2_from_canonical(state: Mapping[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """Export canonical names to ``layout`` (names, shapes and FIR buffers as the original code stores them)."""
    if layout == "canonical":
        return dict(state)
    num_blocks, n_mlp = _geometry(state, "canonical")
    out: dict[str, torch.Tensor] = {}
    for rule in stylegan2_key_table(layout, num_blocks, n_mlp):
        value = state[rule.canonical]
        out[rule.external] = value.reshape(1, -1, 1, 1) if rule.bias_4d else value
    for name, kernel in stylegan2_fir_buffers(layout, num_blocks).items():
        out[name] = kernel.clone()
    return out


def stylegan2_params(state: Mapping[str, Any]) -> dict[str, Any]:
    """Hyper-parameters of a StyleGAN2 generator from its tensor shapes."""
    found = find_stylegan2(state)
    if found is None:
        raise ValueError("not a StyleGAN2 generator state dict")
    prefix, layout = found
    canon = stylegan2_to_canonical(_sub(state, prefix), layout)
    return {**canonical_generator_params(canon), "clean": layout == "clean", "layout": layout}


def canonical_generator_params(canon: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    num_blocks, n_mlp = _geometry([k[len(prefix):] for k in canon if k.startswith(prefix)], "canonical")
    channels = [int(canon[f"{prefix}const"].shape[1])]
    channels += [int(canon[f"{prefix}convs.{2 * k}.conv.weight"].shape[1]) for k in range(num_blocks)]
    return {
        "out_size": 4 * 2**num_blocks,
        "style_dim": int(canon[f"{prefix}conv1.conv.mod.weight"].shape[1]),
        "n_mlp": n_mlp,
        "channels": tuple(channels),
        "clean": False,
    }


# ---------------------------------------------------------------------------------------
# Panini-Net and GLEAN (mmediting 0.x restorer checkpoints)
# ---------------------------------------------------------------------------------------
# Their official checkpoints hold the restorer's state dict: ``generator.<network>`` (and
# possibly ``discriminator.*``, which inference does not use and is dropped). Inside the
# network every name equals Kintsugi's module name, except the StyleGAN2 latent bank
# ``generator.generator.*``, which is mmagic's layout and is renamed by the table above.

RESTORER_PREFIX = "generator."
BANK = "generator."


def raw_network(state: Mapping[str, Any]) -> dict[str, Any]:
    """A state dict in the network's own names: without the ``net.`` of the engine's
    UnitRangeWrapper (what ``kintsugi train`` saves, if its metadata is lost)."""
    if state and all(k.startswith("net.") for k in state):
        return {k[4:]: v for k, v in state.items()}
    return dict(state)


def restorer_network(state: Mapping[str, Any]) -> dict[str, Any]:
    """Strip the restorer wrapper: keep ``generator.*`` (renamed), drop ``discriminator.*``;
    and the engine's ``net.`` wrapper."""
    state = raw_network(state)
    if any(k.startswith(RESTORER_PREFIX + BANK) for k in state):
        return _sub(state, RESTORER_PREFIX)
    return dict(state)


def gan_prior_to_canonical(state: Mapping[str, Any]) -> dict[str, Any]:
    """Panini/GLEAN official (or canonical) names -> Kintsugi module names."""
    net = restorer_network(state)
    bank = _sub(net, BANK)
    rest = {k: v for k, v in net.items() if not k.startswith(BANK)}
    layout = detect_stylegan2_layout(bank)
    bank = stylegan2_to_canonical(bank, layout or "canonical")
    rest.update({BANK + k: v for k, v in bank.items()})
    return rest


def gan_prior_from_canonical(state: Mapping[str, torch.Tensor], prefix: str = RESTORER_PREFIX) -> dict[str, torch.Tensor]:
    """Kintsugi module names -> the official mmediting checkpoint names (for tests/export)."""
    bank = stylegan2_from_canonical(_sub(state, BANK), "mmagic")
    out = {prefix + k: v for k, v in state.items() if not k.startswith(BANK)}
    out.update({prefix + BANK + k: v for k, v in bank.items()})
    return out
