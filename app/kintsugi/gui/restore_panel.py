"""The "Restore faces" mode: a face / GAN-prior model, its controls, a live bias preview,
the alternatives strip, the bias brush and Pro-PULSE's side outputs.

The panel's choice is a RestoreSpec and Controls (kintsugi.engine.spec); every restore of
the window renders a session of the engine's SessionStore (kintsugi.engine.photo_sessions).
tests/gui/test_restore_panel.py checks that a session render gives the pixels of
``kintsugi.restore`` and that a second value re-runs no cached stage.

The panel widgets only report what the user chose; the window does the work
(``restore_flow.py``). The slider and its per-block sliders are ``restore_bias.py``, the
form of seed, faces, background and scale ``restore_settings.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kintsugi import Controls, RestoreSpec
from kintsugi.gui.alt_panel import BrushTools, ThumbStrip
from kintsugi.gui.restore_bias import BIAS_STEPS, BiasControls, slider_to_w
from kintsugi.gui.restore_settings import RestoreSettings
from kintsugi.gui.widgets import RunControls

PREVIEW_DELAY_MS = 150  # at most one preview request this often while a slider moves
STRIP_VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)  # slider values of the alternatives strip
STRIP_THUMB, STRIP_CELL = 56, 64  # px: five thumbnails fit the side panel's width

BRUSH_TIP = (
    "Paint where the face should take more of the prior (realness) or more of the photo "
    "(fidelity): the painted, feathered map is Panini's spatial mask bias, and only the "
    "painted region changes")


@dataclass(frozen=True)
class RestoreOptions:
    """The panel's choice: what to restore, at which values, on which device (plain
    values, safe to hand to a worker)."""

    spec: RestoreSpec
    controls: Controls = Controls()
    device: str = "auto"

    @property
    def model_id(self) -> str:
        return str(self.spec.model)

    @property
    def consistency(self) -> bool:
        """Read by the history, as every mode's options record has it."""
        return self.spec.consistency

    def at(self, bias: float, fidelity: float | None) -> RestoreOptions:
        """The same choice with the slider at another value."""
        return replace(self, controls=replace(self.controls, bias=bias, fidelity=fidelity))

    def describe(self) -> str:
        spec, controls = self.spec, self.controls
        parts = [self.model_id]
        if controls.fidelity is not None:
            parts.append(f"w {controls.fidelity:.2f}")
        if controls.bias or controls.blocks:
            parts.append(f"bias {controls.bias:+.2f}")
        if controls.blocks:
            parts.append("blocks " + ",".join(f"{k}={v:+.2f}" for k, v in controls.blocks.items()))
        if controls.seed is not None:
            parts.append(f"seed {controls.seed}")
        if spec.aligned:
            parts.append("aligned crop")
        if spec.consistency:
            parts.append("consistency lock")
        return " · ".join(parts)


