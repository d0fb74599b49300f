"""The Compare box: where the split divider stands, and the deviation map with its key."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)


class HeatLegend(QWidget):
    """The deviation overlay's colour key: faithful (clear) to invented (yellow)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(10)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        gradient = QLinearGradient(0, 0, self.width(), 0)
        gradient.setColorAt(0.0, QColor(200, 20, 60, 0))
        gradient.setColorAt(0.3, QColor(220, 50, 40, 150))
        gradient.setColorAt(0.6, QColor(255, 90, 0, 180))
        gradient.setColorAt(1.0, QColor(255, 240, 70, 180))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(gradient)
        painter.drawRoundedRect(self.rect(), 4, 4)
        painter.end()



class CompareBox(QGroupBox):
    """The divider slider, the deviation map switch and the map's colour key."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Compare", parent)
        layout = QVBoxLayout(self)
        split_row = QHBoxLayout()
        split_label = QLabel("Divider")
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, 1000)
        self.split_slider.setValue(500)
        self.split_slider.setToolTip(
            "Where the divider stands: the original is shown left of it, the result right of it. "
            "You can also drag the divider on the image."
        )
        split_row.addWidget(split_label)
        split_row.addWidget(self.split_slider, 1)
        self.deviation_check = QCheckBox("Show deviation map")
        self.deviation_check.setToolTip(
            "Colour the result where the network invented detail that the original does not "
            "contain: clear = faithful, red to yellow = more invented (D)"
        )
        legend_row = QHBoxLayout()
        self.legend = HeatLegend()
        low, high = QLabel("faithful"), QLabel("invented")
        for label in (low, high):
            label.setProperty("role", "hint")
        legend_row.addWidget(low)
        legend_row.addWidget(self.legend, 1)
        legend_row.addWidget(high)
        self.legend_scale = QLabel("")
        self.legend_scale.setWordWrap(True)
        self.legend_scale.setProperty("role", "hint")
        layout.addLayout(split_row)
        layout.addWidget(self.deviation_check)
        layout.addLayout(legend_row)
        layout.addWidget(self.legend_scale)
