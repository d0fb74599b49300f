"""The compare canvas: one synced view of the original and the result.

Modes: a split slider (original left of a draggable divider, result right of it), the
whole original, the whole result, or side by side with the same zoom and pan in both
panes. The original is drawn at the result's size by the painter's transform (bilinear),
never by resampling the image itself, so a 20+ megapixel result pans and zooms smoothly:
each paint draws only the visible part of the pyramid level closest to the screen scale.
"""

from __future__ import annotations

import enum
import math
import time

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from kintsugi.gui.brush import PaintedMap
from kintsugi.gui.imaging import Pyramid, checkerboard
from kintsugi.gui.theme import canvas_background

MIN_ZOOM = 0.01
MAX_ZOOM = 64.0
WHEEL_STEP = 1.2  # zoom factor per wheel notch
_DIVIDER_GRAB_PX = 8  # how close to the divider a press grabs it instead of panning
_PANE_GAP = 2  # pixels between the two side-by-side panes
_CLICK_SLOP = 4  # a press and release this close is a click (a face), not a pan
_STROKE_TINT = 0.3  # opacity of a map's colour while a stroke is being drawn
# Painted brush maps: colour on screen (the map's meaning is its alpha).
BRUSH_COLOURS = {"realness": QColor(255, 150, 40), "fidelity": QColor(60, 160, 255),
                 "heal": QColor(80, 220, 120), "face-realness": QColor(255, 150, 40),
                 "face-fidelity": QColor(60, 160, 255)}


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
        self._before: Pyramid | None = None
        self._after: Pyramid | None = None
        self._overlay: Pyramid | None = None
        self._overlay_image: QImage | None = None
        self._overlay_visible = False
        self._mode = ViewMode.SPLIT
        self._compare_mode = ViewMode.SPLIT  # where Space returns after original and result
        self._split = 0.5
        self._zoom = 1.0
        self._offset = QPointF(0.0, 0.0)  # pane position of the content's top-left corner
        self._fit_mode = True  # refit on resize until the user zooms or pans
        self._drag: str | None = None  # "pan" | "split"
        self._last_mouse = QPointF()
        self._dark = True
        self.first_painted_at: float | None = None
        self._placeholder = "Open a photo (Ctrl+O), drop it here, or paste one (Ctrl+V)"
        self._checker: QPixmap | None = None
        self._tool = ""  # the brush tool that paints on a left drag ("" = pan)
        self._brush_size = 40.0
        self._brush_hardness = 0.5
        self._maps: dict[str, PaintedMap] = {}
        self._shown_maps: set[str] = set()
        self._faces: list[QRectF] = []  # outlines in content coordinates
        self._face_selected: set[int] = set()
        self._press_pos = QPointF()

    # --- content ------------------------------------------------------------
    def set_dark(self, dark: bool) -> None:
        self._dark = dark
        self._checker = None
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_before(self, image: QImage | None) -> None:
        """A new original: clears the result, overlay, brush maps and faces; fits the view."""
        self._before = Pyramid(image) if image is not None else None
        self._after = None
        self._overlay = None
        self._overlay_image = None
        self._maps.clear()
        self._faces = []
        self.fit()

    def set_after(self, image: QImage | Pyramid | None,
                  overlay: QImage | Pyramid | None = None) -> None:
        """A new result (and its deviation overlay); keeps the view if the size is unchanged.

        A Pyramid built on a worker thread is swapped in as it is (big results)."""
        old_size = self.content_size()
        if isinstance(image, QImage):
            image = Pyramid(image)
        self._after = image
        # The overlay's pyramid is built when it is first shown: most results are never
        # looked at through the deviation map, and a 20 MP pyramid costs a tenth of a second.
        self._overlay_image = overlay if isinstance(overlay, QImage) else None
        self._overlay = overlay if isinstance(overlay, Pyramid) else None
        if self.content_size() != old_size:
            self._maps.clear()  # painted in the old size's coordinates
            self._rescale_view(old_size)
        self.update()

    def after_image(self) -> QImage | None:
        return self._after.image if self._after is not None else None

    # --- brush ----------------------------------------------------------------------
    def set_tool(self, tool: str, size: float | None = None, hardness: float | None = None
                 ) -> None:
        """The brush a left drag paints with ("" = drag pans); its map is shown."""
        self._tool = tool
        if size is not None:
            self._brush_size = size
        if hardness is not None:
            self._brush_hardness = hardness
        self.setCursor(Qt.CursorShape.CrossCursor if tool else Qt.CursorShape.OpenHandCursor)
        self.update()

    def tool(self) -> str:
        return self._tool

    def show_maps(self, names: set[str]) -> None:
        self._shown_maps = set(names)
        self.update()

    def brush_map(self, name: str) -> PaintedMap | None:
        return self._maps.get(name)

    def brush_mask(self, name: str) -> np.ndarray | None:
        """The painted map as HxW float32 in [0,1] at the content size, or None if unpainted."""
        painted = self._maps.get(name)
        return painted.mask_array() if painted is not None and painted.painted else None

    def clear_map(self, name: str) -> None:
        self._maps.pop(name, None)
        self.update()

    def take_map(self, name: str) -> PaintedMap | None:
        """Remove a map and hand it over (to be put back by ``put_map``)."""
        painted = self._maps.pop(name, None)
        self.update()
        return painted

    def put_map(self, name: str, painted: PaintedMap | None) -> None:
        """Show a map taken earlier again, if it still fits the picture on screen."""
        if painted is not None and painted.image.size() == self.content_size():
            self._maps[name] = painted
            self.update()

    def paint_stroke(self, name: str, points: list[QPointF], size: float | None = None,
                     hardness: float | None = None) -> None:
        """Paint a stroke through content-coordinate `points` (the mouse does the same)."""
        painted = self._map(name)
        if painted is None:
            return
        size = self._brush_size if size is None else size
        hardness = self._brush_hardness if hardness is None else hardness
        previous = points[0]
        for point in points:
            painted.dab_line(previous, point, size, hardness)
            previous = point
        if self._drag != "paint":  # a mouse stroke is outlined once, when it ends
            painted.trace()
        self.update()

    def _trace(self, name: str) -> None:
        painted = self._maps.get(name)
        if painted is not None:
            painted.trace()
        self.update()

    def _map(self, name: str) -> PaintedMap | None:
        size = self.content_size()
        if size.isEmpty():
            return None
        painted = self._maps.get(name)
        if painted is None:
            painted = PaintedMap(size.width(), size.height(), BRUSH_COLOURS.get(name, QColor("red")))
            self._maps[name] = painted
        return painted

    def widget_to_content(self, pos: QPointF) -> QPointF:
        pane = self._pane_rect(self._pane_at(pos))
        return (pos - QPointF(pane.topLeft()) - self._offset) / self._zoom

    # --- faces ------------------------------------------------------------------------
    def set_faces(self, boxes: list[QRectF], selected: set[int]) -> None:
        """Face outlines (content coordinates); the selected ones are drawn solid."""
        self._faces = list(boxes)
        self._face_selected = set(selected)
        self.update()

    def face_boxes(self) -> list[QRectF]:
        return list(self._faces)

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_visible = visible
        self.update()

    def overlay_visible(self) -> bool:
        return self._overlay_visible

    def has_before(self) -> bool:
        return self._before is not None

    def has_after(self) -> bool:
        return self._after is not None

    def content_size(self) -> QSize:
        """The size of the view's coordinate space: the result's, else the original's."""
        if self._after is not None:
            return QSize(self._after.size)
        if self._before is not None:
            return QSize(self._before.size)
        return QSize(0, 0)

    # --- mode and split -------------------------------------------------------
    def mode(self) -> ViewMode:
        return self._mode

    def set_mode(self, mode: ViewMode) -> None:
        if mode == self._mode:
            return
        center = self._content_at_pane_center()
        self._mode = mode
        if mode not in _SINGLE:
            self._compare_mode = mode
        if self._fit_mode:
            self.fit()
        else:
            self._center_on(center)
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
        if self._after is None or self._mode not in _SINGLE:
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

    # --- zoom and pan ---------------------------------------------------------
    def zoom(self) -> float:
        return self._zoom

    def offset(self) -> QPointF:
        return QPointF(self._offset)

    @Slot()
    def fit(self) -> None:
        """Zoom so the whole image shows in the pane (never above 100% for small images...
        except tiny ones, which are enlarged so there is something to look at)."""
        size = self.content_size()
        pane = self._pane_rect(0)
        if size.isEmpty() or pane.isEmpty():
            self._fit_mode = True
            self.update()
            return
        zoom = min(pane.width() / size.width(), pane.height() / size.height())
        self._set_zoom_value(zoom)
        self._offset = QPointF(
            (pane.width() - size.width() * self._zoom) / 2.0,
            (pane.height() - size.height() * self._zoom) / 2.0,
        )
        self._fit_mode = True
        self.update()

    @Slot()
    def actual_size(self) -> None:
        """100%: one result pixel per screen pixel, keeping the centre of the view."""
        center = self._content_at_pane_center()
        self._set_zoom_value(1.0)
        self._center_on(center)
        self._fit_mode = False
        self.update()

    def zoom_at(self, factor: float, pane_pos: QPointF) -> None:
        """Multiply the zoom by ``factor`` keeping the content under ``pane_pos`` still."""
        before = self._zoom
        content = (pane_pos - self._offset) / before
        self._set_zoom_value(before * factor)
        self._offset = pane_pos - content * self._zoom
        self._fit_mode = False
        self.update()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the picture, but never off-centre along a side it fits in, nor so far that
        an empty band opens where there is more picture (at fit zoom a drag moves nothing)."""
        offset = self._clamped(self._offset + QPointF(dx, dy))
        if offset != self._offset:
            self._offset = offset
            self._fit_mode = False
            self.update()

    def _clamped(self, offset: QPointF) -> QPointF:
        pane = self._pane_rect(0)
        content = self.content_size()
        return QPointF(_pan_range(offset.x(), pane.width(), content.width() * self._zoom),
                       _pan_range(offset.y(), pane.height(), content.height() * self._zoom))

    def content_to_widget(self, point: QPointF, pane_index: int = 0) -> QPointF:
        pane = self._pane_rect(pane_index)
        return QPointF(pane.topLeft()) + self._offset + point * self._zoom

    def _set_zoom_value(self, zoom: float) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        if zoom != self._zoom:
            self._zoom = zoom
            self.zoom_changed.emit(zoom)

    def _content_at_pane_center(self) -> QPointF:
        pane = self._pane_rect(0)
        center = QPointF(pane.width() / 2.0, pane.height() / 2.0)
        return (center - self._offset) / self._zoom

    def _center_on(self, content: QPointF) -> None:
        pane = self._pane_rect(0)
        self._offset = QPointF(pane.width() / 2.0, pane.height() / 2.0) - content * self._zoom

    def _rescale_view(self, old_size: QSize) -> None:
        """The content changed size (a result at another scale): keep the same view of it."""
        new_size = self.content_size()
        if self._fit_mode or old_size.isEmpty() or new_size.isEmpty():
            self.fit()
            return
        ratio = new_size.width() / old_size.width()
        center = self._content_at_pane_center() * ratio
        self._set_zoom_value(self._zoom / ratio)
        self._center_on(center)

    # --- geometry ---------------------------------------------------------------
    def _side_by_side(self) -> bool:
        return self._mode == ViewMode.SIDE_BY_SIDE and self._after is not None

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
        if self._before is None and self._after is None:
            self._paint_placeholder(painter)
            painter.end()
            return
        self._paint_images(painter)
        if self.shown_label():
            self._paint_label(painter, self.rect(), self.shown_label(), Qt.AlignmentFlag.AlignLeft)
        for index in (0, 1) if self._side_by_side() else (0,):
            self._paint_marks(painter, self._pane_rect(index))
        painter.end()

    def _paint_images(self, painter: QPainter) -> None:
        if self._after is None or self._mode == ViewMode.BEFORE:
            self._paint_layer(painter, self._before, self.rect(), self._pane_rect(0))
        elif self._mode == ViewMode.AFTER:
            self._paint_result(painter, self.rect(), self._pane_rect(0))
        elif self._mode == ViewMode.SIDE_BY_SIDE:
            left, right = self._pane_rect(0), self._pane_rect(1)
            self._paint_layer(painter, self._before, left, left)
            self._paint_result(painter, right, right)
            self._paint_label(painter, left, "Original", Qt.AlignmentFlag.AlignLeft)
            self._paint_label(painter, right, "Result", Qt.AlignmentFlag.AlignRight)
        else:
            x = self.divider_x()
            pane = self._pane_rect(0)
            left = QRect(0, 0, x, self.height())
            right = QRect(x, 0, self.width() - x, self.height())
            self._paint_layer(painter, self._before, left, pane)
            self._paint_result(painter, right, pane)
            self._paint_divider(painter, x)
            self._paint_label(painter, self.rect(), "Original", Qt.AlignmentFlag.AlignLeft)
            self._paint_label(painter, self.rect(), "Result", Qt.AlignmentFlag.AlignRight)

    def _paint_marks(self, painter: QPainter, pane: QRect) -> None:
        """Brush maps and face outlines, over whatever the pane shows."""
        origin = QPointF(pane.topLeft()) + self._offset
        painter.save()
        painter.setClipRect(pane)
        for name in sorted(self._shown_maps):
            painted = self._maps.get(name)
            if painted is not None and painted.painted:
                self._paint_map(painter, origin, painted, stroking=self._drag == "paint"
                                and name == self._tool)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for index, box in enumerate(self._faces):
            chosen = index in self._face_selected
            rect = QRectF(origin + box.topLeft() * self._zoom, box.size() * self._zoom)
            pen = QPen(QColor(90, 230, 120) if chosen else QColor(200, 200, 200), 2,
                       Qt.PenStyle.SolidLine if chosen else Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, 4, 4)
            painter.drawText(rect.topLeft() + QPointF(4, -4), str(index))
        painter.restore()

    def _paint_map(self, painter: QPainter, origin: QPointF, painted: PaintedMap,
                   stroking: bool) -> None:
        """A map's outline, so the picture under it shows what the strokes do; while a
        stroke is drawn, a light tint too, where the outline is not traced yet."""
        painter.save()
        painter.translate(origin)
        painter.scale(self._zoom, self._zoom)
        if stroking:
            painter.setOpacity(_STROKE_TINT)
            painter.drawImage(QPointF(0, 0), painted.image)
            painter.setOpacity(1.0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for colour, width in ((QColor(0, 0, 0, 160), 3.0), (painted.colour, 1.5)):
            pen = QPen(colour, width)
            pen.setCosmetic(True)  # screen pixels wide at any zoom
            painter.setPen(pen)
            painter.drawPath(painted.outline)
        painter.restore()

    def _paint_checker(self, painter: QPainter, layer: Pyramid, clip: QRect, pane: QRect) -> None:
        """A checkerboard where the image is, so transparency is visible as such."""
        if not layer.has_alpha:
            return
        if self._checker is None:
            self._checker = checkerboard(self._dark)
        origin = QPointF(pane.topLeft()) + self._offset
        content = self.content_size()
        area = QRectF(origin, QSizeF(content.width() * self._zoom,
                                     content.height() * self._zoom)).toAlignedRect()
        painter.fillRect(area.intersected(clip), self._checker)

    def _paint_result(self, painter: QPainter, clip: QRect, pane: QRect) -> None:
        self._paint_layer(painter, self._after, clip, pane)
        if not self._overlay_visible:
            return
        if self._overlay is None and self._overlay_image is not None:
            self._overlay = Pyramid(self._overlay_image)
        if self._overlay is not None:
            self._paint_layer(painter, self._overlay, clip, pane)

    def _paint_layer(
        self, painter: QPainter, layer: Pyramid | None, clip: QRect, pane: QRect
    ) -> None:
        """Draw the visible part of ``layer``, stretched to the content size by the
        painter's transform, inside ``clip``; ``pane`` gives the view origin."""
        if layer is None or clip.isEmpty():
            return
        if layer is not self._overlay:
            self._paint_checker(painter, layer, clip, pane)
        content = self.content_size()
        # Screen px per layer px: the original is smaller than the result by the scale.
        sx = self._zoom * content.width() / layer.size.width()
        sy = self._zoom * content.height() / layer.size.height()
        level, factor = layer.level_for(min(sx, sy))
        sx, sy = sx / factor, sy / factor  # screen px per px of the chosen level
        origin = QPointF(pane.topLeft()) + self._offset
        # The pane's visible rectangle in level pixels, widened a little so bilinear
        # filtering at the edge samples real neighbours. It is taken from the pane, not the
        # clip, so a layer is drawn identically whatever part of it the divider reveals.
        left = math.floor((pane.left() - origin.x()) / sx) - 2
        top = math.floor((pane.top() - origin.y()) / sy) - 2
        right = math.ceil((pane.right() + 1 - origin.x()) / sx) + 2
        bottom = math.ceil((pane.bottom() + 1 - origin.y()) / sy) + 2
        source = QRect(left, top, right - left, bottom - top).intersected(level.rect())
        if source.isEmpty():
            return
        painter.save()
        painter.setClipRect(clip)
        # An original smaller than the result is stretched to its size, and the heat overlay
        # is a soft map: both bilinear. Zoomed in, pictures at the result's size (the
        # result; the original beside a same-size heal) show their true pixels.
        stretched = layer.size != content
        smooth = layer is self._overlay or stretched or min(sx, sy) < 1.0
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.translate(origin)
        painter.scale(sx, sy)
        painter.drawImage(QRectF(source), level, QRectF(source))
        painter.restore()

    def _paint_divider(self, painter: QPainter, x: int) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(0, 0, 0, 110), 4))
        painter.drawLine(x, 0, x, self.height())
        painter.setPen(QPen(QColor(255, 255, 255, 235), 2))
        painter.drawLine(x, 0, x, self.height())
        cy = self.height() / 2.0
        painter.setBrush(QColor(255, 255, 255, 240))
        painter.setPen(QPen(QColor(0, 0, 0, 120), 1))
        painter.drawEllipse(QPointF(x, cy), 15, 15)
        painter.setBrush(QColor(40, 40, 40))
        painter.setPen(Qt.PenStyle.NoPen)
        for direction in (-1, 1):
            arrow = QPainterPath()
            tip = QPointF(x + direction * 10, cy)
            arrow.moveTo(tip)
            arrow.lineTo(x + direction * 4, cy - 5)
            arrow.lineTo(x + direction * 4, cy + 5)
            arrow.closeSubpath()
            painter.drawPath(arrow)
        painter.restore()

    def _paint_label(
        self, painter: QPainter, area: QRect, text: str, align: Qt.AlignmentFlag
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() * 0.9, 7.0))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(text) + 16
        height = metrics.height() + 6
        left = area.left() + 10 if align == Qt.AlignmentFlag.AlignLeft else area.right() - 10 - width
        chip = QRectF(left, area.top() + 10, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(chip, height / 2, height / 2)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _paint_placeholder(self, painter: QPainter) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        colour = QColor("#8a9099") if self._dark else QColor("#5d636b")
        box = QRectF(self.rect()).adjusted(40, 40, -40, -40)
        if box.width() > 80 and box.height() > 80:
            pen = QPen(colour, 2, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box, 18, 18)
        painter.setPen(colour)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        painter.setFont(font)
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         self._placeholder)
        painter.restore()

    # --- input ------------------------------------------------------------------------
    def _near_divider(self, pos: QPointF) -> bool:
        return (
            self._mode == ViewMode.SPLIT
            and self._after is not None
            and abs(pos.x() - self.divider_x()) <= _DIVIDER_GRAB_PX
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        button = event.button()
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton,
                          Qt.MouseButton.RightButton):
            super().mousePressEvent(event)
            return
        pos = event.position()
        self._press_pos = pos
        if button == Qt.MouseButton.LeftButton and self._near_divider(pos):
            self._drag = "split"
        elif button == Qt.MouseButton.LeftButton and self._tool:
            self._drag = "paint"
            self.paint_stroke(self._tool, [self.widget_to_content(pos)])
        else:  # left drag without a brush, or middle/right drag with one: pan
            self._drag = "pan"
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        self._last_mouse = pos
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._drag == "split":
            self.set_split(pos.x() / max(self.width(), 1))
        elif self._drag == "paint":
            self.paint_stroke(self._tool, [self.widget_to_content(self._last_mouse),
                                           self.widget_to_content(pos)])
        elif self._drag == "pan":
            delta = pos - self._last_mouse
            self.pan_by(delta.x(), delta.y())
        elif self._near_divider(pos):
            self.setCursor(Qt.CursorShape.SplitHCursor)
        else:
            self.setCursor(Qt.CursorShape.CrossCursor if self._tool else
                           Qt.CursorShape.OpenHandCursor)
        self._last_mouse = pos

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        drag, self._drag = self._drag, None
        pos = event.position()
        if drag == "paint":
            self._trace(self._tool)
            self.stroke_finished.emit(self._tool)
        elif drag == "pan" and (pos - self._press_pos).manhattanLength() <= _CLICK_SLOP:
            self._click_face(pos)
        self.setCursor(Qt.CursorShape.CrossCursor if self._tool else
                       Qt.CursorShape.OpenHandCursor)
        event.accept()

    def _click_face(self, pos: QPointF) -> None:
        point = self.widget_to_content(pos)
        for index, box in enumerate(self._faces):
            if box.contains(point):
                self.face_clicked.emit(index)
                return

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps == 0 or self.content_size().isEmpty():
            return
        pos = event.position()
        pane = self._pane_rect(self._pane_at(pos))
        self.zoom_at(WHEEL_STEP**steps, pos - QPointF(pane.topLeft()))
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        if self._fit_mode:
            self.fit()
        else:
            old = event.oldSize()
            if old.isValid():
                self._offset += QPointF(
                    (event.size().width() - old.width()) / 2.0,
                    (event.size().height() - old.height()) / 2.0,
                ) * (0.5 if self._side_by_side() else 1.0)
        super().resizeEvent(event)


def _pan_range(offset: float, pane: float, extent: float) -> float:
    """One axis of a pan: centred when the picture fits the pane, else kept covering it."""
    if extent <= pane:
        return (pane - extent) / 2.0
    return min(max(offset, pane - extent), 0.0)
