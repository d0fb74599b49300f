"""What the canvas shows: the original, the result and its deviation map, each drawn at
the content size (the result's, else the original's) from the pyramid level closest to
the screen scale."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QSize
from PySide6.QtGui import QImage, QPainter, QPixmap

from kintsugi.gui.canvas_paint import paint_checker, paint_layer
from kintsugi.gui.imaging import Pyramid, checkerboard


class Pictures:
    """The original, the result and the deviation overlay, and how to draw each in a pane."""

    def __init__(self) -> None:
        self.before: Pyramid | None = None
        self.after: Pyramid | None = None
        self.overlay_visible = False
        self._overlay: Pyramid | None = None
        self._overlay_image: QImage | None = None
        self._dark = True
        self._checker: QPixmap | None = None

    def set_dark(self, dark: bool) -> None:
        self._dark = dark
        self._checker = None

    def set_before(self, image: QImage | None) -> None:
        """A new original, without a result yet."""
        self.before = Pyramid(image) if image is not None else None
        self.after = None
        self._overlay = None
        self._overlay_image = None

    def set_after(self, image: QImage | Pyramid | None,
                  overlay: QImage | Pyramid | None = None) -> None:
        self.after = Pyramid(image) if isinstance(image, QImage) else image
        # The overlay's pyramid is built when it is first shown: most results are never
        # looked at through the deviation map, and a 20 MP pyramid costs a tenth of a second.
        self._overlay_image = overlay if isinstance(overlay, QImage) else None
        self._overlay = overlay if isinstance(overlay, Pyramid) else None

    def content_size(self) -> QSize:
        """The size of the view's coordinate space: the result's, else the original's."""
        if self.after is not None:
            return QSize(self.after.size)
        if self.before is not None:
            return QSize(self.before.size)
        return QSize(0, 0)

    def paint_before(self, painter: QPainter, clip: QRect, pane: QRect, origin: QPointF,
                     zoom: float) -> None:
        self._paint(painter, self.before, clip, pane, origin, zoom)

    def paint_after(self, painter: QPainter, clip: QRect, pane: QRect, origin: QPointF,
                    zoom: float) -> None:
        """The result, and the deviation map over it when it is shown."""
        self._paint(painter, self.after, clip, pane, origin, zoom)
        if not self.overlay_visible:
            return
        if self._overlay is None and self._overlay_image is not None:
            self._overlay = Pyramid(self._overlay_image)
        if self._overlay is not None:
            self._paint(painter, self._overlay, clip, pane, origin, zoom, soft=True)

    def _paint(self, painter: QPainter, layer: Pyramid | None, clip: QRect, pane: QRect,
               origin: QPointF, zoom: float, soft: bool = False) -> None:
        """A picture in the part `clip` of `pane`; a photo (not `soft`, a map) over a
        checkerboard where it is transparent."""
        if layer is None or clip.isEmpty():
            return
        content = self.content_size()
        if not soft and layer.has_alpha:
            if self._checker is None:
                self._checker = checkerboard(self._dark)
            paint_checker(painter, self._checker, origin, zoom, content, clip)
        paint_layer(painter, layer, clip, pane, origin, zoom, content, soft)
