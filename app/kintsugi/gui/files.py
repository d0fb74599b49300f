"""Photos in and results out: opening (a file, the clipboard, a drop), and saving the result
on show, each read or written on its own worker thread.

Opening asks the window first (``may_replace``, given what to resume once the result is
saved): an unsaved result is never dropped without the user's word. A result is saved in the photo's own format unless the user picks another
(the command line's rule), next to the original, and never over it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from kintsugi.gui.document import Document
from kintsugi.gui.imaging import display_array, qimage_to_array
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.save_box import LOSSY, ExportOptions
from kintsugi.gui.settings import Settings, add_recent
from kintsugi.gui.worker import Task, TaskRunner

# Every name the engine reads (tests/gui/test_files.py holds them equal); the files are
# still sniffed by content, so "All files" opens a photo with no or the wrong suffix too.
OPEN_FILTER = (
    "Images (*.png *.apng *.jpg *.jpeg *.jpe *.jfif *.mpo *.tif *.tiff *.webp *.bmp *.dib"
    " *.gif *.avif *.heic *.heif *.hif);;All files (*)"
)
SAVE_FILTERS = {
    "png": "PNG image (*.png)",
    "tif": "TIFF image (*.tif *.tiff)",
    "jpg": "JPEG image (*.jpg *.jpeg)",
    "webp": "WebP image (*.webp)",
}
EXTENSION_FORMATS = {
    ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG",
    ".webp": "WEBP",
}


class PhotoOpener(QObject):
    """Opens photos into the document."""

    opened = Signal(str)  # the path, or "" for a pasted image; the document holds it
    failed = Signal(str, str)  # title, reason
    status = Signal(str, int)  # a status-bar line and how long it stays (ms; 0: until replaced)

    def __init__(self, document: Document, settings: Settings,
                 may_replace: Callable[[Callable[[], object]], bool], parent: QWidget) -> None:
        super().__init__(parent)
        self.document = document
        self._settings = settings
        self._may_replace = may_replace
        self._parent = parent
        self.runner = TaskRunner("open", self)
        self.runner.finished.connect(self._on_finished)

    @Slot()
    def open_dialog(self) -> None:
        start = self._settings.last_open_dir or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self._parent, "Open a photo", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Read the photo on a worker thread; ``opened`` fires when it is in the document."""
        if not self._may_replace(lambda: self.open_path(path)):
            return
        path = Path(path)

        def task(job: Any) -> tuple[Any, np.ndarray]:
            import kintsugi

            image = kintsugi.open_image(path)
            job.check()
            return image, display_array(image.pixels, image.alpha)

        self.status.emit(f"Opening {path.name}…", 0)
        self.runner.submit(task, str(path))

    @Slot(object)
    def _on_finished(self, task: Task) -> None:
        if task.status == "failed":
            self.status.emit("", 0)
            self.failed.emit("Cannot open the photo", task.error)
            return
        if not task.ok:
            return
        image, display = task.result
        path = Path(task.tag)
        self.document.open(image, path, display)
        add_recent(self._settings, str(path))
        self._settings.last_open_dir = str(path.parent)
        self.status.emit(f"Opened {path.name}", 4000)
        self.opened.emit(str(path))

    @Slot()
    def paste(self) -> None:
        """Ctrl+V: an image on the clipboard, or a copied image file."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return
        files = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
        if files:
            self.open_path(files[0])
        elif mime.hasImage():
            self.open_qimage(QGuiApplication.clipboard().image())
        else:
            self.status.emit("The clipboard holds no image", 4000)

    def open_qimage(self, qimage: QImage) -> None:
        import kintsugi

        if qimage.isNull():
            self.failed.emit("Cannot paste", "The clipboard image could not be read.")
            return
        if not self._may_replace(lambda: self.open_qimage(qimage)):
            return
        rgb, alpha = qimage_to_array(qimage)
        image = kintsugi.Image.from_array(rgb if alpha is None else np.dstack([rgb, alpha]))
        self.document.open(image, None, display_array(image.pixels, image.alpha))
        self.status.emit("Pasted image", 4000)
        self.opened.emit("")


class RecentMenu(QMenu):
    """File > Open Recent: the photos opened last, newest first."""

    def __init__(self, opener: PhotoOpener, settings: Settings, parent: QWidget) -> None:
        super().__init__("Open &Recent", parent)
        self._opener = opener
        self._settings = settings
        self.aboutToShow.connect(self.fill)
        self.fill()

    @Slot()
    def fill(self) -> None:
        self.clear()
        recent = self._settings.recent_files
        for path in recent:
            act = self.addAction(Path(path).name)
            act.setToolTip(path)
            act.setStatusTip(path)
            act.triggered.connect(lambda _checked=False, p=path: self._opener.open_path(p))
        if not recent:
            self.addAction("No recent photos").setEnabled(False)
            return
        self.addSeparator()
        self.addAction("Clear list").triggered.connect(self._clear)

    @Slot()
    def _clear(self) -> None:
        self._settings.recent_files = []


class ResultSaver(QObject):
    """Writes the result on show."""

    saved = Signal(str)
    failed = Signal(str, str)  # title, reason
    status = Signal(str, int)
    declined = Signal()  # the user chose not to save after all (no name, no replacing)

    def __init__(self, document: Document, panel: SidePanel, settings: Settings,
                 confirm: Callable[[str, str], bool], parent: QWidget) -> None:
        super().__init__(parent)
        self.document = document
        self._panel = panel
        self._settings = settings
        self._confirm = confirm
        self._parent = parent
        self.runner = TaskRunner("save", self)
        self.runner.finished.connect(self._on_finished)

    def default_path(self, export: ExportOptions | None = None) -> Path:
        """<stem>_x<scale>.<ext> next to the original (or in the last save folder if pasted)."""
        export = export or self._panel.save_box.export_options()
        entry = self.document.current()
        scale = entry.scale if entry else 1
        path = self.document.path
        if path is not None:
            folder, stem = path.parent, path.stem
        else:
            folder, stem = Path(self._settings.last_save_dir or Path.home()), "pasted"
        kind = {"restore": "_restored", "heal": "_healed"}.get(entry.kind if entry else "", "")
        return folder / f"{stem}{kind}_x{scale}.{export.extension}"

    @Slot()
    def save(self) -> None:
        if self.document.current() is None:
            return
        path = self.default_path()
        if path.exists() and not self._confirm(
            "Replace file?", f"{path.name} already exists in {path.parent}.\nReplace it?"
        ):
            self.declined.emit()
            return
        self.save_to(path)

    @Slot()
    def save_as(self) -> None:
        if self.document.current() is None:
            return
        export = self._panel.save_box.export_options()
        path = self._ask_path(self.default_path(export), export)
        if path is None:
            self.declined.emit()
        else:
            self.save_to(path)

    def _ask_path(self, default: Path, export: ExportOptions) -> Path | None:
        filters = [SAVE_FILTERS[export.extension]] + [
            f for ext, f in SAVE_FILTERS.items() if ext != export.extension
        ]
        # The file dialog itself asks before replacing an existing file.
        chosen, _ = QFileDialog.getSaveFileName(
            self._parent, "Save the result as", str(default), ";;".join(filters)
        )
        if not chosen:
            return None
        path = Path(chosen)
        if path.suffix.lower() not in EXTENSION_FORMATS:
            path = path.with_name(f"{path.name}.{export.extension}")
        return path

    def save_to(self, path: str | Path) -> None:
        """Write the result on show on a worker thread; ``saved`` fires when done."""
        entry = self.document.current()
        if entry is None:
            return
        path = Path(path)
        original = self.document.path
        if original is not None and _same_file(path, original):
            self.failed.emit("Not saved", f"{path.name} is the original photo; "
                             "Kintsugi never overwrites it. Choose another name.")
            return
        # The file's extension decides the format (Save As may pick another one than the
        # panel's); quality applies to lossy formats, bit depth to lossless ones.
        fmt = EXTENSION_FORMATS.get(path.suffix.lower(), self._panel.save_box.export_options().format)
        lossy = fmt in LOSSY
        quality = self._panel.save_box.quality_spin.value() if lossy else None
        depth = None if lossy else self._panel.save_box.depth_combo.currentData()
        # A heal of the photo itself, saved as JPEG: keep the original's blocks and quality
        # wherever the heal did not reach (engine/imageio/jpeg_edit.py).
        edit_of = self.document.source if entry.kind == "heal" and entry.scale == 1 else None
        if edit_of is not None and fmt == "JPEG":
            quality = None

        def task(job: Any) -> Path:
            import kintsugi

            return kintsugi.save_image(entry.image, path, format=fmt, bit_depth=depth,
                                       quality=quality, provenance=entry.provenance,
                                       edit_of=edit_of)

        self.status.emit(f"Saving {path.name}…", 0)
        submitted = self.runner.submit(task, str(path))
        submitted.context.update(entry=entry)

    @Slot(object)
    def _on_finished(self, task: Task) -> None:
        if task.status == "failed":
            self.status.emit("", 0)
            self.failed.emit("Could not save", task.error)
        elif task.ok:
            path = Path(task.result)
            self._settings.last_save_dir = str(path.parent)
            self.document.mark_saved(task.context["entry"])
            self.status.emit(f"Saved {path}", 6000)
            self.saved.emit(str(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False
