"""The window's layout: where a first window opens, and its right-hand column (the side
panel in a scroll area, with its Save box pinned underneath so it stays in view however
tall the mode's page grows)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QScrollArea, QSplitter, QVBoxLayout, QWidget

from kintsugi.gui.panel import SidePanel
from kintsugi.gui.widgets import WheelGuard

SCREEN_SHARE = 0.9  # a first window covers this much of the screen
MIN_SIZE = QSize(1024, 700)  # where the panel's main action is in view without scrolling
FRAME = QSize(16, 48)  # room left for the window's title bar and borders


def first_size(available: QRect) -> QSize:
    """The size of a window opened for the first time: most of the screen, at least the
    size the panel was laid out for, never more than the screen has room for."""
    wanted = QSize(round(available.width() * SCREEN_SHARE), round(available.height() * SCREEN_SHARE))
    return wanted.expandedTo(MIN_SIZE).boundedTo(available.size() - FRAME)


def place_first(window: QWidget) -> None:
    """A window with no saved place: sized by first_size, centred on its screen."""
    available = window.screen().availableGeometry()
    size = first_size(available)
    window.resize(size)
    # move() places the frame: centred, with its title bar on the screen.
    room = available.size() - size - FRAME
    window.move(available.x() + room.width() // 2, available.y() + room.height() // 2)


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
