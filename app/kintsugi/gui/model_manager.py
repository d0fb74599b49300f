"""Bring face models into Kintsugi: import a weights file, or download an official one.

Both run on worker threads (importing reads and hashes hundreds of MB; a download can take
minutes); the dialogs only show what the worker reports. Nothing is written outside the
per-user models folder, and a cancelled download leaves no partial file behind.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kintsugi.gui.widgets import fit_to_screen
from kintsugi.gui.worker import Task, TaskRunner

log = logging.getLogger(__name__)

WEIGHTS_FILTER = "Model weights (*.safetensors *.pth *.pt *.ckpt *.bin);;All files (*)"
NC_COLOUR = "#d0453a"


class ModelImporter(QObject):
    """Models > Import model file…: the file dialog, then import_model on a worker."""

    imported = Signal(str)  # the new model's id
    failed = Signal(str)  # a readable reason
    finished = Signal(str)  # "ok" | "failed" | "cancelled"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = TaskRunner("import", self)
        self._runner.finished.connect(self._on_finished)

    def ask_and_import(self, parent: QWidget | None, start_dir: str = "") -> None:
        path, _ = QFileDialog.getOpenFileName(parent, "Import a model file", start_dir,
                                              WEIGHTS_FILTER)
        if path:
            self.import_file(path)

    def import_file(self, path: str | Path) -> None:
        path = Path(path)

        def task(job: Any) -> str:
            from kintsugi import import_model

            job.set_progress(0.0, f"Checking {path.name}…")
            return import_model(path).id

        self._runner.submit(task, str(path))

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def runners(self) -> list[TaskRunner]:
        return [self._runner]

    @Slot(object)
    def _on_finished(self, task: Task) -> None:
        if task.ok:
            self.imported.emit(str(task.result))
        elif task.status == "failed":
            self.failed.emit(f"{Path(task.tag).name} was not imported: {task.error}")
        self.finished.emit(task.status)


@dataclass(frozen=True)
class _Row:
    """A library entry with what this machine makes of it (worked out on the worker)."""

    entry: Any
    refusal: str  # why it cannot be downloaded here; "" when it can
    have: bool  # already downloaded


def _size_text(size: int) -> str:
    if size <= 0:
        return "—"  # the library does not say
    return f"{size / 1e6:.0f} MB" if size < 1e9 else f"{size / 1e9:.1f} GB"


def _refusal(entry: Any) -> str:
    import kintsugi

    if not entry.downloadable:
        return entry.notes or "Kintsugi cannot run this model yet"
    if entry.engine.startswith("spandrel"):
        available, reason = kintsugi.spandrel_status()
        if not available:
            return (f"{entry.arch} runs through the optional package spandrel, which {reason} "
                    "(it needs torchvision)")
    return ""


class DownloadDialog(QDialog):
    """Models > Download official model…: the library, one download at a time."""

    downloaded = Signal(str)  # the model id, once it is recorded and usable
    download_finished = Signal(str)  # "ok" | "failed" | "cancelled"
    listed = Signal()

    def __init__(self, library_path: Path | None = None, parent: QWidget | None = None,
                 timeout: float = 30.0) -> None:
        super().__init__(parent)
        self._library_path = library_path
        self._timeout = timeout
        self._rows: list[_Row] = []
        self._last_error = ""
        self._status_for = ""  # the entry the status line under the table speaks about
        self.setWindowTitle("Download an official model")
        fit_to_screen(self, 820, 440)
        self._list_runner = TaskRunner("library", self)
        self._download_runner = TaskRunner("download", self)
        self._list_runner.finished.connect(self._on_listed)
        self._download_runner.finished.connect(self._on_download_finished)
        self._download_runner.progress.connect(self._on_progress)
        self._download_runner.busy_changed.connect(self._on_busy)

        layout = QVBoxLayout(self)
        intro = QLabel(
            "Checkpoints published by their authors. None ships with Kintsugi; each downloads "
            "from the address shown, is checked, and goes into your own models folder. "
            f"<b style='color:{NC_COLOUR}'>NC</b> = non-commercial use only."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Model", "Scale", "Size", "Licence", "Source"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # one line per model; the full text is in the tooltip
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.details = QLabel("Reading the library…")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setOpenExternalLinks(False)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress_label = QLabel("")
        self.progress_label.setProperty("role", "hint")
        self.progress_label.setWordWrap(True)  # a failure's reason can be long
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primary")
        self.download_button.setEnabled(False)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the download; the partial file is deleted")
        self.cancel_button.clicked.connect(self.cancel_download)
        row.addWidget(self.progress, 1)
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(row)
        layout.addWidget(self.progress_label)
        layout.addWidget(close)
        self.refresh()

    # --- listing ----------------------------------------------------------------------
    def refresh(self) -> None:
        path = self._library_path

        def task(job: Any) -> list[_Row]:
            import kintsugi

            have = {m.id for m in kintsugi.read_manifest() if m.path.is_file()}
            return [_Row(e, _refusal(e), e.id in have) for e in kintsugi.library_entries(path)]

        self._list_runner.submit(task, "library")

    @Slot(object)
    def _on_listed(self, task: Task) -> None:
        if task.status == "failed":
            self.details.setText(html.escape(task.error))
            self._last_error = task.error
            return
        if not task.ok:
            return
        selected = self.selected_id()
        self._rows = list(task.result)
        self.table.setRowCount(len(self._rows))
        for r, row in enumerate(self._rows):
            e = row.entry
            name = e.name + ("  ✓ downloaded" if row.have else "")
            licence = ("NC · " if e.non_commercial else "") + e.licence
            cells = [name, f"×{e.scale}", _size_text(e.size), licence, e.urls[0] if e.urls else "—"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if c == 3 and e.non_commercial:
                    item.setForeground(QColor(NC_COLOUR))
                if row.refusal:
                    item.setForeground(QColor("gray"))
                    item.setToolTip(f"Cannot be used here: {row.refusal}")
                self.table.setItem(r, c, item)
        self.table.resizeColumnToContents(1)
        self.table.resizeColumnToContents(2)
        self.table.setColumnWidth(3, 240)
        if self._rows:
            self.select(selected or self._rows[0].entry.id)
        else:
            self.details.setText("The library lists no checkpoints.")
        self.listed.emit()

    def entry_ids(self) -> list[str]:
        return [row.entry.id for row in self._rows]

    def select(self, entry_id: str) -> None:
        for r, row in enumerate(self._rows):
            if row.entry.id == entry_id:
                self.table.selectRow(r)
                return

    def selected_id(self) -> str | None:
        row = self._selected_row()
        return row.entry.id if row is not None else None

    def _selected_row(self) -> _Row | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or not 0 <= rows[0].row() < len(self._rows):
            return None
        return self._rows[rows[0].row()]

    @Slot()
    def _show_selected(self) -> None:
        row = self._selected_row()
        if row is None:
            self.details.setText("")
            self.download_button.setEnabled(False)
            return
        e = row.entry
        if e.id != self._status_for and not self._download_runner.is_busy():
            # An old failure ("Failed: ...") must not stand under another model.
            self.progress.setValue(0)
            self.progress_label.setText("")
            self._status_for = e.id
        nc = (f" <b style='color:{NC_COLOUR}'>NC: non-commercial use only</b>"
              if e.non_commercial else "")
        lines = [
            f"<b>{html.escape(e.name)}</b> <span style='color:gray'>({html.escape(e.id)}, "
            f"{html.escape(e.arch)}, {e.in_size}→{e.out_size} px)</span>",
            html.escape(e.purpose) if e.purpose else "",
            f"Licence: {html.escape(e.licence)}{nc}",
            f"From: {html.escape(', '.join(e.urls) or '—')} · checksum: "
            f"{html.escape(e.verification)}",
        ]
        if row.refusal:
            lines.append(f"<b>Cannot be used here:</b> {html.escape(row.refusal)}")
        elif row.have:
            lines.append("Already downloaded: it is in the model selectors.")
        self.details.setText("<br>".join(line for line in lines if line))
        self.download_button.setEnabled(not row.refusal and not self._download_runner.is_busy())
        self.download_button.setToolTip(row.refusal or f"Download {e.name} into your models folder")

    # --- downloading ------------------------------------------------------------------
    @Slot()
    def start_download(self) -> None:
        row = self._selected_row()
        if row is None or row.refusal or self._download_runner.is_busy():
            return
        entry_id, path, timeout = row.entry.id, self._library_path, self._timeout

        def task(job: Any) -> str:
            import kintsugi
            from kintsugi import Cancelled, part_path

            entry = kintsugi.library_entry(entry_id, path)
            part = part_path(kintsugi.models_folder() / entry.file)
            try:
                return kintsugi.download_checkpoint(entry_id, job=job, path=path,
                                                   timeout=timeout).id
            except Cancelled:
                # The user chose to stop: no half file is left in the models folder.
                part.unlink(missing_ok=True)
                raise

        self.progress.setValue(0)
        self._status_for = entry_id
        self.progress_label.setText(f"Starting the download of {row.entry.name}…")
        self._download_runner.submit(task, entry_id)

    @Slot()
    def cancel_download(self) -> None:
        if self._download_runner.is_busy():
            self._download_runner.cancel()
            self.progress_label.setText("Cancelling…")

    def is_busy(self) -> bool:
        return self._download_runner.is_busy()

    def last_error(self) -> str:
        return self._last_error

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress_label.setText(f"{round(fraction * 100)}% · {message}")

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.table.setEnabled(not busy)
        if busy:
            self.download_button.setEnabled(False)
        else:
            self._show_selected()

    @Slot(object)
    def _on_download_finished(self, task: Task) -> None:
        if task.ok:
            self._last_error = ""
            self.progress.setValue(1000)
            self.progress_label.setText(f"{task.result} is ready: choose it in Restore faces.")
            self.downloaded.emit(str(task.result))
            self.refresh()
        elif task.status == "failed":
            self._last_error = task.error
            self.progress.setValue(0)
            self.progress_label.setText(f"Failed: {task.error}")
        else:
            self.progress.setValue(0)
            self.progress_label.setText("Cancelled; nothing was kept.")
        self.download_finished.emit(task.status)

    def runners(self) -> list[TaskRunner]:
        return [self._list_runner, self._download_runner]

    def stop_and_wait(self) -> None:
        for runner in self.runners():
            runner.shutdown()

    def done(self, result: int) -> None:
        """Closing the dialog cancels a running download (it never runs unseen)."""
        if self._download_runner.is_busy():
            self._download_runner.cancel_and_wait()
        super().done(result)
