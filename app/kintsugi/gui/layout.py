"""The window's right-hand column: the side panel in a scroll area, with its Save box
pinned underneath so it stays in view however tall the mode's page grows."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea, QSplitter, QVBoxLayout, QWidget

from kintsugi.gui.panel import SidePanel
from kintsugi.gui.widgets import WheelGuard


class SideColumn(QWidget):
    def __init__(self, panel: SidePanel) -> None:
        super().__init__()
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(panel)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._wheel_guard = WheelGuard(self.scroll_area)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.scroll_area, 1)
        save_holder = QWidget()
        save_layout = QVBoxLayout(save_holder)
        save_layout.setContentsMargins(10, 4, 10 + 12, 10)
        save_layout.addWidget(panel.save_box)
        layout.addWidget(save_holder)
        self.setMinimumWidth(panel.minimumWidth() + 14)
        self.setMaximumWidth(panel.maximumWidth() + 14)

    def split_with(self, canvas: QWidget) -> QSplitter:
        """The canvas on the left taking what room there is, this column on the right."""
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(canvas)
        splitter.addWidget(self)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)
        return splitter
