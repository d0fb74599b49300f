"""The compare canvas: one synced view of the original and the result.

Modes: a split slider (original left of a draggable divider, result right of it), the
whole original, the whole result, or side by side with the same zoom and pan in both
panes. The original is drawn at the result's size by the painter's transform (bilinear),
never by resampling the image itself, so a 20+ megapixel result pans and zooms smoothly:
each paint draws only the visible part of the pyramid level closest to the screen scale.

Its helpers: ``ViewTransform`` (zoom and pan), ``BrushLayer`` (the painted maps, as
``canvas.brushes``) and the drawing functions in ``canvas_paint``.
"""

from __future__ import annotations

import enum
import time

from PySide6.QtCore import QPointF, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import (
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from kintsugi.gui.brush_layer import BrushLayer
from kintsugi.gui.canvas_mouse import CanvasMouse
from kintsugi.gui.canvas_paint import (
    paint_badge,
    paint_divider,
    paint_placeholder,
)
from kintsugi.gui.canvas_pictures import Pictures
from kintsugi.gui.face_outlines import FaceOutlines
from kintsugi.gui.imaging import Pyramid
from kintsugi.gui.theme import canvas_background
from kintsugi.gui.view_transform import ViewTransform

WHEEL_STEP = 1.2  # zoom factor per wheel notch
_DIVIDER_GRAB_PX = 8  # how close to the divider a press grabs it instead of panning
_PANE_GAP = 2  # pixels between the two side-by-side panes


class ViewMode(enum.Enum):
    SPLIT = "split"
    SIDE_BY_SIDE = "side"
    BEFORE = "before"
    AFTER = "after"


_SINGLE = (ViewMode.BEFORE, ViewMode.AFTER)  # one whole picture, no comparison


class CompareCanvas(QWidget):
    """Paints the original and the result under one zoom/pan transform."""

    zoom_changed = Signal(float)
    split_changed = Signal(float)
    mode_changed = Signal(str)
    first_painted = Signal()
    stroke_finished = Signal(str)  # the brush tool whose map a stroke changed
    face_clicked = Signal(int)  # the index of a face outline clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 150)
        self._pictures = Pictures()
        self._mode = ViewMode.SPLIT
        self._compare_mode = ViewMode.SPLIT  # where Space returns after original and result
        self._split = 0.5
        self._view = ViewTransform(self)
        self._view.zoom_changed.connect(self.zoom_changed)
        self.brushes = BrushLayer(self)
        self.brushes.changed.connect(self.update)
        self._mouse = CanvasMouse(self)
        self._dark = True
        self.first_painted_at: float | None = None
        self._placeholder = "Open a photo (Ctrl+O), drop it here, or paste one (Ctrl+V)"
        self.faces = FaceOutlines(self)
        self.faces.changed.connect(self.update)

    # --- content ------------------------------------------------------------
    def set_dark(self, dark: bool) -> None:
        self._dark = dark
        self._pictures.set_dark(dark)
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_before(self, image: QImage | None) -> None:
        """A new original: clears the result, overlay, brush maps and faces; fits the view."""
        self._pictures.set_before(image)
        self.brushes.reset(self.content_size())
        self.faces.clear()
        self.fit()

    def set_after(self, image: QImage | Pyramid | None,
                  overlay: QImage | Pyramid | None = None) -> None:
        """A new result (and its deviation overlay); keeps the view if the size is unchanged.

        A Pyramid built on a worker thread is swapped in as it is (big results)."""
        old_size = self.content_size()
        self._pictures.set_after(image, overlay)
        if self.content_size() != old_size:
            self.brushes.reset(self.content_size())
            self._view.keep_view(self._pane_rect(0).size(), old_size, self.content_size())
        self.update()

    def after_image(self) -> QImage | None:
        after = self._pictures.after
        return after.image if after is not None else None

    def set_overlay_visible(self, visible: bool) -> None:
        self._pictures.overlay_visible = visible
        self.update()

    def overlay_visible(self) -> bool:
        return self._pictures.overlay_visible

    def has_before(self) -> bool:
        return self._pictures.before is not None

    def has_after(self) -> bool:
        return self._pictures.after is not None

    def content_size(self) -> QSize:
        """The size of the view's coordinate space: the result's, else the original's."""
        return self._pictures.content_size()

    def set_tool(self, tool: str, size: float | None = None, hardness: float | None = None
                 ) -> None:
        """The brush a left drag paints with ("" = drag pans)."""
        self.brushes.set_tool(tool, size, hardness)
        self._mouse.rest_cursor()

    # --- mode and split -------------------------------------------------------
    def mode(self) -> ViewMode:
        return self._mode

    def set_mode(self, mode: ViewMode) -> None:
        if mode == self._mode:
            return
        center = self._view.content_at_center(self._pane_rect(0).size())
        self._mode = mode
        if mode not in _SINGLE:
            self._compare_mode = mode
        if self._view.fitting:
            self.fit()
        else:
            self._view.center_on(self._pane_rect(0).size(), center)
        self.mode_changed.emit(mode.value)
        self.update()

    def toggle_before_after(self) -> None:
        """Space: from a comparison the whole original, then the whole result, then back to
        the comparison it started from (split or side by side)."""
        following = {ViewMode.BEFORE: ViewMode.AFTER, ViewMode.AFTER: self._compare_mode}
        self.set_mode(following.get(self._mode, ViewMode.BEFORE))

    def shown_label(self) -> str:
        """What a single view shows ("Original" / "Result"); "" for the comparisons, whose
        panes carry their own labels, and before there is a result to tell apart."""
        if self._pictures.after is None or self._mode not in _SINGLE:
            return ""
        return "Original" if self._mode == ViewMode.BEFORE else "Result"

    def split(self) -> float:
        return self._split

    def set_split(self, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction != self._split:
            self._split = fraction
            self.split_changed.emit(fraction)
            self.update()

    def divider_x(self) -> int:
        return round(self._split * self.width())

    def on_divider(self, pos: QPointF) -> bool:
        """Whether `pos` is close enough to the split divider for a press to grab it."""
        return (self._mode == ViewMode.SPLIT and self._pictures.after is not None
                and abs(pos.x() - self.divider_x()) <= _DIVIDER_GRAB_PX)

    # --- zoom and pan ---------------------------------------------------------
    def zoom(self) -> float:
        return self._view.zoom

    def offset(self) -> QPointF:
        return QPointF(self._view.offset)

    @Slot()
    def fit(self) -> None:
        """Zoom so the whole image shows in the pane."""
        self._view.fit(self._pane_rect(0).size(), self.content_size())
        self.update()

    @Slot()
    def actual_size(self) -> None:
        """100%: one result pixel per screen pixel, keeping the centre of the view."""
        self._view.actual_size(self._pane_rect(0).size())
        self.update()

    def zoom_at(self, factor: float, pane_pos: QPointF) -> None:
        """Multiply the zoom by ``factor`` keeping the content under ``pane_pos`` still."""
        self._view.zoom_at(factor, pane_pos)
        self.update()

    def pan_by(self, dx: float, dy: float) -> None:
        if self._view.pan_by(QPointF(dx, dy), self._pane_rect(0).size(), self.content_size()):
            self.update()

    def content_to_widget(self, point: QPointF, pane_index: int = 0) -> QPointF:
        return QPointF(self._pane_rect(pane_index).topLeft()) + self._view.to_pane(point)

    def widget_to_content(self, pos: QPointF) -> QPointF:
        pane = self._pane_rect(self._pane_at(pos))
        return self._view.from_pane(pos - QPointF(pane.topLeft()))

    # --- geometry ---------------------------------------------------------------
    def _side_by_side(self) -> bool:
        return self._mode == ViewMode.SIDE_BY_SIDE and self._pictures.after is not None

    def _pane_rect(self, index: int) -> QRect:
        if not self._side_by_side():
            return self.rect()
        half = (self.width() - _PANE_GAP) // 2
        if index == 0:
            return QRect(0, 0, half, self.height())
        return QRect(half + _PANE_GAP, 0, self.width() - half - _PANE_GAP, self.height())

    def _pane_at(self, pos: QPointF) -> int:
        if self._side_by_side() and pos.x() >= self._pane_rect(1).left():
            return 1
        return 0

    # --- painting -----------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        if self.first_painted_at is None:
            self.first_painted_at = time.perf_counter()
            self.first_painted.emit()
        painter = QPainter(self)
        painter.fillRect(self.rect(), canvas_background(self._dark))
        if self._pictures.before is None and self._pictures.after is None:
            paint_placeholder(painter, self.rect(), self.font(), self._dark, self._placeholder)
            painter.end()
            return
        self._paint_pictures(painter)
        if self.shown_label():
            self._paint_badge(painter, self.rect(), self.shown_label(), Qt.AlignmentFlag.AlignLeft)
        for index in (0, 1) if self._side_by_side() else (0,):
            self._paint_marks(painter, self._pane_rect(index))
        painter.end()

    def _paint_pictures(self, painter: QPainter) -> None:
        left_align, right_align = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight
        pictures, zoom, pane = self._pictures, self._view.zoom, self._pane_rect(0)
        origin = QPointF(pane.topLeft()) + self._view.offset
        if pictures.after is None or self._mode == ViewMode.BEFORE:
            pictures.paint_before(painter, self.rect(), pane, origin, zoom)
        elif self._mode == ViewMode.AFTER:
            pictures.paint_after(painter, self.rect(), pane, origin, zoom)
        elif self._mode == ViewMode.SIDE_BY_SIDE:
            right = self._pane_rect(1)
            pictures.paint_before(painter, pane, pane, origin, zoom)
            pictures.paint_after(painter, right, right,
                                 QPointF(right.topLeft()) + self._view.offset, zoom)
            self._paint_badge(painter, pane, "Original", left_align)
            self._paint_badge(painter, right, "Result", right_align)
        else:
            x = self.divider_x()
            pictures.paint_before(painter, QRect(0, 0, x, self.height()), pane, origin, zoom)
            pictures.paint_after(painter, QRect(x, 0, self.width() - x, self.height()), pane,
                                 origin, zoom)
            paint_divider(painter, x, self.height())
            self._paint_badge(painter, self.rect(), "Original", left_align)
            self._paint_badge(painter, self.rect(), "Result", right_align)

    def _paint_badge(self, painter: QPainter, area: QRect, text: str,
                     align: Qt.AlignmentFlag) -> None:
        paint_badge(painter, self.font(), area, text, align)

    def _paint_marks(self, painter: QPainter, pane: QRect) -> None:
        """Brush maps and face outlines, over whatever the pane shows."""
        origin = QPointF(pane.topLeft()) + self._view.offset
        painter.save()
        painter.setClipRect(pane)
        self.brushes.paint(painter, origin, self._view.zoom)
        self.faces.paint(painter, origin, self._view.zoom)
        painter.restore()

    # --- input ------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._mouse.press(event):
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._mouse.move(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._mouse.release(event)
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps == 0 or self.content_size().isEmpty():
            return
        pos = event.position()
        pane = self._pane_rect(self._pane_at(pos))
        self.zoom_at(WHEEL_STEP**steps, pos - QPointF(pane.topLeft()))
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        if self._view.fitting:
            self.fit()
        else:
            old = event.oldSize()
            if old.isValid():
                self._view.offset += QPointF(
                    (event.size().width() - old.width()) / 2.0,
                    (event.size().height() - old.height()) / 2.0,
                ) * (0.5 if self._side_by_side() else 1.0)
        super().resizeEvent(event)
