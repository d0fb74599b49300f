"""The canvas's view transform: how large the content is drawn and where it sits in a pane.

A pane is the part of the canvas one picture is drawn in (the whole canvas, or one half of
it side by side); the offset is the pane position of the content's top-left corner.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QSize, Signal

MIN_ZOOM = 0.01
MAX_ZOOM = 64.0


class ViewTransform(QObject):
    """Zoom and pan of the content in a pane; fits the pane until the user zooms or pans."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.zoom = 1.0
        self.offset = QPointF(0.0, 0.0)
        self.fitting = True  # refit on resize until the user zooms or pans

    def to_pane(self, point: QPointF) -> QPointF:
        return self.offset + point * self.zoom

    def from_pane(self, pos: QPointF) -> QPointF:
        return (pos - self.offset) / self.zoom

    def fit(self, pane: QSize, content: QSize) -> None:
        """Zoom so the whole content shows in the pane, centred (tiny pictures are enlarged
        so there is something to look at)."""
        self.fitting = True
        if content.isEmpty() or pane.isEmpty():
            return
        self._set_zoom(min(pane.width() / content.width(), pane.height() / content.height()))
        self.offset = QPointF((pane.width() - content.width() * self.zoom) / 2.0,
                              (pane.height() - content.height() * self.zoom) / 2.0)

    def actual_size(self, pane: QSize) -> None:
        """100%: one content pixel per screen pixel, keeping the centre of the pane."""
        center = self.content_at_center(pane)
        self._set_zoom(1.0)
        self.center_on(pane, center)
        self.fitting = False

    def zoom_at(self, factor: float, pane_pos: QPointF) -> None:
        """Multiply the zoom by ``factor`` keeping the content under ``pane_pos`` still."""
        content = self.from_pane(pane_pos)
        self._set_zoom(self.zoom * factor)
        self.offset = pane_pos - content * self.zoom
        self.fitting = False

    def pan_by(self, delta: QPointF, pane: QSize, content: QSize) -> bool:
        """Move the picture, but never off-centre along a side it fits in, nor so far that
        an empty band opens where there is more picture (at fit zoom a drag moves nothing).
        True if it moved."""
        moved = self.offset + delta
        offset = QPointF(_pan_range(moved.x(), pane.width(), content.width() * self.zoom),
                         _pan_range(moved.y(), pane.height(), content.height() * self.zoom))
        if offset == self.offset:
            return False
        self.offset = offset
        self.fitting = False
        return True

    def content_at_center(self, pane: QSize) -> QPointF:
        return self.from_pane(QPointF(pane.width() / 2.0, pane.height() / 2.0))

    def center_on(self, pane: QSize, content: QPointF) -> None:
        self.offset = QPointF(pane.width() / 2.0, pane.height() / 2.0) - content * self.zoom

    def keep_view(self, pane: QSize, old_size: QSize, new_size: QSize) -> None:
        """The content changed size (a result at another scale): show the same part of it."""
        if self.fitting or old_size.isEmpty() or new_size.isEmpty():
            self.fit(pane, new_size)
            return
        ratio = new_size.width() / old_size.width()
        center = self.content_at_center(pane) * ratio
        self._set_zoom(self.zoom / ratio)
        self.center_on(pane, center)

    def _set_zoom(self, zoom: float) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        if zoom != self.zoom:
            self.zoom = zoom
            self.zoom_changed.emit(zoom)


def _pan_range(offset: float, pane: float, extent: float) -> float:
    """One axis of a pan: centred when the picture fits the pane, else kept covering it."""
    if extent <= pane:
        return (pane - extent) / 2.0
    return min(max(offset, pane - extent), 0.0)
