"""The side panel: method, options, the Upscale button with progress, compare and save.

The Compare box is ``compare_box.py``, the Save box ``save_box.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from kintsugi.gui.alt_panel import AlternativesBox
from kintsugi.gui.compare_box import CompareBox
from kintsugi.gui.heal_panel import HealPanel
from kintsugi.gui.restore_panel import RestorePanel
from kintsugi.gui.save_box import SaveBox
from kintsugi.gui.widgets import RunControls, select_data

# The size choice: a whole scale, or a target that picks the smallest whole scale reaching it
# (whole scales keep the consistency lock exact and need no second resampling).
SCALE_CHOICES: list[tuple[str, int | str | None]] = [
    ("Model's own", None),
    ("×2", 2),
    ("×3", 3),
    ("×4", 4),
    ("×6", 6),
    ("×8", 8),
    ("Width…", "width"),
    ("Height…", "height"),
    ("Print size…", "print"),
]
MAX_SCALE = 16
TILE_CHOICES: list[tuple[str, int | str]] = [
    ("Automatic", "auto"),
    ("64 px", 64),
    ("128 px", 128),
    ("256 px", 256),
    ("512 px", 512),
    ("1024 px", 1024),
]
DEVICE_CHOICES: list[tuple[str, str]] = [
    ("Automatic", "auto"),
    ("CPU", "cpu"),
    ("NVIDIA GPU (CUDA)", "cuda"),
    ("Apple GPU (MPS)", "mps"),
]


@dataclass(frozen=True)
class UpscaleOptions:
    model_id: str
    scale: int | None
    consistency: bool
    tile: int | str
    device: str
    dpi: float | None = None  # print size chosen: the saved file says this resolution


def whole_scale(target_px: float, source_px: int) -> int:
    """The smallest whole scale that reaches `target_px` from `source_px` (1..MAX_SCALE)."""
    if source_px <= 0:
        return 1
    return max(1, min(MAX_SCALE, -(-int(round(target_px)) // source_px)))


def native_note(infos: list[Any], model_scale: int, scale: int) -> str:
    """One line saying whether the asked scale is the model's own, or which model is native.

    Running a x4 model for x2 does 4x the work of a x2 model (and resizes the result)."""
    if scale == model_scale:
        return f"×{scale} is this model's own scale."
    native = [info.name for info in infos if info.scale == scale]
    if scale % model_scale == 0:
        how = f"this ×{model_scale} model runs {scale // model_scale} times"
    else:
        how = f"this ×{model_scale} model's result is resized to ×{scale}"
    work = (model_scale / scale) ** 2
    cost = f" ({work:.0f}× the work of a native model)" if work >= 1.5 else ""
    if native:
        return f"Native ×{scale}: {', '.join(native)}. Here {how}{cost}."
    return f"No model is native at ×{scale}: {how}."


def _choice_combo(choices: Any, tooltip: str) -> QComboBox:
    """A combo box of (label, value) choices."""
    combo = QComboBox()
    for label, value in choices:
        combo.addItem(label, value)
    combo.setToolTip(tooltip)
    return combo


def model_tooltip(info: Any) -> str:
    return (
        f"<b>{info.name}</b><br>{info.purpose}<br><br>"
        f"Scale: ×{info.scale}<br>Licence: {info.licence}<br>"
        f"<span style='color:gray'>id: {info.id}</span>"
    )


class SidePanel(QWidget):
    """All controls; it only reports what the user chose, the window does the work."""

    upscale_requested = Signal()
    cancel_requested = Signal()
    model_changed = Signal(str)
    mode_changed = Signal(str)  # "upscale" | "restore" | "heal"

    MODES = ("upscale", "restore", "heal")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(290)
        self.setMaximumWidth(380)
        self._infos: dict[str, Any] = {}
        self._source_size: tuple[int, int] = (0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(10)
        layout.addWidget(self._build_modes())
        self.compare = CompareBox()
        layout.addWidget(self.compare)
        layout.addStretch(1)
        # The Save box is built here but placed by the window under the scroll area, so it
        # stays visible however tall the mode's page grows.
        self.save_box = SaveBox()

    # --- building ---------------------------------------------------------------
    def _build_modes(self) -> QWidget:
        """Upscale the whole photo, restore its faces, or heal regions: one page each,
        Compare/Save shared.

        A tab bar over pages of which only the chosen one is visible (a QTabWidget or
        QStackedWidget is as tall as its tallest page: a gap under the short pages)."""
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.mode_tabs = QTabBar()
        self.mode_tabs.setExpanding(True)
        self.mode_tabs.addTab("Upscale")
        self.mode_tabs.addTab("Faces")
        self.mode_tabs.addTab("Heal")
        self.mode_tabs.setTabToolTip(0, "Enlarge the whole photo with an upscaling network; "
                                        "browse alternatives of the result")
        self.mode_tabs.setTabToolTip(
            1, "Restore faces with a face / GAN-prior model; the rest of the photo is upscaled")
        self.mode_tabs.setTabToolTip(2, "Paint over a blemish or retouching damage and heal it")
        upscale_page = QWidget()
        upscale = QVBoxLayout(upscale_page)
        upscale.setContentsMargins(0, 0, 0, 0)
        upscale.addWidget(self._build_method())
        upscale.addWidget(self._build_options())
        upscale.addLayout(self._build_run())
        self.alternatives = AlternativesBox()
        upscale.addWidget(self.alternatives)
        self.restore = RestorePanel()
        self.heal = HealPanel()
        self._mode_pages: list[QWidget] = [upscale_page, self.restore, self.heal]
        layout.addWidget(self.mode_tabs)
        for page in self._mode_pages:
            layout.addWidget(page)
        self.mode_tabs.currentChanged.connect(self._on_mode_tab)
        self._on_mode_tab(0)
        return box

    @Slot(int)
    def _on_mode_tab(self, index: int) -> None:
        for i, page in enumerate(self._mode_pages):
            page.setVisible(i == index)
        self.mode_changed.emit(self.mode())

    def mode(self) -> str:
        return self.MODES[max(0, self.mode_tabs.currentIndex())]

    def set_mode(self, mode: str) -> None:
        self.mode_tabs.setCurrentIndex(self.MODES.index(mode))

    def _build_method(self) -> QGroupBox:
        box = QGroupBox("Method")
        layout = QVBoxLayout(box)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Which upscaling network to use; hover an entry for details")
        self.model_combo.addItem("Loading models…", None)
        self.model_combo.setEnabled(False)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.model_info = QLabel("")
        self.model_info.setWordWrap(True)
        self.model_info.setTextFormat(Qt.TextFormat.RichText)
        self.model_info.setProperty("role", "hint")
        layout.addWidget(self.model_combo)
        layout.addWidget(self.model_info)
        return box

    def _build_options(self) -> QGroupBox:
        box = QGroupBox("Options")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.scale_combo = _choice_combo(
            SCALE_CHOICES,
            "Enlargement: a whole factor, or a target width, height or print size (the "
            "smallest whole factor that reaches it). Factors other than the model's own are "
            "reached by running the model and resizing the result.",
        )
        self.scale_combo.currentIndexChanged.connect(self._on_size_changed)
        self.target_spin = QSpinBox()
        self.target_spin.setRange(1, 100_000)
        self.target_spin.setValue(2000)
        self.target_spin.setSuffix(" px")
        self.target_spin.setToolTip("The width or height the result should at least have")
        self.target_spin.valueChanged.connect(self._on_size_changed)
        self.print_spin = QDoubleSpinBox()
        self.print_spin.setRange(0.5, 500.0)
        self.print_spin.setValue(20.0)
        self.print_spin.setSuffix(" cm")
        self.print_spin.setToolTip("Print width (the longer side of the photo)")
        self.print_spin.valueChanged.connect(self._on_size_changed)
        self.dpi_spin = QSpinBox()
        self.dpi_spin.setRange(50, 1200)
        self.dpi_spin.setValue(300)
        self.dpi_spin.setSuffix(" dpi")
        self.dpi_spin.setToolTip("Print resolution; the saved file records it")
        self.dpi_spin.valueChanged.connect(self._on_size_changed)
        self._target_row = QWidget()
        target = QHBoxLayout(self._target_row)
        target.setContentsMargins(0, 0, 0, 0)
        target.addWidget(self.target_spin, 1)
        target.addWidget(self.print_spin, 1)
        target.addWidget(self.dpi_spin, 1)
        self.size_note = QLabel("")
        self.size_note.setWordWrap(True)
        self.size_note.setProperty("role", "hint")
        self.tile_combo = _choice_combo(
            TILE_CHOICES,
            "The image is processed in tiles of this size. Smaller tiles use less memory and "
            "make Cancel respond sooner; Automatic picks a size that fits the device.",
        )
        self.device_combo = _choice_combo(
            DEVICE_CHOICES,
            "Where the network runs. Automatic uses a GPU when one is available, else the CPU.",
        )
        self.consistency_check = QCheckBox("Consistency lock")
        self.consistency_check.setToolTip(
            "Guarantee that the result, shrunk back to the original size, equals the original "
            "exactly: the network may add detail but cannot change what the photo shows."
        )
        form.addRow("Size", self.scale_combo)
        form.addRow("", self._target_row)
        form.addRow(self.size_note)
        form.addRow("Tiles", self.tile_combo)
        form.addRow("Device", self.device_combo)
        form.addRow(self.consistency_check)
        self._options_form = form
        self._on_size_changed()
        return box

    def _build_run(self) -> QVBoxLayout:
        layout = QVBoxLayout()
        layout.setSpacing(6)
        self.run = RunControls("  Upscale", "Upscale the photo with the chosen method (Ctrl+Enter)",
                               "Stop the running upscale (Esc); nothing is changed")
        self.upscale_button, self.progress = self.run.button, self.run.progress
        self.cancel_button, self.progress_label = self.run.cancel_button, self.run.label
        self.upscale_button.setEnabled(False)
        self.run.run_requested.connect(self.upscale_requested)
        self.run.cancel_requested.connect(self.cancel_requested)
        self.result_info = QLabel("")
        self.result_info.setWordWrap(True)
        self.result_info.setProperty("role", "hint")
        # Room for two lines from the start: a slider's value in the line made it wrap and
        # unwrap while dragging, and the panel under it jumped.
        self.result_info.setMinimumHeight(2 * self.result_info.fontMetrics().lineSpacing())
        self.result_info.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.result_info.setToolTip("The result on screen: size, factor, model and time taken")
        self.run.add_to(layout)
        layout.addWidget(self.result_info)
        return layout

    # --- state --------------------------------------------------------------------
    def set_models(self, infos: list[Any], chosen: str) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for info in infos:
            self.model_combo.addItem(f"{info.name}  (×{info.scale})", info.id)
            self.model_combo.setItemData(
                self.model_combo.count() - 1, model_tooltip(info), Qt.ItemDataRole.ToolTipRole
            )
        self._infos = {info.id: info for info in infos}
        select_data(self.model_combo, chosen)
        self.model_combo.setEnabled(bool(infos))
        self.model_combo.blockSignals(False)
        self._show_model_info()
        self._on_size_changed()

    def selected_model(self) -> str | None:
        value = self.model_combo.currentData()
        return value if isinstance(value, str) else None

    def select_model(self, model_id: str) -> None:
        select_data(self.model_combo, model_id)

    def set_source_size(self, width: int, height: int) -> None:
        """The open photo's size: target sizes are turned into a scale from it."""
        self._source_size = (width, height)
        self._on_size_changed()

    def chosen_scale(self) -> int | None:
        """The whole scale asked for (None: the model's own)."""
        choice = self.scale_combo.currentData()
        width, height = self._source_size
        if choice == "width":
            return whole_scale(self.target_spin.value(), width)
        if choice == "height":
            return whole_scale(self.target_spin.value(), height)
        if choice == "print":
            return whole_scale(self.print_pixels(), max(width, height))
        return choice if isinstance(choice, int) else None

    def print_pixels(self) -> float:
        return self.print_spin.value() / 2.54 * self.dpi_spin.value()

    def options(self) -> UpscaleOptions:
        printing = self.scale_combo.currentData() == "print"
        return UpscaleOptions(
            model_id=self.selected_model() or "",
            scale=self.chosen_scale(),
            consistency=self.consistency_check.isChecked(),
            tile=self.tile_combo.currentData(),
            device=self.device_combo.currentData(),
            dpi=float(self.dpi_spin.value()) if printing else None,
        )

    def apply_options(self, scale: int, consistency: bool, tile: int, device: str) -> None:
        select_data(self.scale_combo, scale or None)
        select_data(self.tile_combo, tile or "auto")
        select_data(self.device_combo, device)
        self.consistency_check.setChecked(consistency)

    def set_busy(self, busy: bool) -> None:
        self.run.set_busy(busy)

    def set_progress(self, fraction: float, message: str) -> None:
        self.run.set_progress(fraction, message)

    @Slot()
    def _on_size_changed(self) -> None:
        choice = self.scale_combo.currentData()
        targeted = isinstance(choice, str)
        self._options_form.setRowVisible(self._target_row, targeted)
        self.target_spin.setVisible(choice in ("width", "height"))
        self.print_spin.setVisible(choice == "print")
        self.dpi_spin.setVisible(choice == "print")
        info = self._infos.get(self.selected_model() or "")
        scale = self.chosen_scale()
        if info is None:
            self.size_note.setText("")
            return
        scale = scale or info.scale
        width, height = self._source_size
        size = f"×{scale} = {width * scale}×{height * scale} px. " if width else f"×{scale}. "
        self.size_note.setText((size if targeted else "")
                               + native_note(list(self._infos.values()), info.scale, scale))

    @Slot()
    def _on_model_changed(self) -> None:
        self._show_model_info()
        self._on_size_changed()
        model_id = self.selected_model()
        if model_id:
            self.model_changed.emit(model_id)

    def _show_model_info(self) -> None:
        info = self._infos.get(self.selected_model() or "")
        if info is None:
            self.model_info.setText("")
            self.model_combo.setToolTip("Which upscaling network to use")
            return
        self.model_info.setText(f"{info.purpose}<br><i>×{info.scale} · {info.licence}</i>")
        self.model_combo.setToolTip(model_tooltip(info))
