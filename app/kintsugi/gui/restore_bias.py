"""The Restore faces mode's slider, fidelity ↔ realness: Panini's mask bias (with a
per-block bias under "Advanced") or CodeFormer's fidelity weight w, and the live preview
that follows it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

BIAS_STEPS = 100  # slider units per 1.0 of bias
MAX_BLOCKS = 5  # sliders shown; each model's own count comes from its capabilities

BIAS_TIP = (
    "Mask bias: Panini blends its input features and a face prior (StyleGAN2) with learned "
    "masks. −1 keeps only the input's features (most faithful to the photo), +1 only the "
    "prior (most realistic detail, most invented), 0 the network as trained."
)
NO_BIAS_TIP = "Only Panini models have a mask to bias, so this control is off for this model"
FIDELITY_TIP = (
    "CodeFormer's fidelity weight w, on the same fidelity ↔ realness slider: left end w = 1 "
    "(closest to the photo), right end w = 0 (the codebook's face, most invented), middle "
    "w = 0.5 (the authors' default)."
)


def slider_to_w(value: float) -> float:
    """The -1..1 fidelity <-> realness slider as CodeFormer's w (1 = faithful, 0 = real)."""
    return round((1.0 - value) / 2.0, 4)


class BiasSlider(QWidget):
    """A -1..1 slider with its value shown beside it."""

    def __init__(self, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-BIAS_STEPS, BIAS_STEPS)
        self.slider.setPageStep(BIAS_STEPS // 10)
        self.slider.setToolTip(tip)
        self._shown: Any = None
        self._value_label = QLabel("+0.00")
        self._value_label.setMinimumWidth(48)
        self._value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.slider.valueChanged.connect(self._show_value)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self._value_label)

    def set_format(self, shown: Any = None) -> None:
        """Show the value as `shown(value)` (CodeFormer's w) instead of the bias itself."""
        self._shown = shown
        self._show_value(self.slider.value())

    @Slot(int)
    def _show_value(self, value: int) -> None:
        v = value / BIAS_STEPS
        self._value_label.setText(f"w {self._shown(v):.2f}" if self._shown else f"{v:+.2f}")

    def value(self) -> float:
        return self.slider.value() / BIAS_STEPS

    def set_value(self, value: float, quiet: bool = False) -> None:
        """quiet: move it without telling its listeners (the value label still follows)."""
        self.slider.blockSignals(quiet)
        self.slider.setValue(round(value * BIAS_STEPS))
        self.slider.blockSignals(False)
        self._show_value(self.slider.value())


class BiasControls(QWidget):
    """The main slider with its title, the live-preview switch, and the per-block sliders
    (folded away under "Advanced")."""

    changed = Signal()  # the main or a block slider moved

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_main())
        layout.addWidget(self._build_blocks())

    def _build_main(self) -> QVBoxLayout:
        layout = QVBoxLayout()
        layout.setSpacing(2)
        title = QHBoxLayout()
        self.title = QLabel("Bias")
        ends = QLabel("fidelity ↔ realness")
        ends.setProperty("role", "hint")
        title.addWidget(self.title)
        title.addStretch(1)
        title.addWidget(ends)
        self.main = BiasSlider(BIAS_TIP)
        self.slider = self.main.slider
        self.slider.valueChanged.connect(self.changed)
        self.live_check = QCheckBox("Live preview")
        self.live_check.setChecked(True)
        self.live_check.setToolTip(
            "Re-run the restore shortly after the bias or seed changes; the photo's faces "
            "and background are reused, so only the face network runs again"
        )
        layout.addLayout(title)
        layout.addWidget(self.main)
        layout.addWidget(self.live_check)
        return layout

    def _build_blocks(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced: per-block bias")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self._toggle_advanced)
        self._blocks_box = QWidget()
        grid = QGridLayout(self._blocks_box)
        grid.setContentsMargins(12, 0, 0, 0)
        self.block_sliders: list[BiasSlider] = []
        for k in range(MAX_BLOCKS):
            side = 4 * 2**k
            slider = BiasSlider(
                f"Extra bias for DAFI block {k} ({side}×{side} features: "
                + ("overall shape" if k < 2 else "finer detail") + "), added to the main bias")
            slider.slider.valueChanged.connect(self.changed)
            label = QLabel(f"{side}²")
            label.setProperty("role", "hint")
            grid.addWidget(label, k, 0)
            grid.addWidget(slider, k, 1)
            self.block_sliders.append(slider)
        self._blocks_box.setVisible(False)
        layout.addWidget(self.advanced_button)
        layout.addWidget(self._blocks_box)
        return box

    def value(self) -> float:
        return self.main.value()

    def set_value(self, value: float, quiet: bool = False) -> None:
        self.main.set_value(value, quiet)

    def blocks(self) -> tuple[tuple[int, float], ...]:
        """(block, extra bias) of each block slider the model has and the user moved."""
        return tuple((k, s.value()) for k, s in enumerate(self.block_sliders)
                     if s.isEnabled() and s.value() != 0.0)

    def set_model(self, name: str, caps: Any) -> None:
        """Fit the sliders to a model: a mask bias (and how many blocks), a fidelity weight,
        or neither (off, saying why); `caps` is None when unknown."""
        maskable = caps is not None and caps.mask_blocks > 0
        weighted = caps is not None and caps.fidelity_weight
        self.main.setEnabled(maskable or weighted)
        self.title.setEnabled(maskable or weighted)
        self.title.setText("Fidelity (CodeFormer w)" if weighted else "Bias")
        self.main.set_format(slider_to_w if weighted else None)
        self.slider.setToolTip(FIDELITY_TIP if weighted else BIAS_TIP if maskable else
                               f"{name} has no mask to bias (only Panini models have one) or "
                               "fidelity weight, so the control is off")
        self.main.setToolTip(self.slider.toolTip())
        blocks = caps.mask_blocks if caps is not None else 0
        self.advanced_button.setEnabled(maskable)
        for k, slider in enumerate(self.block_sliders):
            slider.setEnabled(k < blocks)
            if k >= blocks:
                slider.setToolTip(f"This model has {blocks} blocks" if maskable else NO_BIAS_TIP)

    @Slot(bool)
    def _toggle_advanced(self, shown: bool) -> None:
        self._blocks_box.setVisible(shown)
        self.advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
