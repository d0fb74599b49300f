"""The compare canvas: split slider pixels, modes, zoom/pan, overlay, big-image speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from kintsugi.gui.canvas import CompareCanvas, ViewMode
from kintsugi.gui.imaging import Pyramid, display_array, heat_rgba, to_qimage

pytestmark = pytest.mark.gui

RED = (220, 30, 30)
BLUE = (30, 60, 220)


def solid(color: tuple[int, int, int], width: int, height: int) -> QImage:
    arr = np.empty((height, width, 3), np.uint8)
    arr[:] = color
    return to_qimage(arr)


def rgb_at(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = image.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 6) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b, strict=True))


@pytest.fixture
def canvas(qtbot) -> CompareCanvas:  # type: ignore[no-untyped-def]
    widget = CompareCanvas()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    return widget


def test_split_shows_original_left_and_result_right_of_the_divider(canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 40))
    canvas.fit()
    canvas.set_split(0.5)
    shot = canvas.grab().toImage()
    x, y = canvas.divider_x(), 200
    assert close(rgb_at(shot, x - 30, y), RED)
    assert close(rgb_at(shot, x + 30, y), BLUE)


def test_moving_the_split_moves_the_boundary(canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 40))
    canvas.fit()
    probe = 240  # a column right of the centre
    canvas.set_split(0.5)
    assert close(rgb_at(canvas.grab().toImage(), probe, 150), BLUE)
    canvas.set_split(0.8)  # divider moves right past the probe: now the original shows there
    assert close(rgb_at(canvas.grab().toImage(), probe, 150), RED)
    canvas.set_split(0.1)
    assert close(rgb_at(canvas.grab().toImage(), 60, 150), BLUE)


def test_before_and_after_modes_and_space_toggle(canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 40))
    canvas.fit()
    canvas.set_mode(ViewMode.SPLIT)
    canvas.toggle_before_after()
    assert canvas.mode() == ViewMode.BEFORE
    shot = canvas.grab().toImage()
    assert close(rgb_at(shot, 150, 150), RED) and close(rgb_at(shot, 250, 150), RED)
    canvas.toggle_before_after()
    assert canvas.mode() == ViewMode.AFTER
    shot = canvas.grab().toImage()
    assert close(rgb_at(shot, 150, 150), BLUE) and close(rgb_at(shot, 250, 150), BLUE)


@pytest.mark.parametrize("compare", [ViewMode.SPLIT, ViewMode.SIDE_BY_SIDE])
def test_space_returns_to_the_comparison_it_started_from(canvas: CompareCanvas,
                                                         compare: ViewMode) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 40))
    canvas.set_mode(compare)
    seen = []
    for _ in range(4):
        canvas.toggle_before_after()
        seen.append(canvas.mode())
    assert seen == [ViewMode.BEFORE, ViewMode.AFTER, compare, ViewMode.BEFORE]


def test_a_single_view_says_which_picture_it_shows(canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 40))
    canvas.set_dark(False)  # a light background, which the badge's dark chip stands out on
    canvas.fit()
    corner = (24, 20)  # inside the badge's chip, left of the centred picture
    canvas.set_mode(ViewMode.AFTER)
    assert canvas.shown_label() == "Result"
    with_badge = rgb_at(canvas.grab().toImage(), *corner)
    canvas.set_mode(ViewMode.BEFORE)
    assert canvas.shown_label() == "Original"
    canvas.set_after(None)  # nothing to tell apart: no badge
    assert canvas.shown_label() == ""
    plain = rgb_at(canvas.grab().toImage(), *corner)
    assert sum(with_badge) < sum(plain) - 100  # the dark chip is drawn


def gradient(width: int, height: int) -> np.ndarray:
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (height, width, 1)),
                           np.broadcast_to(y, (height, width, 1)),
                           np.full((height, width, 1), 0.5, np.float32)], axis=2)


def test_side_by_side_panes_share_zoom_and_pan(canvas: CompareCanvas) -> None:
    canvas.resize(600, 300)
    # The same gradient at two sizes: identical views must show identical colours.
    canvas.set_before(to_qimage(display_array(gradient(50, 50))))
    canvas.set_after(to_qimage(display_array(gradient(200, 200))))
    canvas.set_mode(ViewMode.SIDE_BY_SIDE)
    canvas.zoom_at(2.0, QPointF(100, 100))
    canvas.pan_by(-20, 15)
    shot = canvas.grab().toImage()
    left = canvas.content_to_widget(QPointF(60, 90), 0)
    right = canvas.content_to_widget(QPointF(60, 90), 1)
    assert right.x() - left.x() == pytest.approx(301, abs=1)  # same spot, one pane over
    a = rgb_at(shot, round(left.x()), round(left.y()))
    b = rgb_at(shot, round(right.x()), round(right.y()))
    assert close(a, b, tol=8)
    assert close(b, (round(60 / 199 * 255), round(90 / 199 * 255), 128), tol=8)


def test_wheel_zoom_keeps_the_point_under_the_cursor(canvas: CompareCanvas) -> None:
    canvas.set_before(to_qimage(display_array(gradient(80, 60))))
    canvas.fit()
    cursor = QPointF(120, 90)
    content_before = (cursor - canvas.offset()) / canvas.zoom()
    zoom_before = canvas.zoom()
    event = QWheelEvent(cursor, canvas.mapToGlobal(cursor), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas, event)
    assert canvas.zoom() == pytest.approx(zoom_before * 1.44)
    content_after = (cursor - canvas.offset()) / canvas.zoom()
    assert content_after.x() == pytest.approx(content_before.x())
    assert content_after.y() == pytest.approx(content_before.y())


def send_mouse(widget: CompareCanvas, kind: QEvent.Type, pos: QPointF, pressed: bool) -> None:
    buttons = Qt.MouseButton.LeftButton if pressed else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), Qt.MouseButton.LeftButton, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drag(canvas: CompareCanvas, start: QPointF, end: QPointF) -> None:
    send_mouse(canvas, QEvent.Type.MouseButtonPress, start, True)
    send_mouse(canvas, QEvent.Type.MouseMove, end, True)
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, end, False)


def test_drag_pans_and_dragging_the_divider_moves_it(canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 40))
    canvas.fit()
    canvas.zoom_at(3.0, QPointF(200, 150))  # the picture is larger than the view
    offset = canvas.offset()
    drag(canvas, QPointF(100, 100), QPointF(130, 90))
    assert canvas.offset() - offset == QPointF(30, -10)
    assert canvas.split() == 0.5  # panning leaves the divider alone
    x = canvas.divider_x()
    send_mouse(canvas, QEvent.Type.MouseButtonPress, QPointF(x + 3, 150), True)
    send_mouse(canvas, QEvent.Type.MouseMove, QPointF(300, 150), True)
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, QPointF(300, 150), False)
    assert canvas.split() == pytest.approx(0.75)


def test_at_fit_zoom_a_drag_keeps_the_picture_centred(canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 30))
    canvas.fit()
    centred = canvas.offset()
    drag(canvas, QPointF(100, 100), QPointF(160, 40))
    assert canvas.offset() == centred
    canvas.zoom_at(4.0, QPointF(200, 150))  # zoomed in: a pan stops where the picture ends
    drag(canvas, QPointF(100, 100), QPointF(2100, 2100))
    assert canvas.offset() == QPointF(0, 0)
    assert canvas.content_to_widget(QPointF(0, 0)) == QPointF(0, 0)


def test_fit_and_actual_size(canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 800, 600))
    canvas.fit()
    assert canvas.zoom() == pytest.approx(0.5)
    canvas.actual_size()
    assert canvas.zoom() == 1.0
    canvas.fit()
    assert canvas.zoom() == pytest.approx(0.5)


def test_deviation_overlay_colours_only_where_detail_was_invented(canvas: CompareCanvas) -> None:
    grey = np.full((40, 40, 3), 128, np.uint8)
    deviation = np.zeros((40, 40), np.float32)
    deviation[:, 20:] = 0.5  # right half invented, left half faithful
    canvas.set_before(to_qimage(grey[:10, :10].copy()))
    canvas.set_after(to_qimage(grey), to_qimage(heat_rgba(deviation, 0.25)))
    canvas.set_mode(ViewMode.AFTER)
    canvas.fit()
    faithful = canvas.content_to_widget(QPointF(10, 20))
    invented = canvas.content_to_widget(QPointF(30, 20))
    off = canvas.grab().toImage()
    canvas.set_overlay_visible(True)
    on = canvas.grab().toImage()
    assert rgb_at(on, round(faithful.x()), round(faithful.y())) == rgb_at(
        off, round(faithful.x()), round(faithful.y()))
    r_off, g_off, b_off = rgb_at(off, round(invented.x()), round(invented.y()))
    r_on, g_on, b_on = rgb_at(on, round(invented.x()), round(invented.y()))
    assert r_on > r_off + 40 and b_on < b_off - 40  # warmer where detail was invented


def test_pyramid_picks_the_level_just_above_screen_scale() -> None:
    big = to_qimage(np.zeros((2048, 4096, 3), np.uint8))
    pyramid = Pyramid(big)
    assert [p.width() for p in pyramid.levels] == [4096, 2048, 1024]  # stops at a 512 px side
    assert pyramid.level_for(1.0)[0].width() == 4096
    assert pyramid.level_for(0.5)[0].width() == 2048
    assert pyramid.level_for(0.3)[0].width() == 2048  # never below screen resolution
    assert pyramid.level_for(0.01)[0].width() == 1024


def test_twenty_megapixel_result_paints_fast(canvas: CompareCanvas) -> None:
    """Zoomed out or at 100%, a paint only draws the visible part of one pyramid level."""
    rng = np.random.default_rng(0)
    after = rng.integers(0, 255, (4000, 5000, 3), dtype=np.uint8)
    canvas.resize(1200, 800)
    canvas.set_before(to_qimage(np.ascontiguousarray(after[::4, ::4])))
    canvas.set_after(to_qimage(after))
    del after
    canvas.fit()
    timings = []
    for zoom_to_actual in (False, True):
        if zoom_to_actual:
            canvas.actual_size()
        canvas.grab()
        started = time.perf_counter()
        for _ in range(5):
            canvas.pan_by(7, 3)
            canvas.grab()
        timings.append((time.perf_counter() - started) / 5)
    # Resampling all 20 MP per paint takes seconds; drawing the visible part takes ms.
    assert max(timings) < 0.25, timings



def test_a_finished_stroke_is_outlined_so_the_picture_shows_under_it(
        canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 40))
    canvas.set_mode(ViewMode.AFTER)
    canvas.fit()  # 7.5 screen px per picture px
    canvas.set_tool("realness", size=10, hardness=0.5)
    canvas.brushes.show({"realness"})
    send_mouse(canvas, QEvent.Type.MouseButtonPress, QPointF(140, 150), True)
    send_mouse(canvas, QEvent.Type.MouseMove, QPointF(260, 150), True)
    stroking = canvas.grab().toImage()
    assert not close(rgb_at(stroking, 200, 150), BLUE, tol=20)  # tinted while drawn
    send_mouse(canvas, QEvent.Type.MouseButtonRelease, QPointF(260, 150), False)
    shot = canvas.grab().toImage()
    assert close(rgb_at(shot, 200, 150), BLUE)  # the middle of the stroke: the picture
    column = [rgb_at(shot, 200, y) for y in range(150, 200)]
    edge = [y for y, rgb in zip(range(150, 200), column, strict=True) if not close(rgb, BLUE)]
    # Half strength is 3/4 of the radius out (hardness 0.5): 5 px * 3/4 * 7.5 = 28 screen px.
    assert edge and all(abs(y - 178) <= 5 for y in edge), edge  # one picture px is 7.5
    assert canvas.brushes.mask("realness") is not None


def test_a_stroke_painted_by_code_is_outlined_too(canvas: CompareCanvas) -> None:
    canvas.set_before(solid(RED, 10, 10))
    canvas.set_after(solid(BLUE, 40, 40))
    canvas.brushes.stroke("heal", [QPointF(10, 20), QPointF(30, 20)], size=8, hardness=1.0)
    painted = canvas.brushes.map("heal")
    assert painted is not None and not painted.outline.isEmpty()
    box = painted.outline.boundingRect()
    assert 5 <= box.left() <= 7 and 33 <= box.right() <= 35  # 4 px beyond each end
