"""The "Restore faces" mode: a face / GAN-prior model, its controls, a live bias preview,
the alternatives strip, the bias brush and Pro-PULSE's side outputs.

The panel's choice is a RestoreSpec and Controls (kintsugi.engine.spec); every restore of
the window renders a session of the engine's SessionStore (kintsugi.engine.photo_sessions).
tests/gui/test_restore_panel.py checks that a session render gives the pixels of
``kintsugi.restore`` and that a second value re-runs no cached stage.

The panel widgets only report what the user chose; the window does the work
(``restore_flow.py``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kintsugi import Controls, RestoreSpec
from kintsugi.gui.alt_panel import BrushTools, ThumbStrip
from kintsugi.gui.widgets import RunControls

PREVIEW_DELAY_MS = 150  # at most one preview request this often while a slider moves
BIAS_STEPS = 100  # slider units per 1.0 of bias
MAX_BLOCKS = 5  # sliders shown; each model's own count comes from its capabilities
BICUBIC = "bicubic"
DEFAULT_BACKGROUND = "default"  # the combo's data for the default upscaler
NO_SEED = -1  # the seed spin box's special value: the model's stored noise
MODEL_SCALE = 0  # the photo-scale spin box's special value: the model's own
STRIP_VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)  # slider values of the alternatives strip
STRIP_THUMB, STRIP_CELL = 56, 64  # px: five thumbnails fit the side panel's width

BIAS_TIP = (
    "Mask bias: Panini blends its input features and a face prior (StyleGAN2) with learned "
    "masks. −1 keeps only the input's features (most faithful to the photo), +1 only the "
    "prior (most realistic detail, most invented), 0 the network as trained."
)
NO_BIAS_TIP = "Only Panini models have a mask to bias, so this control is off for this model"
BRUSH_TIP = (
    "Paint where the face should take more of the prior (realness) or more of the photo "
    "(fidelity): the painted, feathered map is Panini's spatial mask bias, and only the "
    "painted region changes")
FIDELITY_TIP = (
    "CodeFormer's fidelity weight w, on the same fidelity ↔ realness slider: left end w = 1 "
    "(closest to the photo), right end w = 0 (the codebook's face, most invented), middle "
    "w = 0.5 (the authors' default)."
)


def slider_to_w(value: float) -> float:
    """The -1..1 fidelity <-> realness slider as CodeFormer's w (1 = faithful, 0 = real)."""
    return round((1.0 - value) / 2.0, 4)


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


def parse_faces(mode: str, indices: str, min_size: int) -> Any:
    """The faces choice for kintsugi.restore; raises ValueError on a bad index list."""
    if mode == "indices":
        words = [v for v in indices.replace(";", ",").replace(" ", ",").split(",") if v]
        if not words or not all(v.isdigit() for v in words):
            raise ValueError(f"{indices!r} is not a list of face numbers: list them like 0,2 "
                             "(0 = the leftmost face)")
        return [int(v) for v in words]
    if mode == "min":
        return int(min_size)
    if mode == "aligned":
        return None
    return "all"


