"""How the comparison is shown, kept the same wherever it can be changed: the view-mode
actions and the canvas, the Deviation map action, the panel's checkbox and the canvas
overlay, the panel's split slider and the canvas divider, the zoom in the status bar."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from kintsugi.gui.canvas import CompareCanvas, ViewMode
from kintsugi.gui.panel import SidePanel

VIEW_ACTIONS = {"split": ViewMode.SPLIT, "side_by_side": ViewMode.SIDE_BY_SIDE,
                "before": ViewMode.BEFORE, "after": ViewMode.AFTER}


class ViewSync(QObject):
    map_wanted = Signal()  # the deviation map was turned on over a result composed without it

    def __init__(self, canvas: CompareCanvas, panel: SidePanel, actions: Mapping[str, QAction],
                 zoom_label: QLabel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._canvas = canvas
        self._panel = panel
        self._actions = actions
        canvas.mode_changed.connect(self._on_mode_changed)
        canvas.split_changed.connect(self._on_split_changed)
        canvas.zoom_changed.connect(lambda zoom: zoom_label.setText(f"{zoom * 100:.0f}%"))
        panel.compare.deviation_check.toggled.connect(self.set_deviation_visible)
        panel.compare.split_slider.valueChanged.connect(lambda value: canvas.set_split(value / 1000.0))

    def set_mode(self, mode: ViewMode) -> None:
        self._canvas.set_mode(mode)
        self._on_mode_changed(mode.value)

    @Slot(str)
    def _on_mode_changed(self, value: str) -> None:
        key = next(key for key, mode in VIEW_ACTIONS.items() if mode.value == value)
        self._actions[key].setChecked(True)

    @Slot(bool)
    def set_deviation_visible(self, visible: bool) -> None:
        for widget in (self._actions["deviation"], self._panel.compare.deviation_check):
            if widget.isChecked() != visible:
                widget.blockSignals(True)
                widget.setChecked(visible)
                widget.blockSignals(False)
        self._canvas.set_overlay_visible(visible)
        if visible:
            self.map_wanted.emit()

    @Slot(float)
    def _on_split_changed(self, fraction: float) -> None:
        slider = self._panel.compare.split_slider
        slider.blockSignals(True)
        slider.setValue(round(fraction * 1000))
        slider.blockSignals(False)
