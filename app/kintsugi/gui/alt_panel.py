"""Alternatives of the upscale result: invented detail, fidelity <-> realness, a strip of
ready-made settings, and a brush to take more of either side where it is painted.

The widgets only report what the user chose; the window composes the pictures on a worker
(see ``kintsugi.engine.alt_session``), newest request first, so the sliders never queue a backlog.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from kintsugi.gui.brush import BrushControls

DETAIL_STEPS = 100  # slider units per 1.0 of detail strength (0..2)
BLEND_STEPS = 100  # slider units per 1.0 of alpha (0 = fidelity, 1 = realness)
THUMB = 72  # strip thumbnail side in px
SETTLE_MS = 30  # a drag is composed at most this often
_VALUE_ROLE = Qt.ItemDataRole.UserRole + 1  # a thumbnail's values, as the controls give them


def _slider(low: int, high: int, value: int, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    slider.setPageStep(10)
    slider.setToolTip(tip)
    return slider


def _ends(left: str, right: str) -> QHBoxLayout:
    row = QHBoxLayout()
    for text, align in ((left, Qt.AlignmentFlag.AlignLeft), (right, Qt.AlignmentFlag.AlignRight)):
        label = QLabel(text)
        label.setProperty("role", "hint")
        label.setAlignment(align)
        row.addWidget(label, 1)
    return row


class ThumbStrip(QWidget):
    """A row of clickable thumbnails with a note under it: the Upscale tab's alternatives,
    the Faces tab's bias values and Pro-PULSE's side outputs."""

    chosen = Signal(int)  # an index into the strip

    def __init__(self, tip: str, thumb: int = THUMB, cell: int | None = None,
                 lines: int = 1, parent: QWidget | None = None) -> None:
        """thumb: icon side; cell: fixed item width (so a known number of items fits the
        panel's width), None to size items by their labels; lines: of the longest label."""
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.strip = QListWidget()
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setMovement(QListWidget.Movement.Static)
        self.strip.setIconSize(QSize(thumb, thumb))
        if cell is not None:
            self.strip.setGridSize(QSize(cell, thumb + 22))
        self.strip.setFixedHeight(thumb + 34 + (lines - 1) * self.fontMetrics().lineSpacing())
        self.strip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.strip.setToolTip(tip)
        self.strip.itemClicked.connect(self._on_clicked)
        self._marked: object = None  # what ``mark`` last asked to highlight
        self.note = QLabel("")
        self.note.setProperty("role", "hint")
        self.note.setWordWrap(True)
        layout.addWidget(self.strip)
        layout.addWidget(self.note)

    def clear(self, note: str = "") -> None:
        self.strip.clear()
        self.note.setText(note)

    def add_thumbnail(self, thumb: QImage, label: str, tip: str, value: object = None) -> None:
        """value: what the thumbnail shows (the controls' values), for ``mark``; by default
        its place in the strip."""
        key = self.strip.count() if value is None else value
        item = QListWidgetItem(QIcon(QPixmap.fromImage(thumb)), label)
        item.setToolTip(tip)
        item.setData(Qt.ItemDataRole.UserRole, self.strip.count())
        item.setData(_VALUE_ROLE, key)
        self.strip.addItem(item)
        item.setSelected(self._marked is not None and key == self._marked)

    def mark(self, value: object) -> None:
        """Highlight the thumbnail of `value` (also one added later), or none: the highlight
        says what is on screen, so it follows the controls, not the last click."""
        self._marked = value
        for row in range(self.strip.count()):
            item = self.strip.item(row)
            item.setSelected(value is not None and item.data(_VALUE_ROLE) == value)

    def count(self) -> int:
        return self.strip.count()

    @Slot(QListWidgetItem)
    def _on_clicked(self, item: QListWidgetItem) -> None:
        self.chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))


