"""The document on screen: the photo and the result on show in the canvas, the result's
line and the deviation legend in the panel, the photo's name (marked while a result is
unsaved) in the title and its size in the status bar. A new photo also puts the choices
made for the last one back to their defaults: its own save format, split view, no map."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QWidget

from kintsugi.gui.alt_flow import AltFlow
from kintsugi.gui.canvas import CompareCanvas, ViewMode
from kintsugi.gui.document import Document
from kintsugi.gui.history import ResultEntry
from kintsugi.gui.imaging import to_qimage
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.restore_flow import RestoreFlow
from kintsugi.gui.runs import duration
from kintsugi.gui.view import ViewSync


class DocumentView(QObject):
    shown = Signal()  # another photo or result is on screen

    def __init__(self, document: Document, window: QWidget, canvas: CompareCanvas,
                 panel: SidePanel, view: ViewSync, alternatives: AltFlow, restore: RestoreFlow,
                 image_label: QLabel) -> None:
        super().__init__(window)
        self._document = document
        self._window = window
        self._canvas = canvas
        self._panel = panel
        self._view = view
        self._alternatives = alternatives
        self._restore = restore
        self._image_label = image_label
        document.opened.connect(self._on_opened)
        document.result_changed.connect(self._show_entry)
        document.unsaved_changed.connect(lambda _unsaved: self._update_title())

    def _on_opened(self) -> None:
        document, panel = self._document, self._panel
        image = document.source
        assert document.display is not None
        self._canvas.set_before(to_qimage(document.display))
        panel.set_source_size(image.width, image.height)
        save = panel.save_box
        save.apply_export(document.save_format(), save.quality_spin.value(),
                          save.depth_combo.currentData() or 0)
        self._view.set_mode(ViewMode.SPLIT)
        self._view.set_deviation_visible(False)
        channels = "gray" if image.is_gray else "RGB"
        alpha = " + alpha" if image.alpha is not None else ""
        self._image_label.setText(
            f"{image.width}×{image.height} · {channels}{alpha} · {image.bit_depth}-bit")
        self._update_title()
        if panel.mode() == "restore":
            self._restore.detect_faces()

    def _update_title(self) -> None:
        document = self._document
        mark = " •" if document.unsaved else ""
        title = f"{document.name}{mark} — Kintsugi" if document.source is not None else "Kintsugi"
        self._window.setWindowTitle(title)

    def _show_entry(self, entry: ResultEntry | None) -> None:
        panel = self._panel
        if entry is None:
            self._canvas.set_after(None)
            panel.result_info.setText("")
            panel.compare.legend_scale.setText("")
            self._alternatives.show(None)
        else:
            self._canvas.set_after(entry.pyramid if entry.pyramid is not None else entry.display,
                                   entry.heat)
            panel.result_info.setText(
                f"Result: {entry.image.width}×{entry.image.height} · ×{entry.scale} · "
                f"{entry.label} · {duration(entry.seconds)}")
            panel.compare.legend_scale.setText(
                f"Yellow = {entry.full_scale * 255:.0f}/255 or more away from the original"
                if entry.heat is not None else "")
            self._alternatives.show(entry.alt, entry.setting)
        self._restore.show_faces()
        self.shown.emit()