class RestorePanel(QWidget):
    """Controls of the Restore faces mode."""

    restore_requested = Signal()
    selection_changed = Signal()  # which faces are chosen changed (the outlines follow)
    preview_requested = Signal()  # debounced: a settled bias / seed change
    cancel_requested = Signal()
    import_requested = Signal()
    download_requested = Signal()
    strip_chosen = Signal(int)  # an index into strip_values()
    side_chosen = Signal(int)  # an index into the side outputs shown
    tool_changed = Signal(str)  # the bias brush: "" | "realness" | "fidelity"
    brush_clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._infos: dict[str, Any] = {}
        self._caps: dict[str, Any] = {}  # model id -> Capabilities (None when unknown)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.preview_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self._build_model())
        self._controls = QWidget()
        controls = QVBoxLayout(self._controls)
        controls.setContentsMargins(0, 0, 0, 0)
        self.bias = BiasControls()
        self.bias.changed.connect(self._schedule_preview)
        self.bias.slider.valueChanged.connect(self._mark_strip)
        self.settings = RestoreSettings()
        self.settings.seed_changed.connect(self._schedule_preview)
        self.settings.selection_changed.connect(self.selection_changed)
        controls.addWidget(self.bias)
        controls.addWidget(self.settings)
        controls.addLayout(self._build_run())
        controls.addWidget(self._build_alternatives())
        controls.addWidget(self._build_sides())
        layout.addWidget(self._controls)
        self.set_models([], [])
        self._mark_strip()

    # --- building ---------------------------------------------------------------
    def _build_model(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Which face / GAN-prior model restores the faces")
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.model_info = QLabel("")
        self.model_info.setWordWrap(True)
        self.model_info.setProperty("role", "hint")
        self.empty_hint = QLabel(
            "No face model yet: import a face model file you have (Panini, GLEAN, ...), or "
            "download an official one (their licences are listed)."
        )
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setProperty("role", "hint")
        buttons = QHBoxLayout()
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add a .safetensors or .pth model file you have")
        self.import_button.clicked.connect(self.import_requested)
        self.download_button = QPushButton("Download…")
        self.download_button.setToolTip("Download an official checkpoint from its authors")
        self.download_button.clicked.connect(self.download_requested)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.download_button)
        layout.addWidget(self.model_combo)
        layout.addWidget(self.model_info)
        layout.addWidget(self.empty_hint)
        layout.addLayout(buttons)
        return box

    def _build_run(self) -> QVBoxLayout:
        layout = QVBoxLayout()
        layout.setSpacing(6)
        self.run = RunControls("  Restore", "Restore the faces with the chosen model (Ctrl+R)",
                               "Stop the running restore; nothing is changed")
        self.restore_button, self.progress = self.run.button, self.run.progress
        self.cancel_button, self.progress_label = self.run.cancel_button, self.run.label
        self.run.run_requested.connect(self.restore_requested)
        self.run.cancel_requested.connect(self.cancel_requested)
        self.run.add_to(layout)
        return layout

    def _build_alternatives(self) -> QGroupBox:
        self.alternatives_box = QGroupBox("Alternatives")
        layout = QVBoxLayout(self.alternatives_box)
        layout.setSpacing(4)
        self.alt_strip = ThumbStrip("The faces at several settings of the slider, computed in the "
                                    "background: click one to show it; Save writes the one on screen",
                                    STRIP_THUMB, STRIP_CELL)
        self.alt_strip.chosen.connect(self.strip_chosen)
        self.tools = BrushTools("Paint where the face takes more of the prior (more realness)",
                                "Paint where the face keeps more of the photo (more fidelity)")
        self.tools.setToolTip(BRUSH_TIP)
        self.tools.tool_changed.connect(self.tool_changed)
        self.tools.clear_requested.connect(self.brush_clear_requested)
        self.brush_note = QLabel("")
        self.brush_note.setProperty("role", "hint")
        self.brush_note.setWordWrap(True)
        layout.addWidget(self.alt_strip)
        layout.addWidget(self.tools)
        layout.addWidget(self.brush_note)
        return self.alternatives_box

    def _build_sides(self) -> QGroupBox:
        self.sides_box = QGroupBox("Side outputs")
        layout = QVBoxLayout(self.sides_box)
        self.side_strip = ThumbStrip("What each of Pro-PULSE's deeply supervised blocks already "
                                     "draws, coarse to fine: click one to show it in the photo",
                                     STRIP_THUMB, STRIP_CELL)
        self.side_strip.chosen.connect(self.side_chosen)
        layout.addWidget(self.side_strip)
        return self.sides_box

    # --- state --------------------------------------------------------------------
    def set_models(self, infos: list[Any], upscalers: list[Any], chosen: str = "",
                   caps: dict[str, Any] | None = None) -> None:
        """Face models for the selector (with their capabilities, read on the worker that
        listed them); upscalers (and bicubic) for the background."""
        self._caps = dict(caps or {})
        previous = chosen or self.selected_model() or ""
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for info in infos:
            self.model_combo.addItem(f"{info.name}  (×{info.scale})", info.id)
            self.model_combo.setItemData(self.model_combo.count() - 1,
                                         f"{info.id} · {info.arch} · {info.licence}",
                                         Qt.ItemDataRole.ToolTipRole)
        self._infos = {info.id: info for info in infos}
        index = self.model_combo.findData(previous)
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.blockSignals(False)
        has = bool(infos)
        self.model_combo.setVisible(has)
        self.empty_hint.setVisible(not has)
        self._controls.setEnabled(has)
        self.settings.set_background_choices(upscalers)
        self._on_model_changed()

    def selected_model(self) -> str | None:
        value = self.model_combo.currentData()
        return value if isinstance(value, str) else None

    def select_model(self, model_id: str) -> None:
        index = self.model_combo.findData(model_id)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)

    def model_ids(self) -> list[str]:
        return [self.model_combo.itemData(i) for i in range(self.model_combo.count())]

    def options(self, device: str = "auto") -> RestoreOptions:
        """The current choice; raises ValueError when the face list cannot be read."""
        maskable, weighted = self.maskable(), self.weighted()
        controls = Controls(
            bias=self.bias.value() if maskable else 0.0,
            bias_blocks=self.bias.blocks() if maskable else (),
            fidelity=slider_to_w(self.bias.value()) if weighted else None,
            seed=self.settings.seed(),
        )
        return RestoreOptions(self.settings.spec(self.selected_model() or ""), controls, device)

    def maskable(self) -> bool:
        """The chosen model has DAFI masks to bias (Panini)."""
        caps = self._caps.get(self.selected_model() or "")
        return caps is not None and caps.mask_blocks > 0

    def weighted(self) -> bool:
        """The chosen model has a fidelity weight (CodeFormer's w)."""
        caps = self._caps.get(self.selected_model() or "")
        return caps is not None and bool(caps.fidelity_weight)

    def side_outputs(self) -> bool:
        """The chosen model draws side outputs (Pro-PULSE)."""
        caps = self._caps.get(self.selected_model() or "")
        return caps is not None and caps.side_outputs

    def strip_values(self) -> list[float]:
        """Slider values of the alternatives strip ([] when the slider does nothing)."""
        return list(STRIP_VALUES) if self.maskable() or self.weighted() else []

    def strip_label(self, value: float) -> str:
        """A thumbnail's caption (short: five fit the panel's width)."""
        return f"w {slider_to_w(value):.2f}" if self.weighted() else f"{value:+.1f}"

    def strip_tip(self, value: float) -> str:
        what = f"fidelity weight w {slider_to_w(value):.2f}" if self.weighted() else f"mask bias {value:+.1f}"
        return f"The faces at {what}: click to show it"

    def set_bias_quietly(self, value: float) -> None:
        """Move the slider without scheduling a preview (the caller shows that value)."""
        self.bias.set_value(value, quiet=True)
        self._mark_strip()

    @Slot()
    def _mark_strip(self) -> None:
        """Highlight the strip's thumbnail at the slider's value, if one is (the strip is
        rendered at STRIP_VALUES, in order)."""
        at = self.bias.slider.value()
        self.alt_strip.mark(next((row for row, value in enumerate(STRIP_VALUES)
                                  if round(value * BIAS_STEPS) == at), None))

    def set_busy(self, busy: bool) -> None:
        self.run.set_busy(busy)

    def set_progress(self, fraction: float, message: str) -> None:
        self.run.set_progress(fraction, message)

    def preview_pending(self) -> bool:
        return self._preview_timer.isActive()

    @Slot()
    def _schedule_preview(self) -> None:
        # Throttled, not debounced: during a drag the value of the moment is previewed every
        # PREVIEW_DELAY_MS (a session render re-runs only the generator), and a change after
        # the last firing always gets one more, so the settled value is the one shown.
        if self.bias.live_check.isChecked() and self._controls.isEnabled() and not self._preview_timer.isActive():
            self._preview_timer.start()

    @Slot()
    def _on_model_changed(self) -> None:
        info = self._infos.get(self.selected_model() or "")
        caps = self._caps.get(self.selected_model() or "")
        maskable, weighted = self.maskable(), self.weighted()
        self.bias.set_model(info.name if info else "This model", caps)
        self.alternatives_box.setVisible(maskable or weighted)
        self.tools.set_available(maskable)
        self.brush_note.setText("Paint over a face: the feathered strokes are Panini's spatial mask "
                                "bias, and only the painted part changes." if maskable else
                                "The brush paints Panini's mask bias; this model has no mask.")
        self.alt_strip.clear("Alternatives at several settings appear here after a restore.")
        self.sides_box.setVisible(self.side_outputs())
        self.side_strip.clear("Pro-PULSE's side outputs appear here after a restore.")
        self.settings.set_noisy(caps is not None and caps.seed)
        if info is None:
            self.model_info.setText("")
        else:
            self.model_info.setText(f"{info.arch} · ×{info.scale} · {info.licence}")
