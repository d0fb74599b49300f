"""Shared by the GUI tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

FAST_MODEL = "waifu2x-photo-x2"  # ~0.2 s on 48 px: for the many control tests
DEFAULT_MODEL = "realesrgan-x4plus"  # the shipped default, used end to end


def open_photo(qtbot, window, path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.opener.opened, timeout=30_000):
        window.opener.open_path(path)


def upscale(qtbot, window, timeout: int = 300_000) -> str:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.upscale.finished, timeout=timeout) as blocker:
        window.upscale.start()
    return blocker.args[0]