class BrushTools(QWidget):
    """Paint-realness / paint-fidelity tools (one at a time, or none), Clear, and the
    brush's size and hardness."""

    tool_changed = Signal(str)  # "" | "realness" | "fidelity"
    clear_requested = Signal()

    def __init__(self, realness_tip: str, fidelity_tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.realness_button = QPushButton("Paint realness")
        self.realness_button.setToolTip(realness_tip)
        self.fidelity_button = QPushButton("Paint fidelity")
        self.fidelity_button.setToolTip(fidelity_tip)
        self._tools = QButtonGroup(self)
        self._tools.setExclusive(False)
        for button in (self.realness_button, self.fidelity_button):
            button.setCheckable(True)
            self._tools.addButton(button)
        self._tools.buttonToggled.connect(self._on_tool)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the painted strokes")
        self.clear_button.clicked.connect(self.clear_requested)
        tools = QHBoxLayout()
        tools.addWidget(self.realness_button)
        tools.addWidget(self.fidelity_button)
        tools.addWidget(self.clear_button)
        self.brush = BrushControls()
        layout.addLayout(tools)
        layout.addWidget(self.brush)

    def tool(self) -> str:
        if self.realness_button.isChecked():
            return "realness"
        if self.fidelity_button.isChecked():
            return "fidelity"
        return ""

    def set_available(self, available: bool) -> None:
        for button in (self.realness_button, self.fidelity_button):
            button.setEnabled(available)
            if not available:
                button.setChecked(False)

    @Slot(object, bool)
    def _on_tool(self, button: object, checked: bool) -> None:
        if checked:  # one tool at a time, and none is allowed
            for other in (self.realness_button, self.fidelity_button):
                if other is not button and other.isChecked():
                    other.blockSignals(True)
                    other.setChecked(False)
                    other.blockSignals(False)
        self.tool_changed.emit(self.tool())


class AlternativesBox(QGroupBox):
    """Detail and blend sliders, the strip, and the brush tools."""

    settings_changed = Signal()  # a slider moved (throttled while dragging)
    strip_chosen = Signal(int)  # an index into the strip
    tool_changed = Signal(str)  # "" | "realness" | "fidelity"
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Alternatives", parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self.settings_changed)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        self.detail_slider = _slider(
            0, 2 * DETAIL_STEPS, DETAIL_STEPS,
            "Invented detail: 1 is the network's result, 0 a smooth result that still matches "
            "the photo, up to 2 doubles what the network added. Instant: no network re-run.")
        self.detail_slider.valueChanged.connect(self._changed)
        self.detail_value = QLabel("1.00")
        self.blend_slider = _slider(
            0, BLEND_STEPS, BLEND_STEPS,
            "Mix of a faithful model's result (left) and a realistic one's (right), pixel for "
            "pixel. Both are computed once; moving the slider only mixes them.")
        self.blend_slider.valueChanged.connect(self._changed)
        self.blend_value = QLabel("1.00")
        self.blend_note = QLabel("")
        self.blend_note.setWordWrap(True)
        self.blend_note.setProperty("role", "hint")
        for label in (self.detail_value, self.blend_value):
            label.setMinimumWidth(34)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        detail_row = QHBoxLayout()
        detail_row.addWidget(QLabel("Detail"))
        detail_row.addWidget(self.detail_slider, 1)
        detail_row.addWidget(self.detail_value)
        blend_row = QHBoxLayout()
        blend_row.addWidget(QLabel("Mix"))
        blend_row.addWidget(self.blend_slider, 1)
        blend_row.addWidget(self.blend_value)
        self.thumbs = ThumbStrip("Ready-made alternatives, computed in the background: click one "
                                 "to show it; Save writes the one on screen", lines=2)
        self.thumbs.chosen.connect(self.strip_chosen)
        self.strip, self.strip_note = self.thumbs.strip, self.thumbs.note
        self.tools = BrushTools("Paint where to take more of the realistic result",
                                "Paint where to take more of the faithful result")
        self.tools.tool_changed.connect(self.tool_changed)
        self.tools.clear_requested.connect(self.clear_requested)
        self.realness_button, self.fidelity_button = self.tools.realness_button, self.tools.fidelity_button
        self.clear_button, self.brush = self.tools.clear_button, self.tools.brush
        layout.addLayout(detail_row)
        layout.addLayout(_ends("smooth", "more detail"))
        layout.addLayout(blend_row)
        layout.addLayout(_ends("fidelity", "realness"))
        layout.addWidget(self.blend_note)
        layout.addWidget(self.thumbs)
        layout.addWidget(self.tools)
        self.set_pair_available(False, "")
        self._show_values()
        self.setVisible(False)

    # --- values -----------------------------------------------------------------------
    def detail(self) -> float:
        return self.detail_slider.value() / DETAIL_STEPS

    def alpha(self) -> float:
        return self.blend_slider.value() / BLEND_STEPS

    def set_values(self, detail: float, alpha: float, emit: bool = True) -> None:
        """Move both sliders (one composed picture follows, not two; none with emit=False,
        when the sliders only follow the result shown)."""
        for slider in (self.detail_slider, self.blend_slider):
            slider.blockSignals(True)
        self.detail_slider.setValue(round(detail * DETAIL_STEPS))
        self.blend_slider.setValue(round(alpha * BLEND_STEPS))
        for slider in (self.detail_slider, self.blend_slider):
            slider.blockSignals(False)
        self._show_values()
        if emit:
            self._timer.start()

    def tool(self) -> str:
        return self.tools.tool()

    def set_pair_available(self, available: bool, note: str) -> None:
        self.blend_slider.setEnabled(available)
        self.tools.set_available(available)
        self.blend_note.setText(note)

    # --- strip ------------------------------------------------------------------------
    def clear_strip(self, note: str = "") -> None:
        self.thumbs.clear(note)

    def add_alternative(self, thumb: QImage, detail: float, alpha: float | None) -> None:
        """A thumbnail of the strip; alpha None when there is no mix (one model's result)."""
        values = (round(detail * DETAIL_STEPS), round((1.0 if alpha is None else alpha)
                                                       * BLEND_STEPS))
        self.thumbs.add_thumbnail(thumb, alternative_label(detail, alpha),
                                  alternative_tip(detail, alpha), values)

    def strip_count(self) -> int:
        return self.thumbs.count()

    # --- slots ------------------------------------------------------------------------
    @Slot()
    def _changed(self) -> None:
        self._show_values()
        if not self._timer.isActive():
            self._timer.start()

    def _show_values(self) -> None:
        self.detail_value.setText(f"{self.detail():.2f}")
        self.blend_value.setText(f"{self.alpha():.2f}")
        self.thumbs.mark(self._slider_values())

    def _slider_values(self) -> tuple[int, int]:
        return self.detail_slider.value(), self.blend_slider.value()


def alternative_label(detail: float, alpha: float | None) -> str:
    """A thumbnail's caption, in the sliders' own names and values."""
    lines = [] if alpha is None else [f"Mix {alpha:.2f}"]
    if alpha is None or detail != 1.0:
        lines.append(f"Detail {detail:.1f}")
    return "\n".join(lines)


def alternative_tip(detail: float, alpha: float | None) -> str:
    mix = "" if alpha is None else f"Mix {alpha:.2f} (0 faithful, 1 realistic), "
    return f"{mix}Detail {detail:.2f} (1 = as the network made it): click to show it"
