"""Dev-only: golden GFPGAN (v1.3/v1.4 "clean") outputs from an independent implementation.

Reference: spandrel 0.4.2 (MIT), whose ``GFPGANv1Clean`` is the authors' code
(TencentARC/GFPGAN, gfpganv1_clean_arch.py). Run it in a SEPARATE environment, never the
app's venv (there is no CPU torchvision build here; spandrel needs torchvision only for its
LaMa and RestoreFormer modules, so this script stubs it):

    python3.11 -m venv /tmp/goldenvenv
    /tmp/goldenvenv/bin/pip install torch==2.13.0 numpy safetensors pillow scikit-image
    /tmp/goldenvenv/bin/pip install --no-deps spandrel==0.4.2 spandrel-extra-arches==0.2.0
    /tmp/goldenvenv/bin/pip install einops typing_extensions
    /tmp/goldenvenv/bin/python tools/make_gfpgan_golden.py

A small configuration of the official constructor (64 px, style dim 32, narrow 1/32)
keeps the fixture far below 1 MB. Every tensor is made random (zero biases, noise
strengths and unit modulation biases would hide mistakes). The checkpoint is written with
the official key names (what ``GFPGANv1Clean.state_dict()`` holds, as in
GFPGANv1.3.pth's ``params_ema``).

Writes tests/fixtures/golden/gfpgan_spandrel.{safetensors,npz}: x = input in [0, 1] (the
astronaut's face), y = the reference output in [-1, 1] with the stored noise
(``randomize_noise=False``), unclamped; and gfpgan_official_keys.json, the key names and
shapes of the full v1.3/v1.4 configuration (512 px, narrow 1, multiplier 2, sft_half).
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden"
LOG = logging.getLogger("make_gfpgan_golden")
VERSIONS = {"spandrel": "0.4.2", "torch": "2.13.0"}
CONFIG = {"out_size": 64, "num_style_feat": 32, "channel_multiplier": 2, "num_mlp": 2,
          "narrow": 1 / 32, "sft_half": True}
SEED = 21


def stub_torchvision() -> None:
    """spandrel's package import reaches LaMa/RestoreFormer, the only torchvision users."""
    tv = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = object  # type: ignore[attr-defined]
    functional.rotate = functional.normalize = lambda *a, **k: None  # type: ignore[attr-defined]
    tv.transforms, transforms.functional = transforms, functional  # type: ignore[attr-defined]
    sys.modules.update({"torchvision": tv, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional})


def check_versions() -> None:
    from importlib.metadata import version

    for name, wanted in VERSIONS.items():
        have = version(name).split("+")[0]
        if have != wanted:
            raise SystemExit(f"{name} {have} found; these fixtures are made with {name}=={wanted}")


def perturb(net: torch.nn.Module, seed: int) -> None:
    """Zero or constant initial values (biases, noise strengths) would hide mistakes."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.named_parameters():
            if t.abs().max() == 0 or name.endswith("bias"):
                t.add_(0.2 * torch.randn(t.shape, generator=gen))


def face(size: int) -> torch.Tensor:
    crop = Image.fromarray(data.astronaut()[10:230, 130:350]).resize((size, size), Image.Resampling.BICUBIC)
    # Contiguous NCHW: a channels-last input would take other convolution kernels.
    return torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    check_versions()
    stub_torchvision()
    torch.set_num_threads(2)
    arch = importlib.import_module("spandrel.architectures.GFPGAN.__arch.gfpganv1_clean_arch")
    torch.manual_seed(SEED)
    net = arch.GFPGANv1Clean(**CONFIG).eval()
    perturb(net, SEED)
    x = face(CONFIG["out_size"])
    with torch.no_grad():
        y, _ = net(x * 2 - 1, return_rgb=False, randomize_noise=False)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(OUT / "gfpgan_spandrel.safetensors"))
    with torch.device("meta"):  # the configuration of GFPGANv1.3.pth / GFPGANv1.4.pth
        full = arch.GFPGANv1Clean(out_size=512, num_style_feat=512, channel_multiplier=2, narrow=1,
                                  sft_half=True)
    keys = {k: list(v.shape) for k, v in full.state_dict().items()}
    (OUT / "gfpgan_official_keys.json").write_text(json.dumps(keys, indent=0, sort_keys=True) + "\n")
    np.savez_compressed(OUT / "gfpgan_spandrel.npz", x=x.numpy(), y=y.numpy())
    LOG.info("gfpgan: %d tensors, %d values, output std %.4f", len(state),
             sum(v.numel() for v in state.values()), y.std().item())


if __name__ == "__main__":
    main()
