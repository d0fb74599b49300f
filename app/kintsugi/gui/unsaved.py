"""An unsaved result is never dropped without asking: before another photo opens or the
window closes, Save / Discard / Cancel, as every editor does. Save writes the result first
and then resumes what was asked (opening, closing); a save that fails or is declined
resumes nothing."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from kintsugi.gui.document import Document
from kintsugi.gui.files import ResultSaver


class UnsavedGuard(QObject):
    def __init__(self, document: Document, saver: ResultSaver, parent: QWidget) -> None:
        super().__init__(parent)
        self._document = document
        self._saver = saver
        self._parent = parent
        self._resume: Callable[[], object] | None = None
        saver.saved.connect(self._on_saved)
        saver.failed.connect(self._forget)
        saver.declined.connect(self._forget)

    def may_drop(self, resume: Callable[[], object]) -> bool:
        """Whether the result on show may go: nothing unsaved, or the user said Discard.
        Save writes it first, then calls `resume` (False meanwhile)."""
        if not self._document.unsaved:
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self._parent, "Save the result?",
            f"The result made from {self._document.name} is not saved. Save it first?",
            buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
        if answer == buttons.Discard:
            return True
        if answer == buttons.Save:
            self._resume = resume
            self._saver.save()
        return False

    @Slot(str)
    def _on_saved(self, _path: str) -> None:
        resume, self._resume = self._resume, None
        if resume is not None:
            resume()

    @Slot()
    def _forget(self) -> None:
        self._resume = None
