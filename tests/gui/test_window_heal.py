"""Heal in the window: paint, Heal, undo/redo restore exact pixels; on the photo and on a
result; nothing outside the feathered brush changes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_helpers import FAST_MODEL, open_photo, upscale
from PIL import Image as PILImage
from PySide6.QtCore import QPointF, Qt

import kintsugi

pytestmark = pytest.mark.gui

FEATHER = 16  # the engine's default feather (px beyond the painted mask)


@pytest.fixture
def face64(tmp_path: Path, astronaut_full: np.ndarray) -> Path:
    path = tmp_path / "photos" / "face64.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.ascontiguousarray(astronaut_full[40:168:2, 170:298:2])).save(path)
    return path


def paint_and_heal(qtbot, window, y: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A horizontal stroke across the picture at content row `y`, then Heal."""
    window.panel.set_mode("heal")
    assert window.canvas.brushes.tool == "heal"
    window.panel.heal.brush.set_size(8)
    canvas = window.canvas
    width = canvas.content_size().width()
    start = canvas.content_to_widget(QPointF(width * 0.3, y)).toPoint()
    end = canvas.content_to_widget(QPointF(width * 0.7, y)).toPoint()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    mask = canvas.brushes.mask("heal")
    assert mask is not None and mask.max() == 1.0
    with qtbot.waitSignal(window.heal.finished, timeout=120_000) as blocker:
        window.panel.heal.heal_button.click()
    assert blocker.args[0] == "ok", window.last_error()
    assert canvas.brushes.mask("heal") is None  # the stroke is used up
    return mask


def outside(mask: np.ndarray) -> np.ndarray:
    side = 2 * FEATHER + 3
    kernel = np.ones((side, side), np.uint8)  # the feather reaches FEATHER px in x and y
    return cv2.dilate((mask > 0).astype(np.uint8), kernel) == 0


def test_heal_the_photo_then_undo_and_redo_exactly(qtbot, make_window, face64: Path) -> None:
    window = make_window()
    open_photo(qtbot, window, face64)
    photo = kintsugi.open_image(face64).pixels
    mask = paint_and_heal(qtbot, window, 32)
    healed = window.current_result().image.pixels.copy()
    assert healed.shape == photo.shape and window.current_result().kind == "heal"
    far = outside(mask)
    assert far.any() and np.array_equal(healed[far], photo[far])  # bit-identical outside
    assert np.abs(healed - photo)[mask > 0.5].mean() > 1e-3  # the painted part changed
    assert window.current_result().provenance["operation"] == "heal"
    window.action("undo").trigger()
    assert window.current_result() is None and not window.canvas.has_after()
    window.action("redo").trigger()
    assert np.array_equal(window.current_result().image.pixels, healed)
    with qtbot.waitSignal(window.saver.saved, timeout=30_000) as blocker:
        window.saver.save()
    assert Path(blocker.args[0]).name == "face64_healed_x1.png"


def test_the_window_heal_note_is_the_command_lines(qtbot, make_window, face64: Path,
                                                  tmp_path: Path, monkeypatch) -> None:
    """The same heal (the photo, the default healer, factor and feather) says the same in the
    saved file whether the window or `kintsugi heal` made it."""
    import tqdm

    from kintsugi.cli import main

    monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 0)  # no monitor thread left behind

    window = make_window()
    open_photo(qtbot, window, face64)
    paint_and_heal(qtbot, window, 32)
    mask = tmp_path / "mask.png"
    PILImage.fromarray(np.full((64, 64), 255, np.uint8)).save(mask)
    out = tmp_path / "healed.png"
    assert main(["heal", str(face64), "--mask", str(mask), "-o", str(out)]) == 0
    assert window.current_result().provenance == kintsugi.read_provenance(out)


