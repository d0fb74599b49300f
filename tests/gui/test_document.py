"""The window's document without any window: the photo, its results, undo, saved or not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import kintsugi
from kintsugi.gui.document import Document
from kintsugi.gui.history import ResultEntry

APP_DIR = Path(kintsugi.__file__).resolve().parent.parent


def _photo(fmt: str | None = "JPEG") -> kintsugi.Image:
    image = kintsugi.Image.from_array(np.zeros((8, 8, 3), np.uint8))
    image.metadata.source_format = fmt
    return image


def _result(kind: str = "upscale", scale: int = 2, preview: bool = False) -> ResultEntry:
    image = kintsugi.Image.from_array(np.zeros((8 * scale, 8 * scale, 3), np.uint8))
    return ResultEntry(image, None, None, kind, "m", scale, None, preview=preview)


def _opened(document: Document, fmt: str | None = "JPEG") -> Document:
    document.open(_photo(fmt), Path("/photos/old.jpg"), np.zeros((8, 8, 3), np.uint8))
    return document


def test_results_undo_and_events() -> None:
    document = _opened(Document())
    shown: list[ResultEntry | None] = []
    document.result_changed.connect(shown.append)
    first, second = _result(), _result()
    document.add(first)
    document.add(second)
    document.undo()
    assert shown == [first, second, first] and document.current() is first
    document.redo()
    assert document.current() is second and not document.history.can_redo()


def test_a_preview_replaces_the_preview_before_it() -> None:
    document = _opened(Document())
    document.add(_result("restore", 1, preview=True))
    latest = _result("restore", 1, preview=True)
    document.add(latest)
    assert len(document.history) == 1 and document.current() is latest
    assert document.input_image() is latest.image  # a same-size edit is what runs next


def test_unsaved_follows_the_result_on_show() -> None:
    document = _opened(Document())
    changes: list[bool] = []
    document.unsaved_changed.connect(changes.append)
    assert not document.unsaved
    result = _result()
    document.add(result)
    assert document.unsaved
    document.mark_saved(result)
    assert not document.unsaved
    document.add(_result())
    document.undo()  # back on the saved one
    assert changes == [True, False, True, False] and not document.unsaved


def test_opening_starts_over_in_the_photo_s_own_format() -> None:
    document = _opened(Document(), "JPEG")
    document.add(_result())
    document.masks["realness"] = np.ones((2, 2), np.float32)
    token = document.token
    document.open(_photo("GIF"), None, np.zeros((8, 8, 3), np.uint8))
    assert document.current() is None and not document.unsaved and not document.masks
    assert document.token == token + 1 and document.name == "Pasted image"
    assert document.save_format() == "PNG"  # GIF is not written: PNG, as on the command line
    assert _opened(Document(), "JPEG").save_format() == "JPEG"


def test_the_document_needs_no_qt() -> None:
    code = ("import sys, kintsugi.gui.document; "
            "sys.exit(any(m.startswith('PySide6') for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(APP_DIR)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
