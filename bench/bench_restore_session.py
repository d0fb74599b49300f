"""A further alternative from a RestoreSession versus a full restore (issue 8, section 2).

Target: a further alternative (a new bias, fidelity or seed) costs at most 0.5x a full
`kintsugi.restore` of the same photo. The models are random (no trained face weights can
ship); the ratio depends on the architecture's split, not on its weights:

- Panini (small random config, 128 -> 256): the session keeps the faces, their alignment,
  the IFE features, w+ and the mask logits, and the upscaled background; an alternative
  re-runs the DAFI generator pass and the paste-back.
- CodeFormer (small random config at its fixed 512 px): the session keeps the encoder,
  transformer and code lookup; an alternative re-runs the decoder.

Photo: scikit-image's astronaut (NASA, public domain), 256 px; background by the default
upscaler (the shipped one the CLI uses) and by bicubic. Best of `--rounds` runs each.

    PYTHONPATH=app python bench/bench_restore_session.py [--rounds 3]

Measured on the idle 2-core machine (three runs, this code and the previous stop's alike):
Panini + bicubic 0.71-0.78, CodeFormer + bicubic 0.65-0.74, Panini + default upscaler
0.09-0.11. With a bicubic background the re-run generator/decoder is most of the work.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from timing import fastest

PANINI = {"out_size": 256, "style_dim": 64, "n_mlp": 2, "max_channels": 64, "growth": 16, "lce_channels": 32,
          "in_size": 128, "rrdb_channels": 32, "num_rrdbs": 2, "head_channels": (32,), "dre_channels": (32, 32, 64)}
CODEFORMER = {"nf": 16, "norm_groups": 16, "codebook_size": 256, "dim_embd": 128, "n_layers": 4}


def model(kind: str) -> Any:
    from kintsugi.archs import codeformer, panini
    from kintsugi.archs.stylegan2 import UnitRangeWrapper
    from kintsugi.engine.registry import Model, ModelInfo

    torch.manual_seed(0)
    if kind == "panini":
        net: torch.nn.Module = UnitRangeWrapper(panini.Panini("mfr", **PANINI))
        spec, params = panini.SPEC, {"in_size": 128, "out_size": 256, "scale": 2}
    else:
        net = codeformer.CodeFormerModel(codeformer.CodeFormer(**CODEFORMER))
        spec, params = codeformer.SPEC, {"img_size": 512, "scale": 1}
    info = ModelInfo(id=f"random-{kind}", name=kind, arch=spec.id, kind="face-restorer",
                     scale=int(params["scale"]), params=params)
    return Model(info, spec, net.eval().requires_grad_(False), torch.device("cpu"))


def row(kind: str, background: str | None, photo: Any, rounds: int) -> tuple[str, float, float, float]:
    import kintsugi

    m = model(kind)
    control = {"bias": 0.3} if kind == "panini" else {"fidelity": 0.8}
    full = fastest(lambda: kintsugi.restore(photo, m, background=background, **control), rounds)
    session = kintsugi.RestoreSession(photo, m, background=background)
    session.render()  # the first render fills the per-face cache
    value = iter(np.linspace(0.1, 0.9, 100))
    key = next(iter(control))
    further = fastest(lambda: session.render(**{key: float(next(value))}), rounds)
    return f"{kind}, background {background or 'default upscaler'}", full, further, further / full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import cv2
    from skimage import data

    import kintsugi
    from kintsugi.engine.device import set_threads

    set_threads(None)
    photo = kintsugi.Image.from_array(cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA))
    print(f"{'configuration':44} {'full restore':>13} {'further alt.':>13} {'ratio':>7}  (target <= 0.50)",
          flush=True)
    for kind, background in (("panini", "bicubic"), ("codeformer", "bicubic"), ("panini", None)):
        name, full, further, ratio = row(kind, background, photo, args.rounds)
        print(f"{name:44} {full:12.3f}s {further:12.3f}s {ratio:7.2f}", flush=True)


if __name__ == "__main__":
    main()
