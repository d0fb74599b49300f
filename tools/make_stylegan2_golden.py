"""Dev-only: golden StyleGAN2 outputs from an independent implementation (spandrel, MIT).

Run with the reference venv (torch + torchvision + spandrel), never the app's venv:

    /work/venv-ref/bin/python tools/make_stylegan2_golden.py

It builds two small random generators with spandrel's copies of GFPGAN/BasicSR code:
``StyleGAN2GeneratorClean`` (the "clean" network) and ``StyleGAN2Generator`` (BasicSR's
standard network, upfirdn2d in its native PyTorch path). spandrel's fused LeakyReLU has
no CPU path (it needs a compiled extension), so for the standard network its two entry
points are replaced by the defining formula leaky_relu(x + b, 0.2) * sqrt(2); everything
else (equalised LR, modulation, transposed conv, upfirdn2d) is spandrel's.

Writes tests/fixtures/golden/stylegan2_{clean,basicsr}_spandrel.{safetensors,npz}:
weights as stored by that code, and inputs/outputs (w+ path and z -> mapping path, with
the stored noise buffers).
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden"
LOG = logging.getLogger("make_stylegan2_golden")
ARCH = "spandrel.architectures.GFPGAN.__arch"

# Small config: 64 px, style dim 32, 2 mapping layers, 16 channels up to 32 px, 8 at 64.
CONFIG = {"out_size": 64, "num_style_feat": 32, "num_mlp": 2, "channel_multiplier": 1, "narrow": 1 / 32}


def _plain_fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2,
                            scale: float = math.sqrt(2)) -> torch.Tensor:
    shape = [1, bias.shape[0]] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


def _perturb(net: torch.nn.Module, seed: int) -> None:
    """Zero-initialised biases and noise strengths would hide bugs: make every tensor random."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.abs().max() == 0 or name.endswith("bias"):
                p.add_(0.2 * torch.randn(p.shape, generator=gen))


def _run(make: Callable[..., torch.nn.Module], name: str, seed: int) -> None:
    torch.manual_seed(seed)
    net = make(**CONFIG)
    _perturb(net, seed)
    net.eval()
    n = int(math.log2(CONFIG["out_size"])) * 2 - 2
    w_plus = torch.randn(2, n, CONFIG["num_style_feat"])
    z = torch.randn(2, CONFIG["num_style_feat"])
    with torch.no_grad():
        out_w, _ = net([w_plus], input_is_latent=True, randomize_noise=False)
        out_z, _ = net([z], input_is_latent=False, randomize_noise=False)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(OUT / f"stylegan2_{name}_spandrel.safetensors"))
    np.savez_compressed(
        OUT / f"stylegan2_{name}_spandrel.npz",
        w_plus=w_plus.numpy(), z=z.numpy(), out_w_plus=out_w.numpy(), out_z=out_z.numpy(),
        out_size=CONFIG["out_size"], style_dim=CONFIG["num_style_feat"], n_mlp=CONFIG["num_mlp"],
    )
    LOG.info("%s: %d values, out std %.4f", name, sum(v.numel() for v in state.values()), out_w.std())


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    clean = importlib.import_module(f"{ARCH}.stylegan2_clean_arch")
    _run(clean.StyleGAN2GeneratorClean, "clean", seed=1)

    fused = importlib.import_module(f"{ARCH}.fused_act")
    standard = importlib.import_module(f"{ARCH}.stylegan2_arch")
    fused.fused_leaky_relu = _plain_fused_leaky_relu
    standard.fused_leaky_relu = _plain_fused_leaky_relu
    _run(standard.StyleGAN2Generator, "basicsr", seed=2)


if __name__ == "__main__":
    main()
