"""What every subcommand shares: exit codes, option groups, value types, the error line,
progress, Ctrl-C, model-id checks and the batch command run by `upscale` and `restore`."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kintsugi import KintsugiError

if TYPE_CHECKING:
    from kintsugi import BatchEvent, BatchItem, BatchOptions, BatchSummary, Job, TilePolicy

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130

Runner = Callable[..., "BatchSummary"]  # run_batch(items, options, job=, on_event=, process=)


class UsageError(KintsugiError):
    """The command line asks for something that cannot be (exit status 2)."""


# ----------------------------------------------------------------------------- value types


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def tile_size(text: str) -> TilePolicy:
    from kintsugi import TilePolicy

    try:
        return TilePolicy.parse(text)
    except KintsugiError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def number_in(convert: Callable[[str], float], low: float, high: float, what: str,
              unit: str = "") -> Callable[[str], Any]:
    """An argparse type: `convert(text)` (int or float) checked to lie in [low, high]."""
    kind = "a whole number" if convert is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be {kind}, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{what} must be between {low:g} and {high:g}{unit}, not {text}")
        return value

    return parse


def quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("quality must be 1-100")
    return value


# ----------------------------------------------------------------------------- option groups


def add_inputs_and_outputs(p: argparse.ArgumentParser, inputs: str = "+") -> None:
    """IN..., where results go, their format, and how folders are walked."""
    p.add_argument("inputs", nargs=inputs, type=Path, metavar="IN", help="photos or folders")
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", type=Path, help="output file (one input only)")
    where.add_argument("--out-dir", type=Path, help="output folder (mirrors sub-folders)")
    p.add_argument("--format", type=str.upper,
                   choices=["PNG", "JPEG", "TIFF", "WEBP", "AVIF", "HEIC", "HEIF"])
    p.add_argument("--bit-depth", type=int, choices=[8, 16])
    p.add_argument("--quality", type=quality, help="JPEG/WebP quality 1-100")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--skip-existing", action="store_true",
                   help="keep outputs that already exist (continues a cancelled or crashed batch)")


def add_compute_options(p: argparse.ArgumentParser) -> None:
    """Where and how the network runs."""
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--threads", type=positive_int, help="CPU threads to use")


# ----------------------------------------------------------------------------- output


def say(text: str, stream: IO[str] | None = None) -> None:
    out = stream or sys.stdout
    out.write(text + "\n")
    out.flush()


def error_line(text: str) -> None:
    say(f"kintsugi: error: {text}", sys.stderr)


def describe(error: BaseException) -> str:
    if isinstance(error, KintsugiError):
        return str(error)
    return f"{type(error).__name__}: {error} (run with --debug for details)"


class Progress:
    """A bar with percentage and ETA on a terminal (tqdm); per-file lines in any case.

    Not a terminal (a pipe, a log file): no bar at all, only the per-file lines.
    """

    STEPS = 1000

    def __init__(self, stream: IO[str] | None = None) -> None:
        from tqdm import tqdm

        self._stream = stream or sys.stderr
        size = shutil.get_terminal_size()
        self._bar = tqdm(total=self.STEPS, file=self._stream, disable=not self._stream.isatty(),
                         leave=False, mininterval=0.2,
                         # A pty that reports a 0x0 size (script, some CI consoles) would
                         # get no bar at all from tqdm; shutil falls back to 80x24.
                         ncols=min(size.columns, 100), nrows=size.lines,
                         bar_format="{percentage:3.0f}% |{bar:30}| {elapsed}<{remaining}  {desc}")

    def update(self, fraction: float, message: str = "") -> None:
        if self._bar.disable:
            return
        self._bar.set_description_str(message[:60], refresh=False)
        step = int(min(max(fraction, 0.0), 1.0) * self.STEPS)
        if step > self._bar.n:
            self._bar.update(step - self._bar.n)

    def event(self, event: BatchEvent) -> None:
        if event.status == "started":
            return
        text = {"done": "wrote", "skipped": "skipped (exists)", "failed": "failed"}[event.status]
        target = event.src if event.status == "failed" else event.dst
        self.write(f"[{event.index + 1}/{event.total}] {text} {target}")

    def write(self, line: str) -> None:
        if self._bar.disable:
            say(line, self._stream)
        else:
            self._bar.write(line, file=self._stream)

    def close(self) -> None:
        self._bar.close()


@contextmanager
def cancel_on_ctrl_c(job: Job) -> Iterator[None]:
    """Ctrl-C asks the job to stop cleanly (checked between tiles, faces and chunks)."""
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: job.cancel())
    except ValueError:  # not the main thread (e.g. called from a test runner thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ----------------------------------------------------------------------------- models


def check_model(name: str | None, option: str = "--model") -> None:
    """A model id that names nothing is a usage error; say where models are listed, or how
    to get one the library knows. Weights files are checked when they are loaded."""
    if name is None or _looks_like_a_file(name):
        return
    import kintsugi  # the public names: they stay put while the engine's modules move

    if any(m.id == name for m in kintsugi.list_models()):
        return
    entry = _library_entry(name)
    if entry is not None:
        raise UsageError(f"{option} {name}: {entry.id} is in the model library but not on this "
                         f"computer yet; get it with `kintsugi models download {entry.id}`")
    raise UsageError(f"unknown model {name!r} ({option}); `kintsugi models list` shows the "
                     "models you have, `kintsugi models library` the ones you can download")


def _looks_like_a_file(name: str) -> bool:
    from kintsugi import WEIGHT_SUFFIXES

    path = Path(name)
    return path.suffix.lower() in WEIGHT_SUFFIXES or path.exists()


def _library_entry(name: str) -> Any:
    from kintsugi import library_entries

    try:
        return next((e for e in library_entries() if e.id == name), None)
    except KintsugiError:  # an unreadable library must not hide the real message
        return None


# ----------------------------------------------------------------------------- batches


def run_files(o: argparse.Namespace, options: BatchOptions, work: Any = None,
              runner: Runner | None = None) -> int:
    """Plan the inputs, run them with progress and Ctrl-C, report; the exit status."""
    from kintsugi import BatchItem, Job, plan_batch, run_batch

    items: list[BatchItem]
    if o.output is not None:
        if len(o.inputs) != 1 or o.inputs[0].is_dir():
            raise UsageError("-o takes exactly one input file; use --out-dir")
        items = [BatchItem(o.inputs[0], o.output)]
    else:
        items = plan_batch(o.inputs, o.out_dir, options)
    if not items:
        raise UsageError("no images found in " + ", ".join(map(str, o.inputs)))
    progress = Progress()
    job = Job(on_progress=progress.update)
    try:
        with cancel_on_ctrl_c(job):
            if runner is None:
                summary = run_batch(items, options, job, on_event=progress.event, process=work)
            else:
                summary = runner(items, options, job=job, on_event=progress.event)
    finally:
        progress.close()
    return report(summary, len(items))


def report(summary: BatchSummary, total: int) -> int:
    if summary.cancelled:
        more = " (the same command with --skip-existing continues)" if total > 1 else ""
        error_line(f"cancelled; no partial file was written{more}")
        return EXIT_CANCELLED
    for src, message in summary.failed:
        error_line(message if src.name in message else f"{src}: {message}")
    parts = [f"{summary.done} done"]
    if summary.skipped:
        parts.append(f"{summary.skipped} skipped")
    if summary.failed:
        parts.append(f"{len(summary.failed)} failed")
    say(", ".join(parts) + f" in {summary.seconds:.1f} s", sys.stderr)
    return EXIT_FAILED if summary.failed else EXIT_OK
