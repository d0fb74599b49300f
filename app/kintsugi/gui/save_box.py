"""The Save box: the file format, its quality or bit depth, and the Save buttons. The
window places it under the side panel's scroll area, so it stays in view."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)

from kintsugi.gui.icons import icon
from kintsugi.gui.widgets import select_data

# (label, format name for the engine, file extension)
FORMAT_CHOICES: list[tuple[str, str, str]] = [
    ("PNG (lossless)", "PNG", "png"),
    ("TIFF (lossless)", "TIFF", "tif"),
    ("JPEG", "JPEG", "jpg"),
    ("WebP", "WEBP", "webp"),
]
DEPTH_CHOICES: list[tuple[str, int | None]] = [
    ("Same as original", None),
    ("8 bits per channel", 8),
    ("16 bits per channel", 16),
]
LOSSY = {"JPEG", "WEBP"}



@dataclass(frozen=True)
class ExportOptions:
    format: str
    extension: str
    quality: int | None
    bit_depth: int | None



class SaveBox(QGroupBox):
    """How the result is saved, and the buttons that save it."""

    save_requested = Signal()
    save_as_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Save", parent)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.format_combo = QComboBox()
        for label, fmt, _ext in FORMAT_CHOICES:
            self.format_combo.addItem(label, fmt)
        self.format_combo.setToolTip("File format of the saved result")
        self.format_combo.currentIndexChanged.connect(self._on_format_changed)
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(95)
        self.quality_spin.setSuffix(" %")
        self.quality_spin.setToolTip(
            "Compression quality for JPEG and WebP (higher = larger file). A healed JPEG "
            "saved as JPEG keeps the original's quality and, where the heal did not reach, "
            "its exact data."
        )
        self.depth_combo = QComboBox()
        for label, value in DEPTH_CHOICES:
            self.depth_combo.addItem(label, value)
        self.depth_combo.setToolTip(
            "Bits per channel. 16-bit keeps the most tonal detail (PNG and TIFF only)."
        )
        buttons = QHBoxLayout()
        self.save_button = QPushButton(icon("save"), "Save")
        self.save_button.setToolTip(
            "Save next to the original as <name>_x<scale> (Ctrl+S); the original is never replaced"
        )
        self.save_button.clicked.connect(self.save_requested)
        self.save_as_button = QPushButton(icon("save-as"), "Save As…")
        self.save_as_button.setToolTip("Choose where to save the result (Ctrl+Shift+S)")
        self.save_as_button.clicked.connect(self.save_as_requested)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.save_as_button)
        formats = QHBoxLayout()
        formats.addWidget(self.format_combo, 2)
        formats.addWidget(self.quality_spin, 1)
        formats.addWidget(self.depth_combo, 2)
        form.addRow(formats)
        form.addRow(buttons)
        self.set_can_save(False)
        self._on_format_changed()

    def export_options(self) -> ExportOptions:
        fmt = self.format_combo.currentData()
        extension = next(ext for _label, f, ext in FORMAT_CHOICES if f == fmt)
        quality = self.quality_spin.value() if fmt in LOSSY else None
        depth = None if fmt in LOSSY else self.depth_combo.currentData()
        return ExportOptions(fmt, extension, quality, depth)

    def apply_export(self, fmt: str, quality: int, bit_depth: int) -> None:
        select_data(self.format_combo, fmt.upper())
        self.quality_spin.setValue(quality)
        select_data(self.depth_combo, bit_depth or None)

    def refresh_icons(self) -> None:
        """After a light/dark switch: icons are tinted with the palette's text colour."""
        self.save_button.setIcon(icon("save"))
        self.save_as_button.setIcon(icon("save-as"))

    def set_can_save(self, can: bool) -> None:
        self.save_button.setEnabled(can)
        self.save_as_button.setEnabled(can)

    @Slot()
    def _on_format_changed(self) -> None:
        lossy = self.format_combo.currentData() in LOSSY
        self.quality_spin.setEnabled(lossy)
        self.depth_combo.setEnabled(not lossy)
