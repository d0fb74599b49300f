"""The rosinality StyleGAN2 layout checked against a key list written from the official code
(rosinality/stylegan2-pytorch model.py, tests/fixtures/layouts/), not only by a round trip
through Kintsugi's own key table."""

from __future__ import annotations

from pathlib import Path

import torch

from kintsugi.archs import gan_layouts as L
from kintsugi.archs.fir import make_fir_kernel
from kintsugi.archs.stylegan2 import SPEC, StyleGAN2Generator, default_channels

KEYS = Path(__file__).resolve().parents[1] / "fixtures" / "layouts" / "rosinality_generator_32.txt"


def official() -> dict[str, tuple[int, ...]]:
    out = {}
    for line in KEYS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split()
            out[name] = tuple(int(v) for v in shape.split("x"))
    return out


def test_export_to_rosinality_gives_exactly_the_official_names_and_shapes() -> None:
    with torch.device("meta"):
        net = StyleGAN2Generator(out_size=32, style_dim=8, n_mlp=2, channels=default_channels(32, 2))
    exported = L.stylegan2_from_canonical(net.state_dict(), "rosinality")
    assert {k: tuple(v.shape) for k, v in exported.items()} == official()


def test_an_official_state_dict_is_detected_and_loads_strict() -> None:
    gen = torch.Generator().manual_seed(0)
    state = {name: torch.randn(shape, generator=gen) for name, shape in official().items()}
    for name in state:
        if name.endswith(".kernel"):
            state[name] = make_fir_kernel() * 4  # Blur / Upsample buffers as the official code makes them
    wrapped = {f"g_ema.{k}": v for k, v in state.items()}
    assert L.find_stylegan2(wrapped) == ("g_ema.", "rosinality")
    assert SPEC.detect(wrapped)
    params = SPEC.params_from_state(wrapped)
    assert (params["out_size"], params["style_dim"], params["n_mlp"]) == (32, 8, 2)
    net = SPEC.build(**params)
    net.load_state_dict(wrapped, strict=True)
    assert torch.equal(net.const, state["input.input"])
    assert torch.equal(net.convs[3].bias, state["convs.3.activate.bias"])
    assert torch.equal(net.noise_6, state["noises.noise_6"])
