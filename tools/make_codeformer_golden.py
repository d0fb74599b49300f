"""Dev-only: golden CodeFormer outputs from an independent implementation.

Reference: spandrel-extra-arches 0.2.0 (its ``CodeFormer`` is the authors' code,
sczhou/CodeFormer ``codeformer_arch.py`` with the VQGAN from the same repository), on
spandrel 0.4.2 and torch 2.13.0. Run it in the SEPARATE environment described in
tools/make_gfpgan_golden.py, never the app's venv:

    /tmp/goldenvenv/bin/python tools/make_codeformer_golden.py

The official class hard-codes its VQGAN widths (nf 64, GroupNorm with 32 groups), which
would make a ~370 MB fixture. This script shrinks exactly those constants and nothing
else, using spandrel's own classes throughout:

- the VQGAN base width nf 64 -> 4 (``VQAutoEncoder.__init__`` is called with nf=4), and
  the module-level ``normalize`` (GroupNorm(32, C)) -> GroupNorm(4, C), since C must be a
  multiple of the group count (Kintsugi reads min(32, nf) groups);
- the fusion blocks are built with spandrel's ``Fuse_sft_block`` at the shrunk widths (the
  official constructor takes their widths from a hard-coded table);
- transformer width 32, 2 layers, codebook 64 entries (constructor arguments).

The structure (6 levels, 512 px input, 16 x 16 tokens, emb_dim 256, fusion at 32..256,
the official block-index tables) is unchanged. The full-size key list with shapes is
written too, so the suite can check that the official configuration loads strictly.

Writes tests/fixtures/golden/codeformer_spandrel.{safetensors,npz} (x: 512 px astronaut
face as uint8; the reference output in [-1, 1] at w = 0, 0.5 and 1 as 4 x 4 block means,
and at w = 0.5 its 128 px centre in full; weights rounded to
float16 values and stored as float16) and codeformer_official_keys.json.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_gfpgan_golden import check_versions, face, perturb, stub_torchvision  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden"
LOG = logging.getLogger("make_codeformer_golden")
NF, GROUPS = 4, 4
CONFIG = {"dim_embd": 32, "n_head": 8, "n_layers": 2, "codebook_size": 64,
          "connect_list": [], "fix_modules": None}
CONNECT = ["32", "64", "128", "256"]
SEED = 31


def shrunk(arch: object) -> torch.nn.Module:
    vq = arch.VQAutoEncoder  # type: ignore[attr-defined]
    original = vq.__init__

    def small_init(self, img_size, nf, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, img_size, NF, *args, **kwargs)

    arch.normalize = lambda ch: torch.nn.GroupNorm(GROUPS, ch, eps=1e-6, affine=True)  # type: ignore[attr-defined]
    vq.__init__ = small_init
    try:
        net = arch.CodeFormer(**CONFIG)  # type: ignore[attr-defined]
    finally:
        vq.__init__ = original
    widths = {"16": 8 * NF, "32": 4 * NF, "64": 4 * NF, "128": 2 * NF, "256": 2 * NF, "512": NF}
    for size in CONNECT:
        net.fuse_convs_dict[size] = arch.Fuse_sft_block(widths[size], widths[size])  # type: ignore[attr-defined]
    net.connect_list = CONNECT
    return net


def small_outputs(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each output's 4x4 block means (catches anything global or at the borders) and the
    w = 0.5 output's 128 px centre in full (catches anything local)."""
    pooled = {f"{k}_pooled": v.reshape(1, 3, 128, 4, 128, 4).mean(axis=(3, 5)) for k, v in outputs.items()}
    return {"y_w05_centre": outputs["y_w05"][:, :, 192:320, 192:320], **pooled}


def official_keys(arch: object) -> dict[str, list[int]]:
    with torch.device("meta"):
        full = arch.CodeFormer()  # type: ignore[attr-defined]
    return {k: list(v.shape) for k, v in full.state_dict().items()}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    check_versions()
    stub_torchvision()
    torch.set_num_threads(2)
    arch = importlib.import_module("spandrel_extra_arches.architectures.CodeFormer.__arch.codeformer")
    keys = official_keys(arch)
    torch.manual_seed(SEED)
    net = shrunk(arch).eval()
    perturb(net, SEED)
    with torch.no_grad():  # the position embedding starts at zero: make it matter
        net.position_emb.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(SEED))
    # Weights rounded to float16 values (stored as float16, run in float32 on both sides).
    with torch.no_grad():
        for t in net.state_dict().values():
            t.copy_(t.half().float())
    x = face(512)
    x8 = np.clip(np.round(x.numpy() * 255), 0, 255).astype(np.uint8)
    x8 = np.ascontiguousarray(x8)
    x = torch.from_numpy(x8.astype(np.float32) / 255.0)
    outputs = {}
    with torch.no_grad():
        for name, w in (("y_w0", 0.0), ("y_w05", 0.5), ("y_w1", 1.0)):
            outputs[name] = net(x * 2 - 1, weight=w)[0].numpy()
    state = {k: v.half().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(OUT / "codeformer_spandrel.safetensors"))
    np.savez_compressed(OUT / "codeformer_spandrel.npz", x=x8, **small_outputs(outputs))
    (OUT / "codeformer_official_keys.json").write_text(json.dumps(keys, indent=0, sort_keys=True) + "\n")
    LOG.info("codeformer: %d tensors, %d values; %d official keys; output std %.4f", len(state),
             sum(v.numel() for v in state.values()), len(keys), outputs["y_w05"].std())


if __name__ == "__main__":
    main()
