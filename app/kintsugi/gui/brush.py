"""Brush settings shared by the heal and alternatives panels, and the painted maps.

A map is painted on the canvas in result (content) coordinates as soft round dabs; the
engine receives it as an HxW float array in [0, 1] (``mask_array``). Once a stroke ends the
canvas draws only the map's outline, so its effect on the picture shows under it.
"""

from __future__ import annotations

import sys

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPolygonF, QRadialGradient
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSlider, QWidget

DEFAULT_SIZE = 40  # brush diameter in photo pixels
DEFAULT_HARDNESS = 50  # percent of the radius painted at full strength


class BrushControls(QWidget):
    """Size and hardness sliders with their values."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.size_slider, self._size_label = self._slider(2, 400, DEFAULT_SIZE, " px")
        self.size_slider.setToolTip("Brush diameter in pixels of the image on screen")
        self.hardness_slider, self._hard_label = self._slider(0, 100, DEFAULT_HARDNESS, " %")
        self.hardness_slider.setToolTip(
            "How much of the brush paints at full strength; the rest fades out to its edge")
        form.addRow("Brush", self._row(self.size_slider, self._size_label))
        form.addRow("Hardness", self._row(self.hardness_slider, self._hard_label))

    def _slider(self, low: int, high: int, value: int, unit: str) -> tuple[QSlider, QLabel]:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setValue(value)
        label = QLabel(f"{value}{unit}")
        label.setMinimumWidth(44)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        @Slot(int)
        def show(v: int) -> None:
            label.setText(f"{v}{unit}")
            self.changed.emit()

        slider.valueChanged.connect(show)
        return slider, label

    @staticmethod
    def _row(slider: QSlider, label: QLabel) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(slider, 1)
        row.addWidget(label)
        return box

    def size(self) -> float:  # type: ignore[override]
        return float(self.size_slider.value())

    def hardness(self) -> float:
        return self.hardness_slider.value() / 100.0


class PaintedMap:
    """One painted map at content size: a colour layer whose alpha channel is the mask, and
    the outline of where it is at least half strength (content coordinates)."""

    def __init__(self, width: int, height: int, colour: QColor) -> None:
        self.image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        self.image.fill(Qt.GlobalColor.transparent)
        self.colour = colour
        self.painted = False
        self.outline = QPainterPath()

    def dab_line(self, start: QPointF, end: QPointF, size: float, hardness: float) -> None:
        """Soft round dabs from `start` to `end`, a quarter radius apart."""
        radius = max(size / 2.0, 0.5)
        dist = max(abs(end.x() - start.x()), abs(end.y() - start.y()))
        steps = max(1, int(dist / max(radius / 4.0, 0.5)))
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        for i in range(steps + 1):
            t = i / steps
            centre = start + (end - start) * t
            gradient = QRadialGradient(centre, radius)
            solid = QColor(self.colour)
            solid.setAlpha(255)
            clear = QColor(self.colour)
            clear.setAlpha(0)
            gradient.setColorAt(0.0, solid)
            gradient.setColorAt(min(max(hardness, 0.0), 0.999), solid)
            gradient.setColorAt(1.0, clear)
            painter.setBrush(gradient)
            painter.drawEllipse(centre, radius, radius)
        painter.end()
        self.painted = True

    def mask_array(self) -> np.ndarray:
        """The painted coverage, HxW float32 in [0, 1]."""
        return self._alpha().astype(np.float32) / 255.0

    def trace(self) -> None:
        """Outline the map (after a stroke: tracing a 20 MP map takes tens of ms)."""
        import cv2

        inside = (self._alpha() >= 128).astype(np.uint8)
        contours, _ = cv2.findContours(inside, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        outline = QPainterPath()
        for contour in contours:
            # Contour points are pixel indices; the pixels' centres are half a pixel in.
            outline.addPolygon(QPolygonF([QPointF(x + 0.5, y + 0.5) for x, y in contour[:, 0]]))
            outline.closeSubpath()
        self.outline = outline

    def _alpha(self) -> np.ndarray:
        image = self.image
        width, height = image.width(), image.height()
        rows = np.frombuffer(image.constBits(), np.uint8).reshape(height, image.bytesPerLine())
        argb = rows[:, : width * 4].reshape(height, width, 4)
        alpha_index = 3 if sys.byteorder == "little" else 0  # 0xAARRGGBB words in memory
        return argb[:, :, alpha_index]

    def clear(self) -> None:
        self.image.fill(Qt.GlobalColor.transparent)
        self.painted = False
        self.outline = QPainterPath()
