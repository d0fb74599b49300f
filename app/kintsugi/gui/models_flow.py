"""The model lists and the chosen models: read once the window is on screen (that imports
torch), read again after an import or a download, the chosen upscaler loaded ahead so
Upscale starts at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from kintsugi.gui.model_manager import ModelImporter
from kintsugi.gui.models import ModelCache, model_caps
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.settings import Settings
from kintsugi.gui.worker import Task, TaskRunner

if TYPE_CHECKING:  # imported when first opened: the window must not wait for it
    from kintsugi.gui.model_manager import DownloadDialog


def _face_lists() -> tuple[list[Any], dict[str, Any]]:
    import kintsugi

    faces = kintsugi.list_models(kind="face-restorer")
    return faces, {m.id: model_caps(m) for m in faces}


class ModelsFlow(QObject):
    """The upscalers and face models the panels offer (see the module doc)."""

    ready = Signal()  # the lists are in, the chosen model loaded (or not: a status line)
    changed = Signal()  # the lists were read again (after an import/download)
    failed = Signal(str, str)  # title, reason
    status = Signal(str, int)  # a status-bar line and how long it stays (ms)

    def __init__(self, panel: SidePanel, settings: Settings, cache: ModelCache,
                 parent: QWidget) -> None:
        super().__init__(parent)
        self._panel = panel
        self._settings = settings
        self.cache = cache
        self._parent = parent
        self.infos: list[Any] = []  # the upscalers
        self.face_infos: list[Any] = []
        self.loaded = False
        self._download_dialog: DownloadDialog | None = None
        self._runner = TaskRunner("models", self)
        self._list_runner = TaskRunner("model-list", self)
        self._runner.finished.connect(self._on_loaded)
        self._list_runner.finished.connect(self._on_listed)
        self.importer = ModelImporter(self)
        self.importer.imported.connect(self._on_model_added)
        self.importer.failed.connect(lambda text: self.failed.emit("Model not imported", text))
        panel.model_changed.connect(self._preload)

    def runners(self) -> list[TaskRunner]:
        runners = [self._runner, self._list_runner, *self.importer.runners()]
        if self._download_dialog is not None:
            runners.extend(self._download_dialog.runners())
        return runners

    def start(self) -> None:
        """After the window is shown: list the models and load the chosen one (imports torch)."""
        wanted = self._settings.model
        device = self._panel.options().device
        cache = self.cache

        def task(job: Any) -> tuple[list[Any], str, str | None, Any]:
            import kintsugi

            infos = [m for m in kintsugi.list_models() if m.kind == "upscaler"]
            ids = [m.id for m in infos]
            chosen = wanted if wanted in ids else kintsugi.default_model_id()
            job.check()
            warning = None
            try:
                cache.get(chosen, device)
            except kintsugi.KintsugiError as error:
                warning = str(error)
            return infos, chosen, warning, _face_lists()

        self._runner.submit(task, "models")

    @Slot(object)
    def _on_loaded(self, task: Task) -> None:
        if task.tag == "preload":
            if task.status == "failed":
                self.status.emit(f"Could not load the model: {task.error}", 8000)
            elif task.ok:
                self.status.emit("Model ready", 3000)
            return
        if task.status == "failed":
            self.failed.emit("Models unavailable", task.error)
        if not task.ok:
            return
        infos, chosen, warning, (faces, caps) = task.result
        self.infos, self.face_infos, self.loaded = infos, faces, True
        self._panel.set_models(infos, chosen)
        self._panel.restore.set_models(faces, infos, caps=caps)
        if warning:
            self.status.emit(f"Could not load {chosen}: {warning}", 10000)
        else:
            self.status.emit(f"Ready · {chosen} loaded", 4000)
        self.ready.emit()

    @Slot(str)
    def _preload(self, model_id: str) -> None:
        """Load a newly chosen model in the background so Upscale starts at once."""
        if not self.loaded:
            return
        device = self._panel.options().device
        self._runner.submit(lambda job: self.cache.get(model_id, device), "preload")

    # ------------------------------------------------------------------ adding models
    @Slot()
    def import_dialog(self) -> None:
        self.importer.ask_and_import(self._parent, self._settings.last_open_dir or str(Path.home()))

    def import_file(self, path: str | Path) -> None:
        """Import on a worker; the model lists are read again when it is in."""
        self.status.emit(f"Importing {Path(path).name}…", 0)
        self.importer.import_file(path)

    @Slot()
    def open_download_dialog(self, library_path: Path | None = None) -> DownloadDialog:
        from kintsugi.gui.model_manager import DownloadDialog

        if self._download_dialog is None:
            path = library_path if isinstance(library_path, Path) else None
            self._download_dialog = DownloadDialog(path, self._parent)
            self._download_dialog.downloaded.connect(self._on_model_added)
        self._download_dialog.show()
        self._download_dialog.raise_()
        return self._download_dialog

    def download_dialog(self) -> DownloadDialog | None:
        return self._download_dialog

    @Slot(str)
    def _on_model_added(self, model_id: str) -> None:
        self.status.emit(f"{model_id} is ready", 6000)
        self.refresh(select=model_id)

    def refresh(self, select: str | None = None) -> None:
        """Read the model lists again (on a worker: it may import torch for spandrel)."""

        def task(job: Any) -> tuple[list[Any], Any]:
            import kintsugi

            return kintsugi.list_models(kind="upscaler"), _face_lists()

        self._list_runner.submit(task, select or "")

    @Slot(object)
    def _on_listed(self, task: Task) -> None:
        if task.status == "failed":
            self.failed.emit("Models unavailable", task.error)
        if not task.ok:
            return
        upscalers, (faces, caps) = task.result
        chosen = task.tag
        self.infos, self.face_infos = upscalers, faces
        panel = self._panel
        panel.set_models(upscalers, panel.selected_model() or "")
        face_ids = {m.id for m in faces}
        panel.restore.set_models(faces, upscalers, chosen if chosen in face_ids else "", caps=caps)
        if chosen in {m.id for m in upscalers}:
            panel.select_model(chosen)
        elif chosen in face_ids:
            panel.set_mode("restore")
        self.changed.emit()
