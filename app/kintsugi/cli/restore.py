"""`kintsugi restore IN... --model ID|FILE [--bias B] [--bias-block K=B ...] [--bias-map IMAGE]
[--faces all|0,2|min:PX|aligned] [--background ID|FILE|bicubic] [--seed S] [--no-color-match]`,
with the same outputs, folders, --recursive and --skip-existing as `upscale` (one batch runner).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kintsugi.cli import common

BIAS_LIMIT = 1.0  # mask-space bias saturates at +-1 (GAN prior only / input only)


def add_parser(subs: Any, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = subs.add_parser("restore", parents=[parent],
                        help="restore faces in photos with a GAN-prior model (Panini, GLEAN, ...)")
    common.add_inputs_and_outputs(p)
    p.add_argument("--model", required=True,
                   help="face model id or weights file; `kintsugi models list` shows your face "
                        "models, `kintsugi models library` the ones you can download")
    p.add_argument("--bias", type=_bias, default=0.0,
                   help="mask bias -1..1: + more GAN prior (realness), - more input (fidelity); Panini only")
    p.add_argument("--bias-block", dest="bias_blocks", type=_bias_block, action="append",
                   default=[], metavar="K=B", help="extra bias for DAFI block K (0 = coarsest); repeatable")
    p.add_argument("--bias-map", type=Path, metavar="IMAGE",
                   help="grey image over the photo: white +1, mid-grey 0, black -1 (added to the bias)")
    p.add_argument("--faces", type=_faces, default="all", metavar="all|0,2|min:PX|aligned",
                   help="which faces: all, indices from the left, a minimum size in px, or "
                        "'aligned' if the input already is an aligned face crop")
    p.add_argument("--background", help="upscaler for the rest of the photo: a model id, a file, "
                                        "or bicubic (default: the default upscaler)")
    p.add_argument("--scale", type=common.positive_int,
                   help="photo scale (default: the face model's, at most 4)")
    p.add_argument("--consistency", action="store_true",
                   help="lock the result so that shrinking it gives back the input exactly")
    p.add_argument("--seed", type=int, help="re-draw the generator noise: alternative restorations")
    p.add_argument("--fidelity", type=_fidelity, metavar="W",
                   help="fidelity weight 0..1 of models that have one (CodeFormer's w): "
                        "0 more realness, 1 closest to the photo (default 0.5)")
    p.add_argument("--side-outputs", type=Path, metavar="DIR",
                   help="Pro-PULSE on aligned faces: also write the side outputs (32..512 px) here")
    p.add_argument("--no-color-match", dest="color_match", action="store_false", default=None,
                   help="keep the face model's colours instead of matching the photo's "
                        "(aligned crops always keep them)")
    common.add_compute_options(p)
    p.set_defaults(run=run)
    return p


def run(o: argparse.Namespace) -> int:
    import kintsugi

    common.check_model(o.model)
    if o.background is not None and o.background.lower() != "bicubic":
        common.check_model(o.background, "--background")
    kintsugi.set_threads(o.threads)
    spec = kintsugi.RestoreSpec(model=o.model, faces=o.faces, background=o.background,
                                scale=o.scale, consistency=o.consistency, color_match=o.color_match)
    controls = kintsugi.Controls(bias=o.bias, bias_blocks=tuple(o.bias_blocks),
                                 fidelity=o.fidelity, seed=o.seed)
    options = kintsugi.BatchOptions(restore=spec, controls=controls, bias_map=o.bias_map,
                                    side_outputs=o.side_outputs, device=o.device, format=o.format,
                                    bit_depth=o.bit_depth, quality=o.quality,
                                    recursive=o.recursive, skip_existing=o.skip_existing,
                                    name_pattern="{stem}_restored")
    work = kintsugi.make_work(options)
    work.prepare()  # models and the bias map load once, and fail once
    return common.run_files(o, options, work)


# ----------------------------------------------------------------------------- value types


_bias = common.number_in(float, -BIAS_LIMIT, BIAS_LIMIT, "bias")
_fidelity = common.number_in(float, 0.0, 1.0, "fidelity")


def _bias_block(text: str) -> tuple[int, float]:
    block, sep, value = text.partition("=")
    if not sep or not block.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected K=B (e.g. 0=0.5), not {text!r}")
    return int(block), _bias(value)


def _faces(text: str) -> Any:
    text = text.strip().lower()
    if text in ("all", ""):
        return "all"
    if text in ("aligned", "none"):
        return None
    if text.startswith("min:"):
        return common.positive_int(text[4:])
    try:
        indices = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"faces must be all, indices like 0,2, min:PX or aligned, not {text!r}") from None
    if any(i < 0 for i in indices):
        raise argparse.ArgumentTypeError("face indices start at 0")
    return indices
