"""The batch dialog's parts: its settings, one group box each (which photos and where the
results go, the method, the files written), and the status of a running batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kintsugi.gui.icons import icon
from kintsugi.gui.panel import SCALE_CHOICES, UpscaleOptions, model_tooltip
from kintsugi.gui.save_box import DEPTH_CHOICES, FORMAT_CHOICES, LOSSY
from kintsugi.gui.settings import Settings


class PhotosBox(QGroupBox):
    """The input folder (with or without its sub-folders) and the output folder."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__("Photos", parent)
        s = settings
        form = QFormLayout(self)
        self.input_edit = QLineEdit(s.batch_input_dir)
        self.input_edit.setPlaceholderText("Folder with the photos to upscale")
        self.input_edit.setToolTip("Every photo in this folder is upscaled; originals are untouched")
        self.recursive_check = QCheckBox("Include sub-folders")
        self.recursive_check.setChecked(s.batch_recursive)
        self.recursive_check.setToolTip("Also process photos in sub-folders, mirroring them")
        self.output_edit = QLineEdit(s.batch_output_dir)
        self.output_edit.setPlaceholderText("Empty: next to each photo")
        self.output_edit.setToolTip(
            "Where results go; its sub-folders mirror the input folder's. "
            "Leave empty to save each result next to its photo."
        )
        form.addRow("Input folder", self._folder_row(self.input_edit, "Input folder"))
        form.addRow("", self.recursive_check)
        form.addRow("Output folder", self._folder_row(self.output_edit, "Output folder"))

    def _folder_row(self, edit: QLineEdit, title: str) -> QHBoxLayout:
        row = QHBoxLayout()
        button = QToolButton()
        button.setIcon(icon("open"))
        button.setToolTip(f"Choose the {title.lower()}")
        button.clicked.connect(lambda: self._browse(edit, title))
        row.addWidget(edit, 1)
        row.addWidget(button)
        return row

    def _browse(self, edit: QLineEdit, title: str) -> None:
        chosen = QFileDialog.getExistingDirectory(self.window(), title, edit.text() or str(Path.home()))
        if chosen:
            edit.setText(chosen)



class MethodBox(QGroupBox):
    """The upscaling model, the scale and the consistency lock."""

    def __init__(self, options: UpscaleOptions, parent: QWidget | None = None) -> None:
        super().__init__("Method", parent)
        form = QFormLayout(self)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Which upscaling network to use")
        self.scale_combo = QComboBox()
        for label, value in SCALE_CHOICES:
            self.scale_combo.addItem(label, value)
        self.scale_combo.setCurrentIndex(max(0, self.scale_combo.findData(options.scale)))
        self.scale_combo.setToolTip("Enlargement factor")
        self.consistency_check = QCheckBox("Consistency lock")
        self.consistency_check.setChecked(options.consistency)
        self.consistency_check.setToolTip(
            "Results shrunk back to the original size equal the originals exactly"
        )
        form.addRow("Model", self.model_combo)
        form.addRow("Scale", self.scale_combo)
        form.addRow("", self.consistency_check)

    def set_models(self, infos: list[Any], chosen: str) -> None:
        current = self.model_combo.currentData() or chosen
        self.model_combo.clear()
        for info in infos:
            self.model_combo.addItem(f"{info.name}  (×{info.scale})", info.id)
            self.model_combo.setItemData(self.model_combo.count() - 1, model_tooltip(info),
                                         Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(current)))


class FilesBox(QGroupBox):
    """The results' format, quality, bit depth and names, and whether existing ones are kept."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__("Files", parent)
        s = settings
        form = QFormLayout(self)
        self.format_combo = QComboBox()
        self.format_combo.addItem("Same as each photo", None)
        for label, fmt, _ext in FORMAT_CHOICES:
            self.format_combo.addItem(label, fmt)
        self.format_combo.setCurrentIndex(
            max(0, self.format_combo.findData(s.batch_format.upper() or None))
        )
        self.format_combo.setToolTip("File format of the results")
        self.format_combo.currentIndexChanged.connect(self.enable_for_format)
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(s.quality)
        self.quality_spin.setSuffix(" %")
        self.quality_spin.setToolTip("JPEG and WebP quality")
        self.depth_combo = QComboBox()
        for label, value in DEPTH_CHOICES:
            self.depth_combo.addItem("Same as each photo" if value is None else label, value)
        self.depth_combo.setToolTip("Bits per channel (16-bit: PNG and TIFF only)")
        self.pattern_edit = QLineEdit(s.batch_name_pattern)
        self.pattern_edit.setToolTip(
            "Name of each result without extension: {stem} = photo name, {scale} = factor, "
            "{model} = model id"
        )
        self.skip_check = QCheckBox("Skip photos whose result already exists")
        self.skip_check.setChecked(s.batch_skip_existing)
        self.skip_check.setToolTip("Resume an interrupted batch without redoing finished photos")
        form.addRow("Format", self.format_combo)
        form.addRow("Quality", self.quality_spin)
        form.addRow("Bit depth", self.depth_combo)
        form.addRow("File names", self.pattern_edit)
        form.addRow("", self.skip_check)
        self.enable_for_format()

    @Slot()
    def enable_for_format(self) -> None:
        """Quality for JPEG and WebP (and each photo's own format), bit depth for the rest."""
        fmt = self.format_combo.currentData()
        self.quality_spin.setEnabled(fmt in LOSSY or fmt is None)
        self.depth_combo.setEnabled(fmt not in LOSSY)


class BatchStatus(QWidget):
    """How far a batch is: the photo in progress, all photos, the failures, the summary."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.file_label = QLabel("")
        self.file_label.setProperty("role", "hint")
        self.file_progress = QProgressBar()
        self.file_progress.setRange(0, 1000)
        self.file_progress.setFormat("This photo: %p%")
        self.overall_progress = QProgressBar()
        self.overall_progress.setRange(0, 1000)
        self.overall_progress.setFormat("All photos: %p%")
        self.overall_label = QLabel("")
        self.error_list = QListWidget()
        self.error_list.setToolTip("Photos that could not be upscaled, and why")
        self.error_list.setVisible(False)
        self.error_list.setMaximumHeight(120)
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)
        for widget in (self.file_label, self.file_progress, self.overall_progress,
                       self.overall_label, self.error_list, self.summary_label):
            layout.addWidget(widget)

    def clear(self) -> None:
        """A new batch: nothing done, nothing failed, photos being looked for."""
        self.error_list.clear()
        self.error_list.setVisible(False)
        self.summary_label.setText("")
        self.file_label.setText("Looking for photos…")
        self.file_progress.setValue(0)
        self.overall_progress.setValue(0)

    def show_photo_event(self, event: Any) -> None:
        """A photo started, failed or finished (a kintsugi.BatchEvent)."""
        name = Path(event.src).name
        if event.status == "started":
            self.file_label.setText(f"{name} → {event.dst}")
            self.file_progress.setValue(0)
        elif event.status == "failed":
            error = event.error or "failed"
            self.error_list.addItem(error if error.startswith(name) else f"{name}: {error}")
            self.error_list.setVisible(True)
        elif event.status in ("done", "skipped"):
            self.file_progress.setValue(1000)
