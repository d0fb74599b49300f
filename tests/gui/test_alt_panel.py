"""The Upscale tab's alternatives box: the strip's highlight says what the sliders show."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from kintsugi.engine.alt_session import strip_settings
from kintsugi.gui.alt_panel import AlternativesBox

pytestmark = pytest.mark.gui


def highlighted(box: AlternativesBox) -> list[str]:
    return [item.text() for item in box.strip.selectedItems()]


def test_the_strip_highlight_follows_the_sliders(qtbot) -> None:  # type: ignore[no-untyped-def]
    box = AlternativesBox()
    qtbot.addWidget(box)
    box.set_pair_available(True, "")
    box.setVisible(True)
    thumb = QImage(8, 8, QImage.Format.Format_RGB32)
    thumb.fill(Qt.GlobalColor.gray)
    for setting in strip_settings(paired=True):
        box.add_alternative(thumb, setting.detail, setting.alpha)
    assert highlighted(box) == ["Mix 1.00"]  # the sliders start at the realistic result
    first = box.strip.item(0)
    qtbot.mouseClick(box.strip.viewport(), Qt.MouseButton.LeftButton,
                     pos=box.strip.visualItemRect(first).center())
    box.set_values(1.0, 0.0)  # what the window does for a click on the strip
    assert highlighted(box) == ["Mix 0.00"]
    box.blend_slider.setValue(100)  # dragging Mix to 1.00
    assert highlighted(box) == ["Mix 1.00"]
    box.blend_slider.setValue(40)  # a value no thumbnail shows
    assert highlighted(box) == []
    box.detail_slider.setValue(50)
    box.blend_slider.setValue(50)
    assert highlighted(box) == ["Mix 0.50\nDetail 0.5"]


def test_the_faces_strip_highlight_follows_its_slider(qtbot) -> None:  # type: ignore[no-untyped-def]
    from kintsugi.gui.restore_panel import STRIP_VALUES, RestorePanel

    panel = RestorePanel()
    qtbot.addWidget(panel)
    strip = panel.alt_strip
    thumb = QImage(8, 8, QImage.Format.Format_RGB32)
    thumb.fill(Qt.GlobalColor.gray)
    for value in STRIP_VALUES:  # as the window fills it, one by one, in order
        strip.add_thumbnail(thumb, f"{value:+.1f}", "")

    def shown() -> list[str]:
        return [item.text() for item in strip.strip.selectedItems()]

    assert shown() == ["+0.0"]  # the slider starts at 0
    panel.bias.set_value(1.0)
    assert shown() == ["+1.0"]
    panel.bias.set_value(0.3)
    assert shown() == []
    panel.set_bias_quietly(-0.5)  # a click on the strip moves the slider quietly
    assert shown() == ["-0.5"]
