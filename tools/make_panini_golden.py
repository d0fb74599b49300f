"""Dev-only: golden Panini-Net outputs from the authors' own code (jianzhangcs/panini).

The official generator (mmedit 0.x ``Panini_MFR`` / ``Panini_SR`` and its vendored
``StyleGANv2Generator``, mmcv ops replaced by mmcv's own native CPU paths) lives in a
scratch folder outside this repository and is never committed; point PANINI_REF at it
(default /work/scratch/panini_ref). Its ``tiny_official.build`` executes the official
files with only their hard-coded sizes made small (generator width 8, style dim 16,
2 DAFI slots for MFR, 3 for SR), so the fixtures stay far below 1 MB:

    PANINI_REF=/path/to/panini_ref PYTHONPATH=app python tools/make_panini_golden.py

Writes tests/fixtures/golden/panini_official_{mfr,sr}.safetensors (the official
restorer checkpoint's keys: ``generator.`` + the network's state dict, mmagic latent
bank, FIR and noise buffers included) and .npz (x: input in [0, 1] from the astronaut
photo's face, y: the official output in [-1, 1], unclamped).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden"
LOG = logging.getLogger("make_panini_golden")
# variant: (in_size, out_size, seed)
CONFIGS = {"mfr": (64, 128, 11), "sr": (16, 64, 12)}


def _perturb(net: torch.nn.Module, seed: int) -> None:
    """Zero biases/noise strengths and identity BatchNorm statistics would hide bugs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.is_floating_point() or name.endswith(".kernel") or "injected_noise" in name:
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif t.abs().max() == 0 or name.endswith(("bias", "running_mean")) or t.ndim == 1:
                t.add_(0.2 * noise)


def face(size: int) -> torch.Tensor:
    crop = Image.fromarray(data.astronaut()[10:230, 130:350]).resize((size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(2)
    sys.path.insert(0, os.environ.get("PANINI_REF", "/work/scratch/panini_ref"))
    official = importlib.import_module("tiny_official")
    for variant, (in_size, out_size, seed) in CONFIGS.items():
        torch.manual_seed(seed)
        net = official.build(variant, in_size, out_size)
        _perturb(net, seed)
        net.eval()
        x = face(in_size)
        with torch.no_grad():
            y = net(x * 2 - 1)
        state = {"generator." + k: v.contiguous() for k, v in net.state_dict().items()}
        save_file(state, str(OUT / f"panini_official_{variant}.safetensors"))
        np.savez_compressed(OUT / f"panini_official_{variant}.npz", x=x.numpy(), y=y.numpy())
        LOG.info("%s: %d tensors, output %s in [%.3f, %.3f]", variant, len(state), tuple(y.shape),
                 y.min().item(), y.max().item())


if __name__ == "__main__":
    main()
