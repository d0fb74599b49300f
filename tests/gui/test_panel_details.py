"""Small things a trial noticed in the side panel: disabled sliders that looked live, an
empty progress bar and Cancel icon while nothing runs, and a panel that jumped when the
result line wrapped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QSlider, QVBoxLayout, QWidget

from kintsugi.gui.panel import SidePanel
from kintsugi.gui.theme import ACCENT, apply_theme
from kintsugi.gui.widgets import RunControls

pytestmark = pytest.mark.gui


@pytest.fixture
def themed(qapp: QApplication) -> Iterator[QApplication]:
    """The app's own style and palettes, put back afterwards for the other tests."""
    style, palette = qapp.style().name(), qapp.palette()
    yield qapp
    qapp.setStyle(style)
    qapp.setPalette(palette)


def groove_colour(qtbot, enabled: bool) -> QColor:  # type: ignore[no-untyped-def]
    slider = QSlider(Qt.Orientation.Horizontal)
    qtbot.addWidget(slider)
    slider.setRange(0, 100)
    slider.setValue(100)  # the groove filled from end to end
    slider.setEnabled(enabled)
    slider.resize(200, 24)
    shot = slider.grab().toImage()
    return shot.pixelColor(slider.width() // 3, slider.height() // 2)


def accent_distance(colour: QColor) -> int:
    return sum(abs(a - b) for a, b in zip(colour.getRgb()[:3], ACCENT.getRgb()[:3], strict=True))


@pytest.mark.parametrize("dark", [True, False])
def test_a_disabled_slider_does_not_wear_the_accent(qtbot, themed, dark: bool) -> None:
    apply_theme(themed, dark=dark)
    enabled, disabled = groove_colour(qtbot, True), groove_colour(qtbot, False)
    assert enabled.hsvSaturation() > 100  # the gold of an enabled slider's filled groove
    assert disabled.hsvSaturation() < 40 and accent_distance(disabled) > 150


def test_progress_and_cancel_show_only_while_a_run_is_busy(qtbot) -> None:  # type: ignore[no-untyped-def]
    holder = QWidget()
    qtbot.addWidget(holder)
    layout = QVBoxLayout(holder)
    run = RunControls("Go", "Go", "Stop")
    run.add_to(layout)
    layout.addStretch(1)
    holder.show()
    idle_height = run.label.y()
    assert not run.progress.isVisible() and not run.cancel_button.isVisible()
    run.set_busy(True)
    assert run.progress.isVisible() and run.cancel_button.isVisible()
    assert run.label.y() == idle_height  # the space is kept: nothing under them moves
    run.set_busy(False)
    assert not run.progress.isVisible() and not run.cancel_button.isVisible()


def test_the_panel_keeps_still_when_the_result_line_wraps(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = SidePanel()
    qtbot.addWidget(panel)
    panel.resize(300, 900)
    panel.alternatives.setVisible(True)
    panel.show()
    line = panel.result_info
    line.setText("Result: 96×96 · ×2 · waifu2x photo x2 · 0.2 s")
    qtbot.wait(20)
    below = panel.alternatives.y()
    line.setText("Result: 192×192 · ×4 · Real-ESRGAN x4plus · Mix 0.25 · Detail 1.25 · 31 ms")
    qtbot.wait(20)
    assert line.heightForWidth(line.width()) > line.fontMetrics().lineSpacing()  # it wraps
    assert panel.alternatives.y() == below


def test_help_lists_the_windows_shortcuts_and_says_how_to(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QDialog, QLabel, QTableWidget

    window = make_window()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    entries = [a.text() for a in help_menu.actions()]
    assert entries[:2] == ["&How to use Kintsugi", "&Keyboard shortcuts"]
    window.act_fit.setShortcuts(["Ctrl+9"])  # the list is read from the actions as they are
    help_menu.actions()[1].trigger()
    dialog = window.findChildren(QDialog)[-1]
    table = dialog.findChild(QTableWidget)
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["Toggle original / result"] == "Space"
    assert rows["Fit to window"] == "Ctrl+9"
    assert rows["Shrink the brush"] == "[" and rows["Grow the brush"] == "]"
    assert rows["Zoom in or out at the pointer"] == "Mouse wheel"
    dialog.close()
    help_menu.actions()[0].trigger()
    how_to = window.findChildren(QDialog)[-1].findChild(QLabel).text()
    assert "Upscale" in how_to and "Ctrl+O" in how_to and "Space" in how_to
