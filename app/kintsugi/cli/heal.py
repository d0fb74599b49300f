"""`kintsugi heal PHOTO --mask MASK.png [-o OUT] [--model ID] [--factor N] [--feather PX]`

The mask is an image of the photo's size: white (or opaque, in a mask with transparency)
marks what to heal. The original is never overwritten; the default output is
<stem>_healed.<ext> beside it. Exit codes as cli.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kintsugi.cli import common as shared
from kintsugi.cli.common import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE


def add_heal_parser(subs: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from kintsugi import DEFAULT_FACTOR, DEFAULT_FEATHER, MAX_FACTOR, MAX_FEATHER, MIN_FACTOR

    p = subs.add_parser("heal", parents=[common],
                        help="heal retouched or damaged regions painted in a mask")
    p.add_argument("photo", type=Path, metavar="PHOTO")
    p.add_argument("--mask", type=Path, required=True, metavar="MASK",
                   help="image of the photo's size: white = heal, black = keep")
    p.add_argument("-o", "--output", type=Path, help="output file (default: <stem>_healed.<ext>)")
    p.add_argument("--model", help="upscaler or GLEAN model id, or a weights file "
                                   "(default: an imported GLEAN model, else the default upscaler)")
    p.add_argument("--factor", type=shared.number_in(int, MIN_FACTOR, MAX_FACTOR, "factor"), default=DEFAULT_FACTOR,
                   help=f"shrink the region this many times before enlarging it back "
                        f"({MIN_FACTOR}-{MAX_FACTOR}, default {DEFAULT_FACTOR}: keeps the most detail)")
    p.add_argument("--feather", type=shared.number_in(int, 0, MAX_FEATHER, "feather", " px"), default=DEFAULT_FEATHER, metavar="PX",
                   help=f"soft edge reaching this many px beyond the mask (default {DEFAULT_FEATHER})")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--threads", type=shared.positive_int, help="CPU threads to use")
    p.add_argument("--bit-depth", type=int, choices=[8, 16])
    p.add_argument("--quality", type=shared.quality, help="JPEG/WebP quality 1-100")
    p.set_defaults(run=run_heal)
    return p


def run_heal(o: argparse.Namespace) -> int:
    from kintsugi import (
        Cancelled,
        Job,
        KintsugiError,
        heal,
        heal_note,
        load_model,
        open_image,
        save_image,
        set_threads,
    )

    set_threads(o.threads)
    job = Job(on_progress=shared.Progress().update)
    try:
        image = open_image(o.photo)
        mask = read_mask(o.mask, image.width, image.height)
        dst = destination(o.photo, o.output)
        model = load_model(o.model, o.device) if o.model else None
        with shared.cancel_on_ctrl_c(job):
            result = heal(image, mask, model=model, factor=o.factor, feather=o.feather, job=job,
                          device=o.device)
        model_id = model.info.id if model is not None else _default_id()
        save_image(result, dst, bit_depth=o.bit_depth, quality=o.quality,
                   provenance=heal_note(model_id, o.factor, o.feather), edit_of=image)
    except Cancelled:
        shared.error_line("cancelled; no file was written")
        return EXIT_CANCELLED
    except _SameFile as error:
        shared.error_line(str(error))
        return EXIT_USAGE
    except KintsugiError as error:
        shared.error_line(str(error))
        return EXIT_FAILED
    shared.say(f"wrote {dst}", sys.stderr)
    return EXIT_OK


class _SameFile(Exception):
    pass


def destination(photo: Path, output: Path | None) -> Path:
    """-o as given, else <stem>_healed<ext> beside the photo; never the photo itself."""
    dst = output if output is not None else photo.with_name(f"{photo.stem}_healed{photo.suffix}")
    if dst.exists() and photo.exists() and dst.resolve() == photo.resolve():
        raise _SameFile(f"{dst} is the photo itself; Kintsugi never overwrites an original")
    return dst


def read_mask(path: Path, width: int, height: int) -> Any:
    """Mask image -> HxW 0..1: brightness, times opacity when the file has transparency."""
    from kintsugi import KintsugiError, open_image

    mask = open_image(path)
    if (mask.width, mask.height) != (width, height):
        raise KintsugiError(f"the mask {path.name} is {mask.width}x{mask.height}, the photo "
                            f"{width}x{height}; paint the mask at the photo's size")
    values = mask.pixels.mean(axis=2)
    return values if mask.alpha is None else values * mask.alpha


def _default_id() -> str:
    from kintsugi import default_healer

    return default_healer()
