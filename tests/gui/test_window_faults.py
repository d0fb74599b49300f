"""The window faults seen when Kintsugi was tried (issue 7 section 3, issue 8 section 7), each
checked the way a user met it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gui_helpers import FAST_MODEL, open_photo, upscale
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel

import kintsugi
from kintsugi.gui.canvas import CompareCanvas
from kintsugi.gui.imaging import to_qimage

pytestmark = pytest.mark.gui


@pytest.fixture
def held_upscale(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """kintsugi.upscale waits (at 50%) until the test sets the event, then runs for real."""
    release = threading.Event()
    real = kintsugi.upscale

    def held(*args: Any, **kwargs: Any) -> Any:
        job = kwargs.get("job")
        if job is not None:
            job.set_progress(0.5, "tile 1/2")
        while not release.wait(0.02):
            if job is not None:
                job.check()
        return real(*args, **kwargs)

    monkeypatch.setattr(kintsugi, "upscale", held)
    return release


def test_a_second_request_while_busy_never_restarts_the_run(
        qtbot, make_window, photo_path: Path, held_upscale: threading.Event) -> None:
    window = make_window()
    open_photo(qtbot, window, photo_path)
    finished: list[str] = []
    window.upscale.finished.connect(finished.append)
    window.upscale.start()
    running = window.upscale.runner.current_task()
    button = window.panel.upscale_button
    assert "Cancel" in button.text() and button.isEnabled()
    assert not window.action("upscale").isEnabled()  # Ctrl+Enter does nothing while busy
    window.upscale.start()  # ... and neither does a direct request
    window.action("upscale").trigger()
    assert window.upscale.runner.current_task() is running and not running.job.cancelled
    qtbot.waitUntil(lambda: "elapsed" in window.panel.progress_label.text(), timeout=10_000)
    qtbot.waitUntil(lambda: "left" in window.panel.progress_label.text(), timeout=10_000)
    held_upscale.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    assert finished == ["ok"] and "Upscale" in button.text()
    assert window.panel.progress_label.text().startswith("Done in")


def test_the_busy_button_cancels(qtbot, make_window, photo_path: Path,
                                 held_upscale: threading.Event) -> None:
    window = make_window()
    open_photo(qtbot, window, photo_path)
    window.upscale.start()
    with qtbot.waitSignal(window.upscale.finished, timeout=30_000) as blocker:
        window.panel.upscale_button.click()
    assert blocker.args[0] == "cancelled" and window.current_result() is None
    assert "Upscale" in window.panel.upscale_button.text()


def test_old_status_is_cleared_when_another_photo_opens(qtbot, make_window, photo_path: Path,
                                                        photo_path_32: Path) -> None:
    window = make_window()
    open_photo(qtbot, window, photo_path)
    assert upscale(qtbot, window) == "ok"
    assert window.panel.progress_label.text().startswith("Done in")
    open_photo(qtbot, window, photo_path_32)
    assert window.panel.progress_label.text() == ""
    assert window.panel.result_info.text() == ""


def test_target_width_picks_the_whole_scale_and_names_native_models(
        qtbot, make_window, photo_path: Path) -> None:
    window = make_window()
    open_photo(qtbot, window, photo_path)  # 48 px
    panel = window.panel
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("width"))
    panel.target_spin.setValue(150)
    assert panel.chosen_scale() == 4  # x3 gives 144 px, short of 150
    note = panel.size_note.text()
    assert "192×192 px" in note and "Native ×4" in note and "RRDN" in note
    panel.select_model("rrdn-x4")
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData(2))
    assert "Native ×2" in panel.size_note.text() and "4× the work" in panel.size_note.text()
    panel.select_model(FAST_MODEL)
    assert "own scale" in panel.size_note.text()
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("height"))
    panel.target_spin.setValue(96)
    assert upscale(qtbot, window) == "ok"
    assert window.current_result().image.height == 96


def test_print_size_sets_scale_and_the_saved_resolution(qtbot, make_window,
                                                        photo_path: Path) -> None:
    window = make_window()
    open_photo(qtbot, window, photo_path)  # 48 px
    panel = window.panel
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("print"))
    panel.print_spin.setValue(2.0)
    panel.dpi_spin.setValue(120)  # 2 cm at 120 dpi = 94.5 px: x2
    assert panel.chosen_scale() == 2
    assert upscale(qtbot, window) == "ok"
    with qtbot.waitSignal(window.saver.saved, timeout=30_000) as blocker:
        window.saver.save()
    saved = kintsugi.open_image(blocker.args[0])
    assert saved.width == 96 and saved.metadata.dpi is not None
    assert saved.metadata.dpi[0] == pytest.approx(120, abs=0.5)


def test_transparent_pixels_show_a_checkerboard(qtbot) -> None:
    canvas = CompareCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(200, 200)
    canvas.show()
    clear = np.zeros((40, 40, 4), np.uint8)  # fully transparent
    canvas.set_before(to_qimage(clear))
    canvas.fit()
    shot = canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    centre = [shot.pixelColor(QPoint(x, 100)).name() for x in range(60, 140)]
    assert len(set(centre)) == 2  # two alternating greys, not the flat canvas background


def test_ordinary_errors_are_logged_at_debug_level(qtbot, make_window, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    window = make_window()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a PNG")
    caplog.set_level(logging.DEBUG, logger="kintsugi")
    with qtbot.waitSignal(window.error_shown, timeout=30_000):
        window.opener.open_path(bad)
    records = [r for r in caplog.records if r.name == "kintsugi.gui.worker"]
    assert records and all(r.levelno == logging.DEBUG for r in records)


def test_history_keeps_model_ids_not_models(qtbot, make_window, photo_path: Path) -> None:
    window = make_window()
    open_photo(qtbot, window, photo_path)
    assert upscale(qtbot, window) == "ok"
    entry = window.current_result()
    assert entry.model_id == FAST_MODEL
    assert not any(isinstance(v, kintsugi.Model) for v in vars(entry).values())


def _cut_labels(root: Any) -> list[str]:
    cut = []
    for label in root.findChildren(QLabel):
        if not label.isVisible() or label.wordWrap() or not label.text():
            continue
        if "<" in label.text():
            continue  # rich text: measured by its document, not here
        if label.fontMetrics().horizontalAdvance(label.text()) > label.width() + 1:
            cut.append(label.text())
    return cut


def test_the_side_panel_fits_1280x820_after_an_upscale(qtbot, make_window,
                                                       photo_path: Path) -> None:
    window = make_window()
    window.resize(1280, 820)
    open_photo(qtbot, window, photo_path)
    assert upscale(qtbot, window) == "ok"
    for mode in ("upscale", "restore", "heal"):
        window.panel.set_mode(mode)
        qtbot.wait(50)
        save = window.panel.save_box.save_button
        assert save.isVisible() and not save.visibleRegion().isEmpty(), mode
        top_left = save.mapTo(window, QPoint(0, 0))
        assert top_left.y() + save.height() <= window.height(), mode
        assert _cut_labels(window.panel) == [], mode
