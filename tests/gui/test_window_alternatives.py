"""Alternatives in the Upscale tab with the shipped models on a real photo: every control
moves the output in its intended direction, the mix ends are the two models' own results,
stale slider requests are dropped, the strip fills, and a brush stroke changes only what
it covers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import DEFAULT_MODEL, FAST_MODEL, open_photo, upscale
from PIL import Image as PILImage
from PySide6.QtCore import QPoint, QPointF, Qt

import kintsugi
from kintsugi.engine.alt_session import Setting, strip_settings

pytestmark = pytest.mark.gui


@pytest.fixture
def tiny_photo(tmp_path: Path, astronaut_full: np.ndarray) -> Path:
    """32 px of the astronaut's face: x4 takes a fraction of a second per model."""
    path = tmp_path / "photos" / "tiny.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.ascontiguousarray(astronaut_full[70:102, 200:232])).save(path)
    return path


def upscaled_with_partner(qtbot, make_window, photo: Path, lock: bool = False):  # type: ignore[no-untyped-def]
    window = make_window(DEFAULT_MODEL)
    window.panel.consistency_check.setChecked(lock)
    open_photo(qtbot, window, photo)
    # Done: the strip is full and the default mix is composed (once the partner is ready).
    with qtbot.waitSignals([window.alternatives.strip_filled, window.alternatives.composed], timeout=300_000):
        with qtbot.waitSignal(window.alternatives.partner_ready, timeout=300_000) as partner:
            assert upscale(qtbot, window) == "ok"
    assert partner.args == [True]  # the whole photo is in view: no partial step needed
    return window