class _BiasSlider(QWidget):
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
        controls.addLayout(self._build_bias())
        controls.addWidget(self._build_blocks())
        controls.addLayout(self._build_options())
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

    def _build_bias(self) -> QVBoxLayout:
        layout = QVBoxLayout()
        layout.setSpacing(2)
        title = QHBoxLayout()
        self.bias_title = QLabel("Bias")
        ends = QLabel("fidelity ↔ realness")
        ends.setProperty("role", "hint")
        title.addWidget(self.bias_title)
        title.addStretch(1)
        title.addWidget(ends)
        self.bias = _BiasSlider(BIAS_TIP)
        self.bias_slider = self.bias.slider
        self.bias_slider.valueChanged.connect(self._schedule_preview)
        self.bias_slider.valueChanged.connect(self._mark_strip)
        self.live_check = QCheckBox("Live preview")
        self.live_check.setChecked(True)
        self.live_check.setToolTip(
            "Re-run the restore shortly after the bias or seed changes; the photo's faces "
            "and background are reused, so only the face network runs again"
        )
        layout.addLayout(title)
        layout.addWidget(self.bias)
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
        self.block_sliders: list[_BiasSlider] = []
        for k in range(MAX_BLOCKS):
            side = 4 * 2**k
            slider = _BiasSlider(
                f"Extra bias for DAFI block {k} ({side}×{side} features: "
                + ("overall shape" if k < 2 else "finer detail") + "), added to the main bias")
            slider.slider.valueChanged.connect(self._schedule_preview)
            label = QLabel(f"{side}²")
            label.setProperty("role", "hint")
            grid.addWidget(label, k, 0)
            grid.addWidget(slider, k, 1)
            self.block_sliders.append(slider)
        self._blocks_box.setVisible(False)
        layout.addWidget(self.advanced_button)
        layout.addWidget(self._blocks_box)
        return box

    def _build_options(self) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        seed_row = QHBoxLayout()
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(NO_SEED, 2**31 - 1)
        self.seed_spin.setValue(NO_SEED)
        self.seed_spin.setSpecialValueText("Stored")
        self.seed_spin.setToolTip(
            "Seed of the generator's noise (hair strands, pores). 'Stored' uses the model's own "
            "noise; each seed gives another plausible restoration of the same photo."
        )
        self.seed_spin.valueChanged.connect(self._schedule_preview)
        self.another_button = QPushButton("Another version")
        self.another_button.setToolTip("Pick a new seed: another plausible restoration")
        self.another_button.clicked.connect(self.another_version)
        self.seed_spin.setMaximumWidth(100)
        self.another_button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        seed_row.addWidget(QLabel("Seed"))
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.another_button)

        self.faces_combo = QComboBox()
        self.faces_combo.addItem("All faces", "all")
        self.faces_combo.addItem("Faces by number", "indices")
        self.faces_combo.addItem("Faces at least…", "min")
        self.faces_combo.addItem("Aligned face crop", "aligned")
        self.faces_combo.setToolTip(
            "Which faces are restored; the rest is only upscaled. Click a face's outline on "
            "the image to include or exclude it. 'Aligned face crop': the photo is already "
            "a face crop of the model's input size (e.g. GLEAN's cat models)")
        self.faces_edit = QLineEdit()
        self.faces_edit.setPlaceholderText("0,2 (0 = leftmost)")
        self.faces_edit.setToolTip("Numbers of the faces to restore, left to right from 0")
        self.faces_edit.textChanged.connect(self.selection_changed)
        self.faces_min = QSpinBox()
        self.faces_min.setRange(1, 10000)
        self.faces_min.setValue(32)
        self.faces_min.setSuffix(" px")
        self.faces_min.setToolTip("Restore only faces at least this tall or wide")
        self._faces_stack = QStackedWidget()
        self._faces_stack.addWidget(QWidget())
        self._faces_stack.addWidget(self.faces_edit)
        self._faces_stack.addWidget(self.faces_min)
        self._faces_stack.addWidget(QWidget())
        self._faces_stack.setMaximumHeight(self.faces_edit.sizeHint().height())
        self.faces_combo.currentIndexChanged.connect(self._on_faces_mode)
        self.faces_found = QLabel("")
        self.faces_found.setProperty("role", "hint")
        self.faces_found.setWordWrap(True)

        self.background_combo = QComboBox()
        self.background_combo.setToolTip(
            "How the rest of the photo is enlarged: an upscaler model (the default one unless "
            "you choose), or plain bicubic (fast)"
        )
        self.scale_spin = QSpinBox()
        self.scale_spin.setRange(MODEL_SCALE, 8)
        self.scale_spin.setValue(MODEL_SCALE)
        self.scale_spin.setSpecialValueText("Model's own")
        self.scale_spin.setPrefix("×")
        self.scale_spin.setToolTip(
            "How much the whole photo is enlarged; 'Model's own' uses the face model's "
            "scale (at most ×4 and 100 MP)")
        self.consistency_check = QCheckBox("Consistency lock")
        self.consistency_check.setToolTip(
            "The result, shrunk back to the original size, equals the original exactly: "
            "the face model may add detail but cannot change what the photo shows"
        )
        self.color_check = QCheckBox("Match colours")
        self.color_check.setChecked(True)
        self.color_check.setToolTip(
            "Shift each restored face's colours to those of the face in the photo, so "
            "skin tones stay as they were"
        )
        form.addRow(seed_row)  # spans both columns: the button needs the width
        form.addRow("Faces", self.faces_combo)
        form.addRow("", self._faces_stack)
        form.addRow("", self.faces_found)
        form.addRow("Rest", self.background_combo)
        form.addRow("Scale", self.scale_spin)
        form.addRow(self.consistency_check)
        form.addRow(self.color_check)
        self._form = form
        self._on_faces_mode(0)
        self.show_found("")
        return form

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
        self._set_background_choices(upscalers)
        self._on_model_changed()

    def _set_background_choices(self, upscalers: list[Any]) -> None:
        current = self.background_combo.currentData()
        self.background_combo.clear()
        default = next((info for info in upscalers if getattr(info, "default", False)), None)
        self.background_combo.addItem(
            f"Default upscaler ({default.name})" if default else "Default upscaler",
            DEFAULT_BACKGROUND)
        self.background_combo.addItem("Bicubic (fast)", BICUBIC)
        for info in upscalers:
            self.background_combo.addItem(f"{info.name}  (×{info.scale})", info.id)
        if current is not None:
            self.select_background(current)

    def select_background(self, value: str) -> None:
        index = self.background_combo.findData(value)
        if index >= 0:
            self.background_combo.setCurrentIndex(index)

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
        caps = self._caps.get(self.selected_model() or "")
        maskable = caps is not None and caps.mask_blocks > 0
        weighted = caps is not None and caps.fidelity_weight
        blocks = tuple((k, s.value()) for k, s in enumerate(self.block_sliders)
                       if s.isEnabled() and s.value() != 0.0) if maskable else ()
        seed = self.seed_spin.value() if self.seed_spin.isEnabled() else NO_SEED
        background = self.background_combo.currentData()
        scale = self.scale_spin.value()
        faces = parse_faces(self.faces_combo.currentData(), self.faces_edit.text(),
                            self.faces_min.value())
        if faces is None:  # an aligned crop: the model's own scale, no background to enlarge
            background, scale = None, MODEL_SCALE
        spec = RestoreSpec(
            model=self.selected_model() or "",
            faces=faces,
            background=None if background in (None, DEFAULT_BACKGROUND) else background,
            scale=None if scale == MODEL_SCALE else scale,
            consistency=self.consistency_check.isChecked(),
            color_match=self.color_check.isChecked(),
        )
        controls = Controls(
            bias=self.bias.value() if maskable else 0.0,
            bias_blocks=blocks,
            fidelity=slider_to_w(self.bias.value()) if weighted else None,
            seed=None if seed == NO_SEED else seed,
        )
        return RestoreOptions(spec, controls, device)

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
        at = self.bias_slider.value()
        self.alt_strip.mark(next((row for row, value in enumerate(STRIP_VALUES)
                                  if round(value * BIAS_STEPS) == at), None))

    def set_face_selection(self, indices: list[int]) -> None:
        """Faces clicked on the canvas: restore exactly these."""
        self.faces_combo.setCurrentIndex(self.faces_combo.findData("indices"))
        self.faces_edit.setText(",".join(str(i) for i in sorted(indices)))

    def face_selection(self, count: int) -> set[int]:
        """Which of `count` detected faces the current choice restores (for the outlines)."""
        try:
            faces = parse_faces(self.faces_combo.currentData(), self.faces_edit.text(),
                                self.faces_min.value())
        except ValueError:
            return set()
        if faces == "all":
            return set(range(count))
        if isinstance(faces, list):
            return {i for i in faces if 0 <= i < count}
        return set()

    def set_faces_found(self, count: int) -> None:
        if count == 0:
            text = "No face found in this photo"
        elif count == 1:
            text = "1 face found"
        else:
            text = f"{count} faces found (each one's number is on the photo)"
        self.show_found(text)

    def show_found(self, text: str) -> None:
        """The faces-found line; its row takes no room while it says nothing."""
        self.faces_found.setText(text)
        self._form.setRowVisible(self.faces_found, bool(text))

    def set_busy(self, busy: bool) -> None:
        self.run.set_busy(busy)

    def set_progress(self, fraction: float, message: str) -> None:
        self.run.set_progress(fraction, message)

    def preview_pending(self) -> bool:
        return self._preview_timer.isActive()

    @Slot()
    def another_version(self) -> None:
        """A new random seed (the change itself triggers the preview)."""
        current = self.seed_spin.value()
        seed = current
        while seed == current:
            seed = random.randrange(0, 2**31 - 1)  # noqa: S311 - not for security
        self.seed_spin.setValue(seed)

    @Slot()
    def _schedule_preview(self) -> None:
        # Throttled, not debounced: during a drag the value of the moment is previewed every
        # PREVIEW_DELAY_MS (a session render re-runs only the generator), and a change after
        # the last firing always gets one more, so the settled value is the one shown.
        if self.live_check.isChecked() and self._controls.isEnabled() and not self._preview_timer.isActive():
            self._preview_timer.start()

    @Slot(int)
    def _on_faces_mode(self, index: int) -> None:
        self._faces_stack.setCurrentIndex(index)
        mode = self.faces_combo.currentData()
        self._form.setRowVisible(self._faces_stack, mode in ("indices", "min"))
        for widget in (self.background_combo, self.scale_spin):  # an aligned crop has neither
            self._form.setRowVisible(widget, mode != "aligned")
        self.selection_changed.emit()

    @Slot(bool)
    def _toggle_advanced(self, shown: bool) -> None:
        self._blocks_box.setVisible(shown)
        self.advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    @Slot()
    def _on_model_changed(self) -> None:
        info = self._infos.get(self.selected_model() or "")
        caps = self._caps.get(self.selected_model() or "")
        maskable = caps is not None and caps.mask_blocks > 0
        weighted = caps is not None and caps.fidelity_weight
        self.bias.setEnabled(maskable or weighted)
        self.bias_title.setEnabled(maskable or weighted)
        self.bias_title.setText("Fidelity (CodeFormer w)" if weighted else "Bias")
        self.bias.set_format(slider_to_w if weighted else None)
        self.bias_slider.setToolTip(FIDELITY_TIP if weighted else BIAS_TIP if maskable else
                                    f"{info.name if info else 'This model'} has no mask to "
                                    "bias (only Panini models have one) or fidelity weight, so "
                                    "the control is off")
        self.bias.setToolTip(self.bias_slider.toolTip())
        blocks = caps.mask_blocks if caps is not None else 0
        self.advanced_button.setEnabled(maskable)
        for k, slider in enumerate(self.block_sliders):
            slider.setEnabled(k < blocks)
            if k >= blocks:
                slider.setToolTip(f"This model has {blocks} blocks" if maskable else NO_BIAS_TIP)
        self.alternatives_box.setVisible(maskable or weighted)
        self.tools.set_available(maskable)
        self.brush_note.setText("Paint over a face: the feathered strokes are Panini's spatial mask "
                                "bias, and only the painted part changes." if maskable else
                                "The brush paints Panini's mask bias; this model has no mask.")
        self.alt_strip.clear("Alternatives at several settings appear here after a restore.")
        self.sides_box.setVisible(self.side_outputs())
        self.side_strip.clear("Pro-PULSE's side outputs appear here after a restore.")
        noisy = caps is not None and caps.seed
        self.seed_spin.setEnabled(noisy)
        self.another_button.setEnabled(noisy)
        if not noisy:
            self.seed_spin.setToolTip("This model draws no random noise, so a seed would "
                                      "change nothing")
        if info is None:
            self.model_info.setText("")
        else:
            self.model_info.setText(f"{info.arch} · ×{info.scale} · {info.licence}")
