"""`kintsugi upscale IN... [-o OUT | --out-dir DIR] [--model ID|FILE] ... [--ray [ADDRESS]]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kintsugi import KintsugiError
from kintsugi.cli import common

RAY_MISSING = ("--ray needs Ray, which is not installed here; install it with "
               "`pip install kintsugi[cluster]`")


def add_parser(subs: Any, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = subs.add_parser("upscale", parents=[parent], help="upscale photos or folders")
    common.add_inputs_and_outputs(p, inputs="*")  # "*": `--ray DIR` may take the last one
    p.add_argument("--model", help="model id (see `kintsugi models list`) or a weights file")
    p.add_argument("--scale", type=common.positive_int, help="output scale (default: the model's)")
    p.add_argument("--consistency", action="store_true",
                   help="lock the result so that shrinking it gives back the input exactly")
    p.add_argument("--mix", type=common.number_in(float, 0.0, 1.0, "--mix"), metavar="A",
                   help="where the model has a Mix partner (x4: rrdn-x4 faithful, "
                        "realesrgan-x4plus realistic), write the blend of the two at A, as the "
                        "window's Mix slider: 0 the faithful model alone, 1 the realistic one "
                        "(default: the Mix the window opens at, 0.25); refused for other models")
    p.add_argument("--tile", default="auto", type=common.tile_size, help="tile size in px, or auto")
    common.add_compute_options(p)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="compute precision; auto: the fastest the model is safe in on the device "
                        "(bf16 on CPUs with native bf16, fp16 on GPUs), else fp32")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS", action=_RayOption,
                   help="run the batch on a Ray cluster at ADDRESS (no address: a local Ray); "
                        "needs `pip install kintsugi[cluster]`")
    p.set_defaults(run=run)
    return p


def run(o: argparse.Namespace) -> int:
    from kintsugi import BatchOptions, make_work, mix_for, set_threads

    _take_back_an_input(o)
    common.check_model(o.model)
    runner = _ray_runner(o.ray) if o.ray is not None else None
    set_threads(o.threads)
    options = BatchOptions(model=o.model, scale=o.scale, consistency=o.consistency, tile=o.tile,
                           device=o.device, precision=o.precision, format=o.format, bit_depth=o.bit_depth,
                           quality=o.quality, recursive=o.recursive,
                           skip_existing=o.skip_existing, mix=o.mix)
    try:
        mix_for(options)
    except KintsugiError as error:
        raise common.UsageError(str(error)) from None
    if runner is not None:
        return common.run_files(o, options, runner=runner)
    work = make_work(options)
    work.prepare()  # a model that cannot load fails once, not once per file
    return common.run_files(o, options, work)


class _RayOption(argparse.Action):
    """`--ray [ADDRESS]`; in `--ray IN...` the optional value is an input: give it back."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, value: Any,
                 option_string: str | None = None) -> None:
        if value and Path(value).exists():
            namespace.ray_inputs = [Path(value)]
            value = ""
        setattr(namespace, self.dest, value)


def _take_back_an_input(o: argparse.Namespace) -> None:
    o.inputs = [*o.inputs, *getattr(o, "ray_inputs", [])]
    if not o.inputs:
        raise common.UsageError("upscale needs at least one photo or folder (IN)")


def _ray_runner(address: str) -> Any:
    """run_batch_on_ray with the address bound; Ray is imported only when asked for."""
    try:
        import ray  # noqa: F401 - only to say plainly when it is missing
    except ImportError:
        raise KintsugiError(RAY_MISSING) from None
    try:
        from kintsugi import run_batch_on_ray
    except ImportError as error:
        raise KintsugiError(f"--ray is not available in this build of Kintsugi ({error})") from None

    def runner(items: Any, options: Any, job: Any = None, on_event: Any = None) -> Any:
        return run_batch_on_ray(items, options, address=address or None, job=job,
                                on_event=on_event)

    return runner