def test_a_healed_jpeg_saved_as_jpeg_keeps_the_original_blocks(qtbot, make_window,
                                                                 tmp_path: Path,
                                                                 astronaut_full: np.ndarray) -> None:
    photo = tmp_path / "photos" / "face.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.ascontiguousarray(astronaut_full[40:168, 170:298])).save(photo,
                                                                                  quality=85)
    window = make_window()
    open_photo(qtbot, window, photo)
    mask = paint_and_heal(qtbot, window, 64)
    window.panel.save_box.quality_spin.setValue(50)  # ignored: the heal keeps the original's quality
    with qtbot.waitSignal(window.saver.saved, timeout=30_000) as blocker:
        window.saver.save_to(tmp_path / "healed.jpg")
    saved = np.asarray(PILImage.open(blocker.args[0]))
    before = np.asarray(PILImage.open(photo))
    # Blocks beyond the feather and one 16 px block of alignment decode exactly as before.
    far = cv2.dilate((mask > 0).astype(np.uint8), np.ones((2 * (FEATHER + 19) + 1,) * 2,
                                                          np.uint8)) == 0
    assert far.mean() > 0.2 and np.array_equal(saved[far], before[far])
    assert not np.array_equal(saved, before)


def test_heal_a_result_and_undo_restores_its_exact_pixels(qtbot, make_window,
                                                          face64: Path) -> None:
    window = make_window(FAST_MODEL)
    open_photo(qtbot, window, face64)
    assert upscale(qtbot, window) == "ok"
    result = window.current_result().image.pixels.copy()
    mask = paint_and_heal(qtbot, window, 64)
    healed = window.current_result().image.pixels
    assert healed.shape == result.shape == (128, 128, 3)
    far = outside(mask)
    assert np.array_equal(healed[far], result[far])
    assert not np.array_equal(healed, result)
    window.action("undo").trigger()
    assert np.array_equal(window.current_result().image.pixels, result)


def test_heal_without_a_stroke_says_what_to_do(qtbot, make_window, face64: Path) -> None:
    window = make_window()
    open_photo(qtbot, window, face64)
    window.panel.set_mode("heal")
    window.panel.heal.heal_button.click()
    assert "Paint over" in window.panel.heal.run.label.text()
    assert window.current_result() is None


def test_a_second_heal_does_not_load_the_network_again(qtbot, make_window, face64: Path,
                                                       monkeypatch) -> None:
    window = make_window()
    open_photo(qtbot, window, face64)
    loads: list[str] = []
    real = kintsugi.load_model

    def counting(model_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(str(model_id))
        return real(model_id, *args, **kwargs)

    monkeypatch.setattr(kintsugi, "load_model", counting)
    monkeypatch.setattr("kintsugi.engine.registry.load_model", counting)
    paint_and_heal(qtbot, window, 20)
    paint_and_heal(qtbot, window, 44)
    assert len(loads) <= 1, loads


def test_undo_brings_the_stroke_back_to_try_another_factor(qtbot, make_window,
                                                           face64: Path) -> None:
    window = make_window()
    open_photo(qtbot, window, face64)
    mask = paint_and_heal(qtbot, window, 32)
    window.action("undo").trigger()
    assert window.current_result() is None
    again = window.canvas.brushes.mask("heal")
    assert again is not None and np.array_equal(again, mask)
    window.panel.heal.factor_combo.setCurrentIndex(window.panel.heal.factor_combo.findData(4))
    with qtbot.waitSignal(window.heal.finished, timeout=120_000) as blocker:
        window.panel.heal.heal_button.click()
    assert blocker.args[0] == "ok", window.last_error()
    note = window.current_result().provenance
    assert note["factor"] == "4" and "healed_from" not in note  # of the photo, once
    window.action("undo").trigger()
    window.action("redo").trigger()  # the heal again: its stroke is used up again
    assert window.canvas.brushes.mask("heal") is None


def test_brush_size_moves_in_fine_steps_and_with_the_bracket_keys(qtbot, make_window,
                                                                  face64: Path) -> None:
    window = make_window()
    open_photo(qtbot, window, face64)
    window.panel.set_mode("heal")
    brush = window.panel.heal.brush
    brush.set_size(9)
    assert window.canvas.brushes.tool == "heal" and window.canvas.brushes.size == 9
    brush.size_slider.setValue(brush.size_slider.value() + 10)  # a small drag: 1% of its width
    assert 9 < brush.size() <= 10
    brush.size_spin.stepUp()
    assert brush.size() == brush.size_spin.value() and brush.size_spin.singleStep() == 1
    brush.set_size(20)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    assert brush.size() == 23 and window.canvas.brushes.size == 23
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketLeft)
    assert brush.size() == 17
    brush.set_size(2)
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketLeft)
    assert brush.size() == 1  # one pixel at a time at the small end
    window.panel.set_mode("upscale")  # the heal brush's keys are off with its tab
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    assert brush.size() == 1
