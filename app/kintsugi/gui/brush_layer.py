"""The painted maps over the canvas's picture, and the brush a drag paints them with.

The canvas owns one ``BrushLayer`` (``canvas.brushes``); the flows read a map as a mask
for the engine, clear it once used, or take it away and put it back with an undo.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen

from kintsugi.gui.brush import PaintedMap

_STROKE_TINT = 0.3  # opacity of a map's colour while a stroke is being drawn
# Painted brush maps: colour on screen (the map's meaning is its alpha).
BRUSH_COLOURS = {"realness": QColor(255, 150, 40), "fidelity": QColor(60, 160, 255),
                 "heal": QColor(80, 220, 120), "face-realness": QColor(255, 150, 40),
                 "face-fidelity": QColor(60, 160, 255)}


class BrushLayer(QObject):
    """Named maps at the content size, which of them show, and the brush that paints."""

    changed = Signal()  # the layer looks different: repaint

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tool = ""  # the map a left drag paints ("" = the drag pans)
        self.size = 40.0
        self.hardness = 0.5
        self._stroking = False  # a mouse stroke is under way: outlined once, when it ends
        self._maps: dict[str, PaintedMap] = {}
        self._shown: set[str] = set()
        self._content = QSize(0, 0)

    def set_tool(self, tool: str, size: float | None = None, hardness: float | None = None
                 ) -> None:
        self.tool = tool
        if size is not None:
            self.size = size
        if hardness is not None:
            self.hardness = hardness
        self.changed.emit()

    def reset(self, content: QSize) -> None:
        """The picture changed size: the maps painted in the old size's coordinates go."""
        self._maps.clear()
        self._content = QSize(content)

    def show(self, names: set[str]) -> None:
        self._shown = set(names)
        self.changed.emit()

    def map(self, name: str) -> PaintedMap | None:
        return self._maps.get(name)

    def mask(self, name: str) -> np.ndarray | None:
        """The painted map as HxW float32 in [0,1] at the content size, or None if unpainted."""
        painted = self._maps.get(name)
        return painted.mask_array() if painted is not None and painted.painted else None

    def clear(self, name: str) -> None:
        self._maps.pop(name, None)
        self.changed.emit()

    def take(self, name: str) -> PaintedMap | None:
        """Remove a map and hand it over (to be put back by ``put``)."""
        painted = self._maps.pop(name, None)
        self.changed.emit()
        return painted

    def put(self, name: str, painted: PaintedMap | None) -> None:
        """Show a map taken earlier again, if it still fits the picture on screen."""
        if painted is not None and painted.image.size() == self._content:
            self._maps[name] = painted
            self.changed.emit()

    def stroke(self, name: str, points: list[QPointF], size: float | None = None,
               hardness: float | None = None) -> None:
        """Paint a stroke through content-coordinate `points` (the mouse does the same)."""
        painted = self._map_to_paint(name)
        if painted is None:
            return
        size = self.size if size is None else size
        hardness = self.hardness if hardness is None else hardness
        previous = points[0]
        for point in points:
            painted.dab_line(previous, point, size, hardness)
            previous = point
        if not self._stroking:
            painted.trace()
        self.changed.emit()

    def begin_stroke(self, point: QPointF) -> None:
        """A mouse stroke with the tool starts at `point` (content coordinates)."""
        self._stroking = True
        self.stroke(self.tool, [point])

    def end_stroke(self) -> None:
        self._stroking = False
        painted = self._maps.get(self.tool)
        if painted is not None:
            painted.trace()
        self.changed.emit()

    def paint(self, painter: QPainter, origin: QPointF, zoom: float) -> None:
        """The shown maps, with the content's top-left corner at `origin`."""
        for name in sorted(self._shown):
            painted = self._maps.get(name)
            if painted is not None and painted.painted:
                _paint_map(painter, origin, zoom, painted,
                           stroking=self._stroking and name == self.tool)

    def _map_to_paint(self, name: str) -> PaintedMap | None:
        if self._content.isEmpty():
            return None
        painted = self._maps.get(name)
        if painted is None:
            colour = BRUSH_COLOURS.get(name, QColor("red"))
            painted = PaintedMap(self._content.width(), self._content.height(), colour)
            self._maps[name] = painted
        return painted


def _paint_map(painter: QPainter, origin: QPointF, zoom: float, painted: PaintedMap,
               stroking: bool) -> None:
    """A map's outline, so the picture under it shows what the strokes do; while a stroke
    is drawn, a light tint too, where the outline is not traced yet."""
    painter.save()
    painter.translate(origin)
    painter.scale(zoom, zoom)
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
