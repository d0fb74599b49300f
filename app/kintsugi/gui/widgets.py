"""Small widget groups shared by the side panels."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QScrollBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kintsugi.gui.icons import icon, tinted


def clock(seconds: float) -> str:
    """0:07, 12:30, 1:02:03: elapsed times and ETAs."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


SCREEN_SHARE = 0.9  # the most of the screen's free area a dialog takes


def select_data(combo: QComboBox, value: object) -> None:
    """Choose the combo box entry whose data is `value`, if there is one."""
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)


def fit_to_screen(dialog: QWidget, width: int, height: int) -> None:
    """Open at width x height, or smaller where the screen is: and never grow wider than
    that, so a long message wraps instead of pushing the buttons off the screen (a
    download's one-line failure widened its dialog from 820 to 1366 px in a trial)."""
    area = dialog.screen().availableGeometry()
    widest, tallest = round(area.width() * SCREEN_SHARE), round(area.height() * SCREEN_SHARE)
    dialog.setMaximumWidth(widest)
    dialog.resize(min(width, widest), min(height, tallest))


class WheelGuard(QObject):
    """Scrolling the side panel must not change the setting that passes under the mouse
    (Qt's combo boxes, spin boxes and sliders take wheel events without focus: one flick
    over "Size" turned x4 into x8 in a trial). Until such a control has focus, the wheel
    scrolls the panel instead. Installed on the application, so controls added later
    (per-block sliders) are covered too."""

    CONTROLS = (QComboBox, QAbstractSpinBox, QAbstractSlider)

    def __init__(self, scroll: QScrollArea) -> None:
        super().__init__(scroll)
        self._scroll = scroll
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() != QEvent.Type.Wheel:
            return False
        if not isinstance(watched, self.CONTROLS) or isinstance(watched, QScrollBar):
            return False
        if watched.hasFocus() or not self._scroll.isAncestorOf(watched):
            return False
        QApplication.sendEvent(self._scroll.verticalScrollBar(), event)
        return True


class RunControls(QObject):
    """A primary action button, a thin progress bar with a Cancel button, and a status line:
    the same block in every mode's panel.

    While a run is busy the primary button itself becomes Cancel: a second click (or
    Ctrl+Enter) must never silently restart a deliberate run from 0%."""

    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, text: str, tooltip: str, cancel_tooltip: str) -> None:
        super().__init__()
        self._text, self._tooltip, self._cancel_tooltip = text, tooltip, cancel_tooltip
        self.busy = False
        self.button = QPushButton(tinted("upscale", "#1b1b1b"), text)
        self.button.setObjectName("primary")
        self.button.setMinimumHeight(38)
        self.button.setToolTip(tooltip)
        self.button.clicked.connect(self._on_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.cancel_button = QToolButton()
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setToolTip(cancel_tooltip)
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.label = QLabel("")
        self.label.setProperty("role", "hint")
        self.label.setWordWrap(True)
        for idle in (self.progress, self.cancel_button):  # shown only while a run is busy
            policy = idle.sizePolicy()
            policy.setRetainSizeWhenHidden(True)  # hiding them must not move the panel
            idle.setSizePolicy(policy)
        self.set_busy(False)

    def add_to(self, layout: QVBoxLayout) -> None:
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addWidget(self.button)
        layout.addLayout(row)
        layout.addWidget(self.label)

    @Slot()
    def _on_clicked(self) -> None:
        if self.busy:
            self.cancel_requested.emit()
        else:
            self.run_requested.emit()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.cancel_button.setEnabled(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)
        if busy:
            self.button.setText("  Cancel")
            self.button.setIcon(tinted("cancel", "#1b1b1b"))
            self.button.setToolTip(self._cancel_tooltip)
            self.button.setEnabled(True)
        else:
            self.button.setText(self._text)
            self.button.setIcon(tinted("upscale", "#1b1b1b"))
            self.button.setToolTip(self._tooltip)
            self.progress.setValue(0)

    def set_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.label.setText(message)

    def clear(self) -> None:
        self.progress.setValue(0)
        self.label.setText("")
        self.label.setToolTip("")

    def refresh_icons(self) -> None:
        self.set_busy(self.busy)
        self.cancel_button.setIcon(icon("cancel"))
