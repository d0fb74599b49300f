"""Command line for GAN-prior restoration and user models.

    kintsugi restore IN... [-o OUT | --out-dir DIR] --model ID|FILE [--bias B]
        [--bias-block K=B ...] [--bias-map IMAGE] [--faces all|0,2|min:PX|aligned]
        [--background ID|FILE|bicubic] [--consistency] [--seed S] [--no-color-match]
    kintsugi models import FILE [--id ID]
    kintsugi models library
    kintsugi models download ID

cli.py calls add_restore_parser(subs, common) and add_model_commands(msubs, common); each
subparser sets run=<function(namespace) -> exit code>. Exit codes as cli.py: 0 all good,
1 something failed (one line per error), 2 usage error, 130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kintsugi import cli_common
from kintsugi.cli_common import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE

BIAS_LIMIT = 1.0  # mask-space bias saturates at +-1 (GAN prior only / input only)

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- parsers


def add_restore_parser(subs: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = subs.add_parser("restore", parents=[common],
                        help="restore faces in photos with a GAN-prior model (Panini, GLEAN, ...)")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", type=Path, help="output file (one input only)")
    where.add_argument("--out-dir", type=Path, help="output folder")
    p.add_argument("--model", required=True,
                   help="face model id (see `kintsugi models list`) or a weights file")
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
    p.add_argument("--scale", type=cli_common.positive_int, help="photo scale (default: the face model's, at most 4)")
    p.add_argument("--consistency", action="store_true",
                   help="lock the result so that shrinking it gives back the input exactly")
    p.add_argument("--seed", type=int, help="re-draw the generator noise: alternative restorations")
    p.add_argument("--no-color-match", dest="color_match", action="store_false",
                   help="keep the face model's colours instead of matching the photo's")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--side-outputs", type=Path, metavar="DIR",
                   help="Pro-PULSE, aligned faces: also write the side outputs (32..512 px) here")
    p.add_argument("--threads", type=cli_common.positive_int, help="CPU threads to use")
    p.add_argument("--format", type=str.upper, choices=["PNG", "JPEG", "TIFF", "WEBP"])
    p.add_argument("--bit-depth", type=int, choices=[8, 16])
    p.add_argument("--quality", type=cli_common.quality, help="JPEG/WebP quality 1-100")
    p.set_defaults(run=run_restore)
    return p


def add_model_commands(msubs: Any, common: argparse.ArgumentParser) -> None:
    imp = msubs.add_parser("import", parents=[common],
                           help="add a .safetensors/.pth model file to your models")
    imp.add_argument("file", type=Path)
    imp.add_argument("--id", dest="model_id", help="id to give it (default: from the file name)")
    imp.set_defaults(run=run_import)
    lib = msubs.add_parser("library", parents=[common],
                           help="official checkpoints you can download, with their licences")
    lib.set_defaults(run=run_library)
    down = msubs.add_parser("download", parents=[common],
                            help="download an official checkpoint (resumable, verified)")
    down.add_argument("id")
    down.set_defaults(run=run_download)


# ----------------------------------------------------------------------------- argument types






def _bias(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bias must be a number, not {text!r}") from None
    if not -BIAS_LIMIT <= value <= BIAS_LIMIT:
        raise argparse.ArgumentTypeError(f"bias must be between -1 and 1, not {text}")
    return value


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
        return cli_common.positive_int(text[4:])
    try:
        indices = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"faces must be all, indices like 0,2, min:PX or aligned, not {text!r}") from None
    if any(i < 0 for i in indices):
        raise argparse.ArgumentTypeError("face indices start at 0")
    return indices


# ----------------------------------------------------------------------------- restore


def run_restore(o: argparse.Namespace) -> int:
    from kintsugi.engine.device import set_threads
    from kintsugi.engine.errors import Cancelled, KintsugiError
    from kintsugi.engine.imageio import output_format_for, save_image
    from kintsugi.engine.job import Job
    from kintsugi.engine.restore import restore, restore_provenance

    if o.output is not None and len(o.inputs) != 1:
        _error("-o takes exactly one input file; use --out-dir")
        return EXIT_USAGE
    set_threads(o.threads)
    try:
        model = _load(o.model, o.device)
        background = _background(o.background, o.device, o.faces)
        bias_map = _read_bias_map(o.bias_map) if o.bias_map else None
    except KintsugiError as error:
        _error(str(error))
        return EXIT_FAILED
    blocks = dict(o.bias_blocks)
    job = Job()
    failed = done = 0
    with _cancel_on_ctrl_c(job):
        for n, src in enumerate(o.inputs, start=1):
            try:
                image = _open(src)
                result = restore(image, model, bias=o.bias, bias_blocks=blocks or None,
                                 bias_map=bias_map, faces=o.faces, background=background,
                                 consistency=o.consistency, seed=o.seed, job=job,
                                 color_match=o.color_match, scale=o.scale, device=o.device)
                scale = result.width // image.width
                dst = _destination(src, o, output_format_for(image.metadata.source_format))
                provenance = restore_provenance(
                    model, scale, o.consistency, o.bias, blocks, bias_map is not None, o.faces,
                    o.background, o.seed)
                save_image(result, dst, format=o.format, bit_depth=o.bit_depth, quality=o.quality,
                           provenance=provenance)
                if o.side_outputs is not None:
                    from kintsugi.cli_train import write_side_outputs
                    write_side_outputs(model, image, src, o.side_outputs, o.faces)
                done += 1
                _say(f"[{n}/{len(o.inputs)}] wrote {dst}", err=True)
            except Cancelled:
                _error("cancelled; no partial file was written")
                return EXIT_CANCELLED
            except KintsugiError as error:
                failed += 1
                message = str(error)
                _error(message if src.name in message else f"{src}: {message}")
    _say(f"{done} done" + (f", {failed} failed" if failed else ""), err=True)
    return EXIT_FAILED if failed else EXIT_OK


def _load(model: str, device: str) -> Any:
    from kintsugi.engine.registry import load_model

    return load_model(model, device)


def _background(name: str | None, device: str, faces: Any) -> Any:
    """Load a background upscaler once for all inputs (bicubic and the default stay names)."""
    if name is None or faces is None or name.lower() == "bicubic":
        return name
    return _load(name, device)


def _open(src: Path) -> Any:
    from kintsugi.engine.imageio import open_image

    return open_image(src)


def _read_bias_map(path: Path) -> Any:
    """Grey levels 0..1 -> bias -1..1 (mid-grey = no change)."""
    image = _open(path)
    grey = image.pixels.mean(axis=2)
    return grey * 2.0 - 1.0


def _destination(src: Path, o: argparse.Namespace, fmt: str) -> Path:
    """-o as given; else <stem>_restored beside the input (or in --out-dir), in the input's
    format when Kintsugi can write it, keeping the input's own extension spelling."""
    from kintsugi.engine.batch import EXTENSIONS
    from kintsugi.engine.imageio import format_for_path

    if o.output is not None:
        return o.output
    fmt = (o.format or fmt).upper()
    ext = src.suffix if format_for_path(src) == fmt else EXTENSIONS[fmt]
    folder = o.out_dir if o.out_dir is not None else src.parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{src.stem}_restored{ext}"


