"""Brush settings shared by the heal and alternatives panels, and the painted maps.

A map is painted on the canvas in result (content) coordinates as soft round dabs; the
engine receives it as an HxW float array in [0, 1] (``mask_array``). Once a stroke ends the
canvas draws only the map's outline, so its effect on the picture shows under it.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPolygonF,
    QRadialGradient,
    QShortcut,
)
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

DEFAULT_SIZE = 40  # brush diameter in photo pixels
DEFAULT_HARDNESS = 50  # percent of the radius painted at full strength
MIN_SIZE, MAX_SIZE = 1, 400
SIZE_STEPS = 1000  # slider positions from MIN_SIZE to MAX_SIZE
KEY_STEP = 1.15  # [ and ] shrink and grow the brush by this factor (1 px at least)
_OUTLINE_SLACK = 0.8  # px a map's drawn outline may stray from its pixel edge


def size_at(position: int) -> int:
    """The brush size at a slider position: the slider is logarithmic, so a small brush
    gets as fine steps as a big one (a linear 2-400 px slider jumped 9 -> 60 px in a
    trial's small drag)."""
    return round(MIN_SIZE * (MAX_SIZE / MIN_SIZE) ** (position / SIZE_STEPS))


def position_of(size: int) -> int:
    return round(SIZE_STEPS * math.log(size / MIN_SIZE) / math.log(MAX_SIZE / MIN_SIZE))


class BrushControls(QWidget):
    """Size (a logarithmic slider and a box in 1 px steps; [ and ] keys) and hardness."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        tip = "Brush diameter in pixels of the image on screen; [ and ] shrink and grow it"
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(0, SIZE_STEPS)
        self.size_slider.setValue(position_of(DEFAULT_SIZE))
        self.size_slider.setToolTip(tip)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(MIN_SIZE, MAX_SIZE)
        self.size_spin.setValue(DEFAULT_SIZE)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip(tip)
        self.size_slider.valueChanged.connect(self._on_size_slider)
        self.size_spin.valueChanged.connect(self._on_size_spin)
        self.hardness_slider = QSlider(Qt.Orientation.Horizontal)
        self.hardness_slider.setRange(0, 100)
        self.hardness_slider.setValue(DEFAULT_HARDNESS)
        self.hardness_slider.setToolTip(
            "How much of the brush paints at full strength; the rest fades out to its edge")
        self._hard_label = QLabel(f"{DEFAULT_HARDNESS} %")
        self._hard_label.setMinimumWidth(44)
        self._hard_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.hardness_slider.valueChanged.connect(self._on_hardness)
        form.addRow("Brush", self._row(self.size_slider, self.size_spin))
        form.addRow("Hardness", self._row(self.hardness_slider, self._hard_label))
        # Window-wide but only while these controls are visible (their tab is open).
        for key, factor, what in (("[", 1 / KEY_STEP, "Shrink the brush"),
                                  ("]", KEY_STEP, "Grow the brush")):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setWhatsThis(what)  # its line in Help > Keyboard shortcuts
            shortcut.activated.connect(lambda f=factor: self.scale_size(f))

    @staticmethod
    def _row(slider: QSlider, value: QWidget) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(slider, 1)
        row.addWidget(value)
        return box

    @Slot(int)
    def _on_size_slider(self, position: int) -> None:
        self.size_spin.setValue(size_at(position))

    @Slot(int)
    def _on_size_spin(self, size: int) -> None:
        if size_at(self.size_slider.value()) != size:  # typed or keyed, not dragged here
            self.size_slider.blockSignals(True)
            self.size_slider.setValue(position_of(size))
            self.size_slider.blockSignals(False)
        self.changed.emit()

    @Slot(int)
    def _on_hardness(self, value: int) -> None:
        self._hard_label.setText(f"{value} %")
        self.changed.emit()

    def set_size(self, size: int) -> None:
        self.size_spin.setValue(size)

    def scale_size(self, factor: float) -> None:
        """Grow (factor > 1) or shrink the brush, by one pixel at least."""
        size = self.size_spin.value()
        step = round(size * factor) - size
        self.set_size(size + (step or (1 if factor > 1 else -1)))

    def size(self) -> float:  # type: ignore[override]
        return float(self.size_spin.value())

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
            # Straightened: the pixel staircase scallops the outline when zoomed in.
            points = cv2.approxPolyDP(contour, _OUTLINE_SLACK, True)[:, 0]
            # Contour points are pixel indices; the pixels' centres are half a pixel in.
            outline.addPolygon(QPolygonF([QPointF(x + 0.5, y + 0.5) for x, y in points]))
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
