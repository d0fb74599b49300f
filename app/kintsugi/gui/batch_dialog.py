"""Batch export: upscale every photo of a folder tree into a mirrored output tree.

The work is ``kintsugi.plan_batch`` + ``kintsugi.run_batch`` on a worker thread, the same
code the CLI runs. Per-file events cross to the GUI through a signals object that lives on
the GUI thread; a failing file is listed and the batch goes on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kintsugi.gui.batch_boxes import BatchStatus, FilesBox, MethodBox, PhotosBox
from kintsugi.gui.icons import icon, tinted
from kintsugi.gui.panel import UpscaleOptions
from kintsugi.gui.save_box import LOSSY
from kintsugi.gui.settings import Settings
from kintsugi.gui.worker import Task, TaskRunner


class _BatchSignals(QObject):
    """Created on the GUI thread; the worker emits, Qt queues the calls to the dialog."""

    planned = Signal(int)
    batch_event = Signal(object)  # kintsugi.BatchEvent; "event" would hide QObject.event()


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class BatchDialog(QDialog):
    """Non-modal: the main window stays usable while a batch runs."""

    batch_finished = Signal(object)  # kintsugi.BatchSummary, or None if it could not start

    def __init__(
        self,
        settings: Settings,
        infos: list[Any],
        options: UpscaleOptions,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch export")
        self.setWindowIcon(icon("batch"))
        self.setMinimumWidth(620)
        self._settings = settings
        self._tile = options.tile
        self._device = options.device
        self._runner = TaskRunner("batch", self)
        self._runner.progress.connect(self._on_progress)
        self._runner.finished.connect(self._on_finished)
        self._signals = _BatchSignals(self)
        self._signals.planned.connect(self._on_planned)
        self._signals.batch_event.connect(self._on_event)
        self._total = 0
        self._index = 0
        self._active_seconds = 0.0  # time spent running, pauses excluded, for the ETA
        self._active_since: float | None = None
        self._summary: Any = None
        self._build(options)
        self.set_models(infos, options.model_id)
        self._set_running(False)

    # ------------------------------------------------------------------ building
    def _build(self, options: UpscaleOptions) -> None:
        s = self._settings
        layout = QVBoxLayout(self)

        self.photos = PhotosBox(s)
        self.method = MethodBox(options)
        self.files = FilesBox(s)
        for box in (self.photos, self.method, self.files):
            layout.addWidget(box)

        self.status = BatchStatus()
        layout.addWidget(self.status)

        buttons = QHBoxLayout()
        self.start_button = QPushButton(tinted("upscale", "#1b1b1b"), "Start")
        self.start_button.setObjectName("primary")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Upscale every photo of the input folder")
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.pause_button.setToolTip("Pause after the current tile; Resume goes on from there")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        self.cancel_button.setToolTip("Stop the batch; the photo in progress leaves no file")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)

    def set_models(self, infos: list[Any], chosen: str) -> None:
        self.method.set_models(infos, chosen)

    def set_input(self, folder: str) -> None:
        self.photos.input_edit.setText(folder)

    # ------------------------------------------------------------------ running
    def runners(self) -> list[TaskRunner]:
        return [self._runner]

    def is_running(self) -> bool:
        return self._runner.is_busy()

    def batch_options(self) -> dict[str, Any]:
        """The keyword arguments for kintsugi.BatchOptions, from the controls."""
        photos, method, files = self.photos, self.method, self.files
        fmt = files.format_combo.currentData()
        return {
            "model": method.model_combo.currentData(),
            "scale": method.scale_combo.currentData(),
            "consistency": method.consistency_check.isChecked(),
            "tile": self._tile,
            "device": self._device,
            "format": fmt,
            "bit_depth": None if fmt in LOSSY else files.depth_combo.currentData(),
            "quality": files.quality_spin.value() if fmt in LOSSY or fmt is None else None,
            "recursive": photos.recursive_check.isChecked(),
            "skip_existing": files.skip_check.isChecked(),
            "name_pattern": files.pattern_edit.text().strip() or "{stem}_x{scale}",
        }

    @Slot()
    def start(self) -> None:
        if self._runner.is_busy():
            return
        source = self.photos.input_edit.text().strip()
        if not source or not Path(source).is_dir():
            self._error("Choose an input folder that exists.")
            return
        out_text = self.photos.output_edit.text().strip()
        out_dir = Path(out_text) if out_text else None
        kwargs = self.batch_options()
        self._remember(source, out_text)
        signals = self._signals

        def task(job: Any) -> Any:
            import kintsugi

            options = kintsugi.BatchOptions(**kwargs)
            items = kintsugi.plan_batch([Path(source)], out_dir, options)
            signals.planned.emit(len(items))
            return kintsugi.run_batch(items, options, job=job, on_event=signals.batch_event.emit)

        self.status.clear()
        self._total, self._index, self._summary = 0, 0, None
        self._active_seconds, self._active_since = 0.0, time.monotonic()
        self._runner.submit(task, "batch")
        self._set_running(True)

    @Slot()
    def toggle_pause(self) -> None:
        task = self._runner.current_task()
        if task is None:
            return
        if task.job.paused:
            self._runner.resume()
            self._active_since = time.monotonic()
            self.pause_button.setText("Pause")
            self.pause_button.setIcon(icon("pause"))
            self.status.overall_label.setText(self.status.overall_label.text().replace(" · paused", ""))
        else:
            self._runner.pause()
            if self._active_since is not None:
                self._active_seconds += time.monotonic() - self._active_since
                self._active_since = None
            self.pause_button.setText("Resume")
            self.pause_button.setIcon(icon("resume"))
            self.status.overall_label.setText(self.status.overall_label.text() + " · paused")

    def is_paused(self) -> bool:
        task = self._runner.current_task()
        return bool(task is not None and task.job.paused)

    @Slot()
    def cancel(self) -> None:
        if self._runner.is_busy():
            self._runner.cancel()
            self.status.file_label.setText("Cancelling…")

    def stop_and_wait(self) -> None:
        """Cancel and join the worker thread (the main window calls this on close)."""
        self._runner.cancel_and_wait()

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        photos, method, files = self.photos, self.method, self.files
        for widget in (photos.input_edit, photos.output_edit, photos.recursive_check,
                       method.model_combo, method.scale_combo, method.consistency_check,
                       files.format_combo, files.quality_spin, files.depth_combo,
                       files.pattern_edit, files.skip_check):
            widget.setEnabled(not running)
        if not running:
            files.enable_for_format()
            self.pause_button.setText("Pause")
            self.pause_button.setIcon(icon("pause"))

    def _remember(self, source: str, out_text: str) -> None:
        s = self._settings
        s.batch_input_dir = source
        s.batch_output_dir = out_text
        s.batch_recursive = self.photos.recursive_check.isChecked()
        s.batch_skip_existing = self.files.skip_check.isChecked()
        s.batch_name_pattern = self.files.pattern_edit.text().strip() or "{stem}_x{scale}"
        fmt = self.files.format_combo.currentData()
        s.batch_format = fmt.lower() if fmt else ""

    # ------------------------------------------------------------------ progress
    @Slot(int)
    def _on_planned(self, total: int) -> None:
        self._total = total
        self.status.overall_label.setText(f"0 of {total} photos")
        if total == 0:
            self.status.file_label.setText("No photos found in that folder.")

    @Slot(object)
    def _on_event(self, event: Any) -> None:
        self._index = event.index
        self.status.show_photo_event(event)

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        self.status.overall_progress.setValue(round(fraction * 1000))
        if self._total:
            within = fraction * self._total - self._index
            self.status.file_progress.setValue(round(min(max(within, 0.0), 1.0) * 1000))
        active = self._active_seconds
        if self._active_since is not None:
            active += time.monotonic() - self._active_since
        done = min(self._index + 1, self._total) if fraction < 1 else self._total
        text = f"Photo {done} of {self._total}"
        if fraction > 0.02 and active > 0.5:
            text += f" · about {_duration(active * (1 - fraction) / fraction)} left"
        if self.is_paused():
            text += " · paused"
        self.status.overall_label.setText(text)

    @Slot(object)
    def _on_finished(self, task: Task) -> None:
        self._set_running(False)
        self._active_since = None
        if task.status == "failed":
            self.status.summary_label.setText(f"The batch could not run: {task.error}")
            self.batch_finished.emit(None)
            return
        summary = task.result if task.ok else None
        self._summary = summary
        if summary is None:  # cancelled before run_batch returned a summary
            self.status.summary_label.setText("Cancelled.")
            self.batch_finished.emit(None)
            return
        parts = [f"{summary.done} upscaled"]
        if summary.skipped:
            parts.append(f"{summary.skipped} skipped (already done)")
        if summary.failed:
            parts.append(f"{len(summary.failed)} failed (listed above)")
        head = "Cancelled" if summary.cancelled else "Finished"
        self.status.summary_label.setText(f"<b>{head}</b> in {_duration(summary.seconds)}: "
                                   + ", ".join(parts) + ".")
        self.status.file_label.setText("")
        if not summary.cancelled:
            self.status.overall_progress.setValue(1000)
        self.status.overall_label.setText(f"{self._total} photos")
        self.batch_finished.emit(summary)

    def summary(self) -> Any:
        return self._summary

    # ------------------------------------------------------------------ closing
    def _error(self, text: str) -> None:
        self.status.summary_label.setText(text)
        box = QMessageBox(QMessageBox.Icon.Warning, "Batch export", text,
                          QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _confirm_stop(self) -> bool:
        answer = QMessageBox.question(
            self, "Stop the batch?", "A batch is running. Stop it? Finished photos are kept.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def reject(self) -> None:
        """Esc, Close and the title bar's X all land here: a running batch asks first."""
        if self._runner.is_busy():
            if not self._confirm_stop():
                return
            self.stop_and_wait()
        super().reject()
