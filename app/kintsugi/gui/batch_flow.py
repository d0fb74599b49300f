"""Batch export: every photo of a folder, upscaled in the Batch dialog (which owns its
runner and shows its own progress and errors). The dialog is built when first opened: the
window must not wait for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from kintsugi.gui.panel import SidePanel
from kintsugi.gui.settings import Settings
from kintsugi.gui.worker import TaskRunner

if TYPE_CHECKING:
    from kintsugi.gui.batch_dialog import BatchDialog


class BatchFlow(QObject):
    finished = Signal(object)  # kintsugi.BatchSummary, or None if it could not start

    def __init__(self, panel: SidePanel, settings: Settings, infos: Callable[[], list[Any]],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self._panel = panel
        self._settings = settings
        self._infos = infos  # the upscalers known now
        self._parent = parent
        self._dialog: BatchDialog | None = None

    @Slot()
    def open(self, folder: str | None = None) -> None:
        from kintsugi.gui.batch_dialog import BatchDialog

        infos = self._infos()
        if self._dialog is None:
            self._dialog = BatchDialog(self._settings, infos, self._panel.options(), self._parent)
            self._dialog.batch_finished.connect(self.finished)
        if infos:
            self._dialog.set_models(infos, self._panel.selected_model() or "")
        if isinstance(folder, str) and folder:
            self._dialog.set_input(folder)
        self._dialog.show()
        self._dialog.raise_()

    def dialog(self) -> BatchDialog | None:
        return self._dialog

    def runners(self) -> list[TaskRunner]:
        return self._dialog.runners() if self._dialog is not None else []

    def stop(self) -> None:
        """The window closes: the running batch stops and its thread is joined."""
        if self._dialog is not None:
            self._dialog.stop_and_wait()
            self._dialog.hide()
