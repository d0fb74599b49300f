"""The command-line package's shared parts: subcommand registration and progress output."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from kintsugi import cli
from kintsugi.cli.common import Progress
from kintsugi.engine.batch import BatchEvent

EXTRA = '''
def add_hello_parser(subs, common):
    p = subs.add_parser("hello", parents=[common], help="say hello")
    p.add_argument("--name", default="world")
    p.set_defaults(run=lambda o: print(f"hello {o.name}") or 3)
'''


def test_a_subcommand_is_one_registration_line(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "kintsugi_cli_hello.py").write_text(EXTRA)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "hello", "kintsugi_cli_hello:add_hello_parser")
    assert cli.main(["hello", "--name", "Ada"]) == 3
    assert capsys.readouterr().out == "hello Ada\n"
    listed = cli.build_parser().format_help()
    assert "hello" in listed and "upscale" in listed and "restore" in listed
    sys.modules.pop("kintsugi_cli_hello", None)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _event(status: str, index: int = 0) -> BatchEvent:
    return BatchEvent(index, 2, Path("in/a.jpg"), Path("out/a_x4.jpg"), status)


def test_progress_on_a_terminal_shows_a_bar_with_eta() -> None:
    stream = Terminal()
    progress = Progress(stream)
    progress.update(0.25, "tile 3 of 12")
    progress.event(_event("done"))
    progress.update(0.75, "tile 9 of 12")
    progress.close()
    text = stream.getvalue()
    assert "25%" in text and "tile 3 of 12" in text and "<" in text  # elapsed<remaining
    assert "[1/2] wrote out/a_x4.jpg" in text


def test_progress_in_a_pipe_is_only_the_file_lines() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress.update(0.25, "tile 3 of 12")
    progress.event(_event("started"))
    progress.event(_event("failed", 1))
    progress.close()
    assert stream.getvalue() == "[2/2] failed in/a.jpg\n"


NOISY = '''
import logging

def add_noisy_parser(subs, common):
    p = subs.add_parser("noisy", parents=[common])
    p.set_defaults(run=run)

def run(_o):
    logging.getLogger("PIL.PngImagePlugin").error("libpng says hi")
    logging.getLogger("kintsugi.engine.batch").warning("one of ours")
    return 0
'''


def test_other_libraries_messages_only_with_debug(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "kintsugi_cli_noisy.py").write_text(NOISY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "noisy", "kintsugi_cli_noisy:add_noisy_parser")
    assert cli.main(["noisy"]) == 0
    assert capsys.readouterr().err == "kintsugi: WARNING: one of ours\n"
    assert cli.main(["noisy", "--debug"]) == 0
    err = capsys.readouterr().err
    assert "libpng says hi" in err and "one of ours" in err
    sys.modules.pop("kintsugi_cli_noisy", None)


def test_the_command_leaves_logging_as_it_found_it(tmp_path, monkeypatch, capsys) -> None:
    import logging

    (tmp_path / "kintsugi_cli_noisy.py").write_text(NOISY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "noisy", "kintsugi_cli_noisy:add_noisy_parser")
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    assert cli.main(["noisy", "--debug"]) == 0
    assert (root.level, list(root.handlers)) == before
    capsys.readouterr()
    logging.getLogger("kintsugi.later").debug("after the command: not printed")
    assert capsys.readouterr().err == ""
    sys.modules.pop("kintsugi_cli_noisy", None)
