"""Small widget groups shared by the side panels."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
)

from kintsugi.gui.icons import icon, tinted


class RunControls:
    """A primary action button, a thin progress bar with a Cancel button, and a status line:
    the same block in the Upscale and the Restore panels."""

    def __init__(self, text: str, tooltip: str, cancel_tooltip: str) -> None:
        self.button = QPushButton(tinted("upscale", "#1b1b1b"), text)
        self.button.setObjectName("primary")
        self.button.setMinimumHeight(38)
        self.button.setToolTip(tooltip)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.cancel_button = QToolButton()
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setToolTip(cancel_tooltip)
        self.cancel_button.setAutoRaise(True)
        self.label = QLabel("")
        self.label.setProperty("role", "hint")
        self.label.setWordWrap(True)

    def add_to(self, layout: QVBoxLayout) -> None:
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addWidget(self.button)
        layout.addLayout(row)
        layout.addWidget(self.label)