# ----------------------------------------------------------------------------- models


def run_import(o: argparse.Namespace) -> int:
    from kintsugi.engine.errors import KintsugiError
    from kintsugi.engine.importer import import_model

    try:
        entry = import_model(o.file, model_id=o.model_id)
    except KintsugiError as error:
        _error(str(error))
        return EXIT_FAILED
    _say(f"imported {entry.id}: {entry.arch} ({entry.kind}, x{entry.scale}, via {entry.engine}) "
         f"-> {entry.path}")
    return EXIT_OK


def run_library(_o: argparse.Namespace) -> int:
    from kintsugi.engine.errors import KintsugiError
    from kintsugi.engine.importer import read_manifest
    from kintsugi.engine.library import library_entries

    try:
        entries = library_entries()
        have = {m.id for m in read_manifest() if m.path.is_file()}
    except KintsugiError as error:
        _error(str(error))
        return EXIT_FAILED
    for e in entries:
        state = "downloaded" if e.id in have else ("available" if e.downloadable else "not supported")
        mark = "NC" if e.non_commercial else "  "
        _say(f"{e.id:16} x{e.scale:<3} {e.arch:11} {e.in_size:>4}->{e.out_size:<5} {state:13} {mark} {e.name}")
        _say(f"{'':16} licence: {e.licence}")
        _say(f"{'':16} from: {e.urls[0] if e.urls else e.page}  (checksum: {e.verification})")
    _say("NC = non-commercial use only. Download with `kintsugi models download ID`.")
    return EXIT_OK


def run_download(o: argparse.Namespace) -> int:
    from kintsugi.engine.errors import Cancelled, KintsugiError
    from kintsugi.engine.job import Job
    from kintsugi.engine.library import download_checkpoint

    job = Job(on_progress=_progress_line())
    try:
        with _cancel_on_ctrl_c(job):
            entry = download_checkpoint(o.id, job=job)
    except Cancelled:
        _error("cancelled; run the same command again to resume the download")
        return EXIT_CANCELLED
    except KintsugiError as error:
        _error(str(error))
        return EXIT_FAILED
    finally:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
    _say(f"downloaded {entry.id}: {entry.arch} (x{entry.scale}) -> {entry.path}")
    _say(f"licence: {entry.licence}")
    return EXIT_OK


# ----------------------------------------------------------------------------- output


def _say(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _error(text: str) -> None:
    _say(f"kintsugi: error: {text}", err=True)


def _progress_line() -> Callable[[float, str], None]:
    def update(fraction: float, message: str) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{fraction:6.1%}  {message}"[:100].ljust(100))
            sys.stderr.flush()

    return update


@contextmanager
def _cancel_on_ctrl_c(job: Any) -> Iterator[None]:
    """Ctrl-C asks the job to stop cleanly (checked between faces / chunks)."""
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: job.cancel())
    except ValueError:  # not the main thread (e.g. called from a test runner thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
