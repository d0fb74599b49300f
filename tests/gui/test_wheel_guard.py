"""Scrolling the side panel never changes a setting under the mouse (WheelGuard): the wheel
scrolls the panel until the control has focus, then changes it as usual."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea

pytestmark = pytest.mark.gui


def wheel_down(widget) -> None:  # type: ignore[no-untyped-def]
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, -120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_panel_not_the_setting_under_it(qtbot, make_window) -> None:
    window = make_window()
    window.resize(1100, 420)  # short enough for the panel to scroll
    qtbot.waitUntil(lambda: window.findChild(QScrollArea).verticalScrollBar().maximum() > 0)
    bar = window.findChild(QScrollArea).verticalScrollBar()
    combo = window.panel.scale_combo
    index, position = combo.currentIndex(), bar.value()
    wheel_down(combo)
    assert combo.currentIndex() == index
    assert bar.value() > position
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus)
    wheel_down(combo)
    assert combo.currentIndex() != index  # a focused control still takes the wheel
