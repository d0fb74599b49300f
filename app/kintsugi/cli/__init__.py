"""Command line: `kintsugi upscale|restore|models|gui ...`, or `kintsugi PATH...` for the window.

Exit status: 0 all good, 1 some files failed, 2 usage error, 130 cancelled by Ctrl-C.
One readable line per error; a traceback only with --debug.

Adding a subcommand is one line in COMMANDS: its name and "module:function", where
``function(subs, common)`` adds its parser with ``subs.add_parser(NAME, parents=[common])``
(``common`` holds --debug) and sets ``run=<function(namespace) -> exit status>``. Shared option
groups, progress, Ctrl-C and the batch runner are in ``kintsugi.cli.common``. The module is
imported when the parser is built, so it should import torch and the engine inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kintsugi import __version__
from kintsugi.cli.common import EXIT_FAILED, EXIT_USAGE, UsageError, describe, error_line

COMMANDS: dict[str, str] = {
    "upscale": "kintsugi.cli.upscale:add_parser",
    "restore": "kintsugi.cli.restore:add_parser",
    "heal": "kintsugi.cli.heal:add_heal_parser",
    "models": "kintsugi.cli.models:add_parser",
    "train": "kintsugi.cli.train:add_train_parser",
    "gui": "kintsugi.cli:add_gui_parser",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] not in COMMANDS and not args[0].startswith("-")):
        return open_window(args)
    options = build_parser().parse_args(args)
    with logging_for_the_command(options.debug):
        try:
            return int(options.run(options))
        except UsageError as error:
            error_line(str(error))
            return EXIT_USAGE
        except Exception as error:  # noqa: BLE001 - the one place errors become a line
            if options.debug:
                raise
            error_line(describe(error))
            return EXIT_FAILED


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (tests and callers swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


@contextmanager
def logging_for_the_command(debug: bool) -> Iterator[None]:
    """Kintsugi's own warnings as `kintsugi: WARNING: ...`; other libraries' log records and
    Python warnings (torch, Pillow: with source lines) only with --debug. Undone afterwards,
    so main() can be called again in one process."""
    root = logging.getLogger()
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("kintsugi: %(levelname)s: %(message)s"))
    if not debug:
        handler.addFilter(lambda record: record.name.split(".")[0] == "kintsugi")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.setLevel(level)
        root.removeHandler(handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kintsugi", description="Faithful photo upscaling.")
    parser.add_argument("--version", action="version", version=f"kintsugi {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subs = parser.add_subparsers(dest="command", required=True)
    for target in COMMANDS.values():
        _registered(target)(subs, common)
    return parser


def _registered(target: str) -> Any:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def add_gui_parser(subs: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    gui = subs.add_parser("gui", parents=[common], help="open the window")
    gui.add_argument("paths", nargs="*")
    gui.set_defaults(run=lambda o: open_window(o.paths))
    return gui


def open_window(paths: Sequence[str]) -> int:
    if any(p.startswith("-") for p in paths):
        build_parser().parse_args(list(paths))  # prints usage and exits 2
    try:
        from kintsugi.gui.app import run_app
    except ImportError as error:
        error_line(f"the window cannot start ({error})")
        return EXIT_FAILED
    return run_app(list(paths))

