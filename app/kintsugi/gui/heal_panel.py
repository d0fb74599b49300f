"""The Heal mode: paint over a blemish or retouching damage, then heal it.

The painted region is shrunk and super-resolved back by the engine (``kintsugi.heal``) and
blended in; everything outside the feathered brush keeps its exact pixels. Every heal is
an undo step.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from kintsugi.gui.brush import BrushControls
from kintsugi.gui.widgets import RunControls

FACTORS = (2, 3, 4, 6, 8)


@dataclass(frozen=True)
class HealOptions:
    factor: int = 2
    model_id: str | None = None  # None: the engine's choice (GLEAN when present, else default)
    device: str = "auto"

    def describe(self) -> str:
        return f"healed (factor {self.factor})"


class HealPanel(QWidget):
    heal_requested = Signal()
    cancel_requested = Signal()
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        hint = QLabel("Paint over the spot to heal on the image (the brush paints while this "
                      "tab is open; [ and ] change its size), then Heal. It works on the result "
                      "on screen, or on the photo itself before any upscale. Undo (Ctrl+Z) "
                      "steps back and brings the painted spot back, to try another Shrink.")
        hint.setWordWrap(True)
        hint.setProperty("role", "hint")
        self.brush = BrushControls()
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.factor_combo = QComboBox()
        for factor in FACTORS:
            self.factor_combo.addItem(f"÷{factor}" + ("  (keeps most detail)" if factor == 2
                                                      else ""), factor)
        self.factor_combo.setToolTip(
            "How far the painted region is shrunk before it is super-resolved back: more "
            "removes bigger artefacts, less keeps more of the photo's own detail")
        form.addRow("Shrink", self.factor_combo)
        self.clear_button = QPushButton("Clear brush")
        self.clear_button.setToolTip("Remove the painted region without healing")
        self.clear_button.clicked.connect(self.clear_requested)
        self.run = RunControls("  Heal", "Heal the painted region",
                               "Stop healing; nothing is changed")
        self.heal_button = self.run.button
        self.run.run_requested.connect(self.heal_requested)
        self.run.cancel_requested.connect(self.cancel_requested)
        layout.addWidget(hint)
        layout.addWidget(self.brush)
        layout.addLayout(form)
        layout.addWidget(self.clear_button)
        self.run.add_to(layout)

    def options(self, device: str = "auto") -> HealOptions:
        return HealOptions(factor=int(self.factor_combo.currentData()), device=device)
