"""The faces found in the photo, outlined on the canvas: the ones chosen for restoring
solid, the others dashed; a click on an outline picks that face."""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen


class FaceOutlines(QObject):
    """Face boxes in content coordinates, and which of them are selected."""

    changed = Signal()  # the outlines look different: repaint

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._boxes: list[QRectF] = []
        self._selected: set[int] = set()

    def set(self, boxes: list[QRectF], selected: set[int]) -> None:
        self._boxes = list(boxes)
        self._selected = set(selected)
        self.changed.emit()

    def clear(self) -> None:
        self._boxes = []
        self.changed.emit()

    def boxes(self) -> list[QRectF]:
        return list(self._boxes)

    def at(self, point: QPointF) -> int | None:
        """The index of the first face whose box holds `point` (content coordinates)."""
        return next((i for i, box in enumerate(self._boxes) if box.contains(point)), None)

    def paint(self, painter: QPainter, origin: QPointF, zoom: float) -> None:
        """The outlines, numbered, with the content's top-left corner at `origin`."""
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for index, box in enumerate(self._boxes):
            chosen = index in self._selected
            rect = QRectF(origin + box.topLeft() * zoom, box.size() * zoom)
            pen = QPen(QColor(90, 230, 120) if chosen else QColor(200, 200, 200), 2,
                       Qt.PenStyle.SolidLine if chosen else Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, 4, 4)
            painter.drawText(rect.topLeft() + QPointF(4, -4), str(index))