def realistic_end(window) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The upscale's own result (the default model, the mix's realistic end)."""
    return window.current_result().alt.first.pixels.copy()


def compose(qtbot, window, detail: float, alpha: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.alternatives.composed, timeout=60_000):
        window.panel.alternatives.set_values(detail, alpha)
    assert window.document.current_setting() == Setting(detail, alpha)
    return window.current_result().image.pixels.copy()


def deviation_mean(photo: Path, pixels: np.ndarray) -> float:
    source = kintsugi.open_image(photo)
    return float(kintsugi.deviation_map(source, source.replace(pixels=pixels)).mean())


def test_mix_ends_are_the_two_results_and_each_slider_moves_the_right_way(
        qtbot, make_window, tiny_photo: Path) -> None:
    window = upscaled_with_partner(qtbot, make_window, tiny_photo)
    first = realistic_end(window)
    box = window.panel.alternatives
    assert box.isVisible() and box.blend_slider.isEnabled()
    assert box.blend_note.text().startswith(
        "Mix: ESRGAN thick (idealo RRDN) x4 (faithful) ↔ Real-ESRGAN x4plus (realistic)")
    source = kintsugi.open_image(tiny_photo)
    faithful = kintsugi.upscale(source, "rrdn-x4").pixels
    assert np.array_equal(compose(qtbot, window, 1.0, 0.0), faithful)
    line = window.panel.result_info.text()  # the models by the names the list gives them
    assert "Real-ESRGAN x4plus · Mix 0.00 · Detail 1.00" in line and "realesrgan" not in line
    assert np.array_equal(compose(qtbot, window, 1.0, 1.0), first)
    real = [deviation_mean(tiny_photo, compose(qtbot, window, 1.0, a)) for a in (0.0, 0.5, 1.0)]
    assert real[0] < real[1] < real[2]  # more realness, more invented
    detail = [deviation_mean(tiny_photo, compose(qtbot, window, d, 1.0)) for d in (0.0, 1.0, 2.0)]
    assert detail[0] < detail[1] < detail[2]  # more detail, more invented
    halfway = [deviation_mean(tiny_photo, compose(qtbot, window, d, 0.5)) for d in (0.0, 1.0, 2.0)]
    assert halfway[0] < halfway[1] < halfway[2]  # and so in the middle of the mix


def test_a_new_x4_result_opens_at_the_default_mix(qtbot, make_window, tiny_photo: Path) -> None:
    """Issue 14, fault 11: the default model alone (Mix 1.00) made faces waxy; the result
    now opens at kintsugi.DEFAULT_MIX once the faithful partner is ready."""
    window = make_window(DEFAULT_MODEL)
    open_photo(qtbot, window, tiny_photo)
    with qtbot.waitSignal(window.alternatives.partner_ready, timeout=300_000):
        assert upscale(qtbot, window) == "ok"
    start = Setting(1.0, kintsugi.DEFAULT_MIX)
    qtbot.waitUntil(lambda: window.document.current_setting() == start, timeout=120_000)
    assert window.panel.alternatives.alpha() == kintsugi.DEFAULT_MIX == 0.25
    source = kintsugi.open_image(tiny_photo)
    faithful = kintsugi.upscale(source, "rrdn-x4")
    realistic = source.replace(pixels=realistic_end(window))
    mixed = kintsugi.blend(faithful, realistic, kintsugi.DEFAULT_MIX).pixels
    assert np.array_equal(window.current_result().image.pixels, mixed)


def test_stale_slider_requests_are_dropped(qtbot, make_window, tiny_photo: Path) -> None:
    window = upscaled_with_partner(qtbot, make_window, tiny_photo)
    statuses: list[str] = []
    window.alternatives.preview_runner.finished.connect(lambda task: statuses.append(task.status))
    box = window.panel.alternatives
    values = [(d / 10, a / 10) for d, a in zip(range(20, 0, -2), range(0, 10), strict=True)]
    for detail, alpha in values:  # a burst: each request supersedes the pending one
        box.set_values(detail, alpha, emit=False)
        window.alternatives.compose()
    qtbot.waitUntil(window.idle, timeout=60_000)
    # The one already running finishes (the picture keeps up during a drag), the newest
    # is composed, and every request between them is dropped unrun.
    assert len(statuses) == len(values)
    assert statuses.count("ok") <= 2 and statuses[-1] == "ok"
    assert statuses.count("cancelled") >= len(values) - 2
    assert window.document.current_setting() == Setting(*values[-1])


def test_the_strip_fills_and_a_click_shows_and_saves_that_alternative(
        qtbot, make_window, tiny_photo: Path) -> None:
    window = upscaled_with_partner(qtbot, make_window, tiny_photo)
    strip = window.panel.alternatives.strip
    assert strip.count() == len(strip_settings(True))
    faithful_first = strip.item(0)
    with qtbot.waitSignal(window.alternatives.composed, timeout=60_000):
        rect = strip.visualItemRect(faithful_first)
        qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.document.current_setting() == Setting(1.0, 0.0)
    with qtbot.waitSignal(window.saver.saved, timeout=30_000) as blocker:
        window.saver.save()
    saved = Path(blocker.args[0])
    note = kintsugi.read_provenance(saved)
    assert note["model"] == DEFAULT_MODEL and "mix 0.00" in note["alternative"]
    written = kintsugi.open_image(saved).pixels
    assert np.abs(written - window.current_result().image.pixels).max() <= 0.5 / 255 + 1e-6


def test_a_brush_stroke_changes_only_pixels_inside_its_feathered_region(
        qtbot, make_window, tiny_photo: Path) -> None:
    window = upscaled_with_partner(qtbot, make_window, tiny_photo)
    realistic = realistic_end(window)
    before = compose(qtbot, window, 1.0, 0.0)  # all faithful
    box = window.panel.alternatives
    box.realness_button.click()
    assert window.canvas.brushes.tool == "realness"
    box.brush.set_size(30)
    canvas = window.canvas
    start = canvas.content_to_widget(QPointF(30, 60)).toPoint()
    end = canvas.content_to_widget(QPointF(90, 60)).toPoint()
    with qtbot.waitSignal(window.alternatives.composed, timeout=60_000):
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
        for x in range(start.x(), end.x(), 4):
            qtbot.mouseMove(canvas, QPoint(x, start.y()))
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    after = window.current_result().image.pixels
    mask = canvas.brushes.mask("realness")
    assert mask is not None and mask.shape == after.shape[:2]
    changed = np.abs(after - before).max(axis=2) > 0
    assert changed.any() and not (changed & (mask == 0)).any()  # nothing outside the stroke
    full = mask == 1.0
    assert full.any() and np.abs(after[full] - realistic[full]).max() < 1e-5
    assert "brushed" in window.current_result().provenance["alternative"]
    box.clear_button.click()
    qtbot.waitUntil(lambda: np.array_equal(window.current_result().image.pixels, before),
                    timeout=60_000)


def test_without_a_pair_the_mix_says_why_and_detail_still_works(
        qtbot, make_window, photo_path: Path) -> None:
    window = make_window(FAST_MODEL)
    open_photo(qtbot, window, photo_path)
    with qtbot.waitSignal(window.alternatives.strip_filled, timeout=120_000):
        assert upscale(qtbot, window) == "ok"
    box = window.panel.alternatives
    assert not box.blend_slider.isEnabled() and not box.realness_button.isEnabled()
    assert "no faithful and realistic model pair at ×2" in box.blend_note.text()
    assert box.strip.count() == len(strip_settings(False))
    smooth = deviation_mean(photo_path, compose(qtbot, window, 0.0, 1.0))
    strong = deviation_mean(photo_path, compose(qtbot, window, 2.0, 1.0))
    assert smooth < strong


def test_consistency_holds_at_every_detail_strength(qtbot, make_window, photo_path: Path
                                                    ) -> None:
    window = make_window(FAST_MODEL)
    window.panel.consistency_check.setChecked(True)
    open_photo(qtbot, window, photo_path)
    assert upscale(qtbot, window) == "ok"
    low = np.rint(kintsugi.open_image(photo_path).pixels * 255)
    for detail in (0.0, 0.5, 1.5, 2.0):
        pixels = compose(qtbot, window, detail, 1.0)
        h, w, c = pixels.shape
        sums = np.rint(pixels * 255).reshape(h // 2, 2, w // 2, 2, c).sum(axis=(1, 3))
        assert np.array_equal(sums, low * 4), detail


def test_consistency_holds_at_every_mix_and_detail_of_the_pair(qtbot, make_window,
                                                                tiny_photo: Path) -> None:
    """Detail and mix are composed in one step with one lock: exact at every setting,
    clamped strengths above 1 included."""
    window = upscaled_with_partner(qtbot, make_window, tiny_photo, lock=True)
    low = np.rint(kintsugi.open_image(tiny_photo).pixels * 255)
    for detail, alpha in ((0.0, 0.5), (0.6, 0.3), (1.8, 0.7), (2.0, 1.0)):
        pixels = compose(qtbot, window, detail, alpha)
        h, w, c = pixels.shape
        sums = np.rint(pixels * 255).reshape(h // 4, 4, w // 4, 4, c).sum(axis=(1, 3))
        assert np.array_equal(sums, low * 16), (detail, alpha)


def test_a_big_result_shows_drafts_while_dragging_then_the_full_size(
        qtbot, make_window, tmp_path: Path, astronaut_full: np.ndarray) -> None:
    window = make_window(FAST_MODEL)
    window.panel.consistency_check.setChecked(True)
    photo = tmp_path / "photos" / "big.png"
    photo.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.pad(astronaut_full, ((4, 4), (4, 4), (0, 0)), mode="edge")).save(photo)
    open_photo(qtbot, window, photo)
    assert upscale(qtbot, window) == "ok"  # 1040 px: above the draft size
    drafts: list[int] = []
    window.alternatives.drafted.connect(lambda: drafts.append(window.canvas.after_image().width()))
    with qtbot.waitSignal(window.alternatives.composed, timeout=120_000):
        window.panel.alternatives.detail_slider.setValue(40)
    assert drafts and drafts[0] < 1040  # a reduced picture first ...
    assert window.canvas.content_size().width() == 1040  # ... shown at the result's size
    assert window.canvas.after_image().width() == 1040  # then the full one
    assert window.document.current_setting() == Setting(0.4, 1.0)
    pixels = window.current_result().image.pixels  # the drafts skip the lock; it does not
    low = np.rint(kintsugi.open_image(photo).pixels * 255)
    sums = np.rint(pixels * 255).reshape(520, 2, 520, 2, 3).sum(axis=(1, 3))
    assert np.array_equal(sums, low * 4)


@pytest.mark.slow
def test_the_partner_runs_on_the_visible_part_first(qtbot, make_window, tmp_path: Path,
                                                    astronaut_full: np.ndarray) -> None:
    window = make_window(DEFAULT_MODEL)
    photo = tmp_path / "photos" / "p96.png"
    photo.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.ascontiguousarray(astronaut_full[40:232:2, 150:342:2])).save(photo)
    open_photo(qtbot, window, photo)
    window.canvas.zoom_at(16.0, window.canvas.rect().center().toPointF())  # a close look
    stages: list[tuple[bool, str]] = []
    window.alternatives.partner_ready.connect(
        lambda whole: stages.append((whole, window.panel.alternatives.blend_note.text())))
    assert upscale(qtbot, window) == "ok"
    qtbot.waitUntil(lambda: len(stages) == 2, timeout=300_000)
    assert [whole for whole, _note in stages] == [False, True]
    assert "visible part" in stages[0][1] and "visible part" not in stages[1][1]
    qtbot.waitUntil(window.idle, timeout=300_000)
    source = kintsugi.open_image(photo)
    faithful = kintsugi.upscale(source, "rrdn-x4").pixels
    assert np.array_equal(compose(qtbot, window, 1.0, 0.0), faithful)


def test_after_a_result_the_strip_is_scrolled_into_view(qtbot, make_window,
                                                        photo_path: Path) -> None:
    from PySide6.QtWidgets import QScrollArea

    window = make_window(FAST_MODEL)
    window.resize(1280, 560)  # short: the strip starts below the fold
    open_photo(qtbot, window, photo_path)
    with qtbot.waitSignal(window.alternatives.strip_filled, timeout=120_000):
        assert upscale(qtbot, window) == "ok"
    viewport = window.findChild(QScrollArea).viewport()
    strip = window.panel.alternatives.thumbs

    def strip_shown() -> bool:
        top = strip.mapTo(viewport, QPoint(0, 0)).y()
        return top >= 0 and top + strip.height() <= viewport.height()

    qtbot.waitUntil(strip_shown, timeout=5_000)
