"""Kintsugi's main window: open a photo, upscale it, compare, save.

All engine work runs on worker threads (see ``worker.py``); this module only turns the
results into Qt images and widgets state on the GUI thread. The engine itself is imported
lazily, inside the tasks, so the window appears before torch is loaded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QByteArray, Qt, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QWidget,
)

from kintsugi.gui.canvas import CompareCanvas, ViewMode
from kintsugi.gui.history import ResultEntry, ResultHistory
from kintsugi.gui.icons import app_icon, icon, tinted
from kintsugi.gui.imaging import (
    deviation_full_scale,
    display_array,
    heat_rgba,
    qimage_to_array,
    to_qimage,
)
from kintsugi.gui.model_manager import ModelImporter
from kintsugi.gui.models import ModelCache
from kintsugi.gui.panel import LOSSY, ExportOptions, SidePanel, UpscaleOptions
from kintsugi.gui.restore_panel import PhotoCache, RestoreOptions, run_restore
from kintsugi.gui.settings import Settings, add_recent, load_settings, save_settings
from kintsugi.gui.worker import Task, TaskRunner

if TYPE_CHECKING:  # imported when first opened: the window must not wait for it
    from kintsugi.gui.batch_dialog import BatchDialog
    from kintsugi.gui.model_manager import DownloadDialog

log = logging.getLogger(__name__)

OPEN_FILTER = (
    "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp *.gif);;All files (*)"
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

STYLE_SHEET = """
QLabel[role="hint"] { color: palette(placeholder-text); }
QPushButton#primary {
    background-color: #d4a23c; color: #1b1b1b; font-weight: 600;
    border: 1px solid #a8791f; border-radius: 5px; padding: 6px 14px;
}
QPushButton#primary:hover { background-color: #e2b552; }
QPushButton#primary:pressed { background-color: #b8862a; }
QPushButton#primary:disabled {
    background-color: palette(button); color: palette(placeholder-text);
    border: 1px solid palette(mid);
}
QGroupBox { font-weight: 600; }
QGroupBox QLabel, QGroupBox QCheckBox, QGroupBox QComboBox { font-weight: normal; }
"""


@dataclass
class _UpscaleOutput:
    """What the upscale task hands back: engine objects and plain arrays, no Qt."""

    image: Any
    display: np.ndarray
    heat: np.ndarray
    full_scale: float
    model: Any
    scale: int
    seconds: float


@dataclass
class RestoreEntry(ResultEntry):
    """A face restore in the history: saved with its own provenance and file name."""

    provenance: dict[str, str]
    options: RestoreOptions
    preview: bool  # a live-preview result: the next preview replaces it instead of piling up


class MainWindow(QMainWindow):
    """The one document window."""

    image_loaded = Signal(str)  # the path, or "" for a pasted image
    models_ready = Signal()
    result_ready = Signal()
    upscale_finished = Signal(str)  # "ok" | "failed" | "cancelled"
    saved = Signal(str)
    error_shown = Signal(str)
    restore_finished = Signal(str)  # "ok" | "failed" | "cancelled"
    models_changed = Signal()  # the model lists were read again (after an import/download)

    def __init__(
        self,
        settings: Settings | None = None,
        settings_path: Path | None = None,
        dark: bool = True,
        models: ModelCache | None = None,
    ) -> None:
        super().__init__()
        self._settings_path = settings_path
        self._settings = settings if settings is not None else load_settings(settings_path)
        self._dark = dark
        self._source: Any = None  # kintsugi Image of the original
        self._source_path: Path | None = None
        self._source_token = 0  # bumps on every open, so late results of old photos are dropped
        self._history = ResultHistory()
        self._models = models if models is not None else ModelCache()
        self._model_infos: list[Any] = []
        self._models_loaded = False
        self._last_error = ""
        self._message_box: QMessageBox | None = None
        self._batch_dialog: BatchDialog | None = None
        self._icon_actions: list[tuple[QAction, str]] = []
        self._face_infos: list[Any] = []
        self._photo_cache = PhotoCache()  # faces and background of the open photo
        self._download_dialog: DownloadDialog | None = None

        self._open_runner = TaskRunner("open", self)
        self._upscale_runner = TaskRunner("upscale", self)
        self._save_runner = TaskRunner("save", self)
        self._model_runner = TaskRunner("models", self)
        self._open_runner.finished.connect(self._on_open_finished)
        self._upscale_runner.finished.connect(self._on_upscale_finished)
        self._upscale_runner.progress.connect(self._on_upscale_progress)
        self._upscale_runner.busy_changed.connect(self._on_upscale_busy)
        self._save_runner.finished.connect(self._on_save_finished)
        self._model_runner.finished.connect(self._on_models_finished)
        self._restore_runner = TaskRunner("restore", self)
        self._restore_runner.finished.connect(self._on_restore_finished)
        self._restore_runner.progress.connect(self._on_restore_progress)
        self._restore_runner.busy_changed.connect(self._on_restore_busy)
        self._list_runner = TaskRunner("model-list", self)
        self._list_runner.finished.connect(self._on_models_listed)
        self._importer = ModelImporter(self)
        self._importer.imported.connect(self._on_model_added)
        self._importer.failed.connect(lambda text: self._show_error("Model not imported", text))

        self.setWindowTitle("Kintsugi")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setStyleSheet(STYLE_SHEET)
        self._build_ui()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._apply_settings()
        self._update_actions()

    # ------------------------------------------------------------------ building
    def _build_ui(self) -> None:
        self.canvas = CompareCanvas()
        self.canvas.set_dark(self._dark)
        self.panel = SidePanel()
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.panel.minimumWidth() + 12)
        scroll.setMaximumWidth(self.panel.maximumWidth() + 12)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.canvas)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)
        self.setCentralWidget(splitter)

        self.panel.upscale_requested.connect(self.start_upscale)
        self.panel.cancel_requested.connect(self.cancel_upscale)
        self.panel.save_requested.connect(self.save)
        self.panel.save_as_requested.connect(self.save_as)
        self.panel.model_changed.connect(self._on_model_changed)
        self.panel.deviation_check.toggled.connect(self._set_deviation_visible)
        self.panel.mode_changed.connect(lambda _mode: self._update_actions())
        restore = self.panel.restore
        restore.restore_requested.connect(self.start_restore)
        restore.preview_requested.connect(self.preview_restore)
        restore.cancel_requested.connect(self.cancel_restore)
        restore.import_requested.connect(self.import_model_dialog)
        restore.download_requested.connect(self.open_download_dialog)
        restore.model_combo.currentIndexChanged.connect(lambda _i: self._update_actions())
        self.panel.split_slider.valueChanged.connect(
            lambda value: self.canvas.set_split(value / 1000.0)
        )
        self.canvas.split_changed.connect(self._on_split_changed)
        self.canvas.zoom_changed.connect(self._on_zoom_changed)
        self.canvas.mode_changed.connect(self._on_mode_changed)

        self._image_label = QLabel("")
        self._zoom_label = QLabel("")
        self.statusBar().addPermanentWidget(self._image_label)
        self.statusBar().addPermanentWidget(self._zoom_label)
        self.statusBar().showMessage("Loading models in the background…")

    def _action(
        self,
        text: str,
        slot: Any,
        shortcuts: list[str] | QKeySequence.StandardKey | None = None,
        icon_name: str | None = None,
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcuts, QKeySequence.StandardKey):
            action.setShortcuts(shortcuts)
        elif shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if icon_name:
            action.setIcon(icon(icon_name))
            self._icon_actions.append((action, icon_name))
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText)
                         for s in action.shortcuts())
        tooltip = tip or text.replace("&", "").rstrip("…")
        action.setToolTip(f"{tooltip} ({keys})" if keys else tooltip)
        action.setStatusTip(tooltip)
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when the toolbar is hidden
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.act_open = a("&Open…", self.open_dialog, ["Ctrl+O"], "open", "Open a photo")
        self.act_paste = a("&Paste image", self.paste, ["Ctrl+V"], "paste",
                           "Open the image on the clipboard")
        self.act_save = a("&Save", self.save, ["Ctrl+S"], "save",
                          "Save the result next to the original as <name>_x<scale>")
        self.act_save_as = a("Save &As…", self.save_as, ["Ctrl+Shift+S"], "save-as",
                             "Save the result where you choose")
        self.act_batch = a("&Batch export…", self.open_batch, ["Ctrl+B"], "batch",
                           "Upscale every photo of a folder")
        self.act_quit = a("&Quit", self.close, ["Ctrl+Q"], None, "Close Kintsugi")
        self.act_undo = a("&Undo", self.undo, ["Ctrl+Z"], "undo",
                          "Go back to the previous result")
        self.act_redo = a("&Redo", self.redo, ["Ctrl+Y", "Ctrl+Shift+Z"], "redo",
                          "Go forward to the next result")
        self.act_fit = a("&Fit to window", self.canvas.fit, ["F"], "fit",
                         "Zoom so the whole photo is visible")
        self.act_actual = a("&Actual size (100%)", self.canvas.actual_size, ["1"], "zoom-100",
                            "One result pixel per screen pixel")
        self.act_toggle = a("&Toggle original / result", self.toggle_before_after, ["Space"],
                            None, "Show the whole original, then the whole result")
        self.act_upscale = a("&Upscale", self.start_upscale, ["Ctrl+Return", "Ctrl+Enter"],
                             "upscale", "Upscale the photo with the chosen method")
        self.act_cancel = a("&Cancel", self.cancel_upscale, ["Esc"], "cancel",
                            "Stop the running upscale or restore")
        self.act_restore = a("&Restore faces", self.start_restore, ["Ctrl+R"], "upscale",
                             "Restore the faces with the chosen face model")
        self.act_import = a("&Import model file…", self.import_model_dialog, None, None,
                            "Add a .safetensors or .pth model file you have")
        self.act_download = a("&Download official model…", self.open_download_dialog, None,
                              None, "Download a face model from its authors")
        self.act_deviation = a("&Deviation map", self._set_deviation_visible, ["D"],
                               "deviation", "Colour where detail was invented", checkable=True)
        self.act_about = a("&About Kintsugi", self.show_about, None, "about",
                           "Version, models and their licences")
        modes = QActionGroup(self)
        self.mode_actions: dict[ViewMode, QAction] = {}
        for mode, text, icon_name, tip, key in (
            (ViewMode.SPLIT, "&Split compare", "split",
             "Original left of the divider, result right of it", "S"),
            (ViewMode.SIDE_BY_SIDE, "Side &by side", "side-by-side",
             "Original and result next to each other, zoomed and panned together", "B"),
            (ViewMode.BEFORE, "&Original only", None, "Show only the original", None),
            (ViewMode.AFTER, "&Result only", None, "Show only the result", None),
        ):
            act = a(text, lambda _checked=False, m=mode: self.set_view_mode(m),
                    [key] if key else None, icon_name, tip)
            act.setCheckable(True)
            modes.addAction(act)
            self.mode_actions[mode] = act
        for low in (self.act_undo, self.act_redo, self.act_fit, self.act_actual,
                    self.act_save_as, self.act_paste, self.act_about):
            low.setPriority(QAction.Priority.LowPriority)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.act_open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addAction(self.act_paste)
        file_menu.addSeparator()
        file_menu.addAction(self.act_save)
        file_menu.addAction(self.act_save_as)
        file_menu.addSeparator()
        file_menu.addAction(self.act_batch)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        edit = bar.addMenu("&Edit")
        edit.addAction(self.act_undo)
        edit.addAction(self.act_redo)
        edit.addSeparator()
        edit.addAction(self.act_paste)
        view = bar.addMenu("&View")
        view.addAction(self.act_fit)
        view.addAction(self.act_actual)
        view.addSeparator()
        for act in self.mode_actions.values():
            view.addAction(act)
        view.addAction(self.act_toggle)
        view.addSeparator()
        view.addAction(self.act_deviation)
        process = bar.addMenu("&Process")
        process.addAction(self.act_upscale)
        process.addAction(self.act_restore)
        process.addAction(self.act_cancel)
        models_menu = bar.addMenu("&Models")
        models_menu.addAction(self.act_import)
        models_menu.addAction(self.act_download)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_about)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("main-toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for item in (self.act_open, self.act_paste, self.act_save, self.act_save_as, None,
                     self.act_undo, self.act_redo, None, self.act_fit, self.act_actual, None,
                     self.mode_actions[ViewMode.SPLIT], self.mode_actions[ViewMode.SIDE_BY_SIDE],
                     self.act_deviation, None, self.act_upscale, self.act_batch):
            if item is None:
                bar.addSeparator()
            else:
                bar.addAction(item)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        bar.addAction(self.act_about)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    # ------------------------------------------------------------------ settings
    def _apply_settings(self) -> None:
        s = self._settings
        if s.geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.geometry.encode()))
        else:
            self.resize(1280, 820)
        self.panel.apply_options(s.scale, s.consistency, s.tile, s.device)
        self.panel.apply_export(s.save_format, s.quality, s.bit_depth)
        self.panel.split_slider.setValue(round(s.split * 1000))
        self.canvas.set_split(s.split)
        try:
            mode = ViewMode(s.view_mode)
        except ValueError:
            mode = ViewMode.SPLIT
        self.set_view_mode(mode)
        self.act_deviation.setChecked(s.show_deviation)

    def _collect_settings(self) -> Settings:
        s = self._settings
        s.geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        opts = self.panel.options()
        if opts.model_id:
            s.model = opts.model_id
        s.scale = opts.scale or 0
        s.consistency = opts.consistency
        s.tile = opts.tile if isinstance(opts.tile, int) else 0
        s.device = opts.device
        export = self.panel.export_options()
        s.save_format = export.format.lower()
        s.quality = self.panel.quality_spin.value()
        s.bit_depth = self.panel.depth_combo.currentData() or 0
        s.view_mode = self.canvas.mode().value
        s.split = self.canvas.split()
        s.show_deviation = self.act_deviation.isChecked()
        return s

    def save_settings(self) -> None:
        save_settings(self._collect_settings(), self._settings_path)

    @property
    def settings(self) -> Settings:
        return self._settings

    # ------------------------------------------------------------------ startup
    def start_background(self) -> None:
        """After the window is shown: list the models and load the chosen one (imports torch)."""
        wanted = self._settings.model
        device = self.panel.options().device

        def task(job: Any) -> tuple[list[Any], str, str | None, list[Any], str]:
            import kintsugi

            infos = [m for m in kintsugi.list_models() if m.kind == "upscaler"]
            faces = kintsugi.list_models(kind="face-restorer")
            ids = [m.id for m in infos]
            chosen = wanted if wanted in ids else kintsugi.default_model_id()
            job.check()
            warning = None
            try:
                self._models.get(chosen, device)
            except kintsugi.KintsugiError as error:
                warning = str(error)
            return infos, chosen, warning, faces, kintsugi.default_model_id()

        self._model_runner.submit(task, "models")

    @Slot(object)
    def _on_models_finished(self, task: Task) -> None:
        if task.tag == "preload":
            if task.status == "failed":
                self.statusBar().showMessage(f"Could not load the model: {task.error}", 8000)
            elif task.ok:
                self.statusBar().showMessage("Model ready", 3000)
            return
        if not task.ok:
            if task.status == "failed":
                self._show_error("Models unavailable", task.error)
            return
        infos, chosen, warning, faces, default_id = task.result
        self._model_infos = infos
        self._face_infos = faces
        self._models_loaded = True
        self.panel.set_models(infos, chosen)
        self.panel.restore.set_models(faces, infos)
        self.panel.restore.select_background(default_id)
        if warning:
            self.statusBar().showMessage(f"Could not load {chosen}: {warning}", 10000)
        else:
            self.statusBar().showMessage(f"Ready · {chosen} loaded", 4000)
        self._update_actions()
        self.models_ready.emit()

    @Slot(str)
    def _on_model_changed(self, model_id: str) -> None:
        """Load a newly chosen model in the background so Upscale starts at once."""
        if not self._models_loaded:
            return
        device = self.panel.options().device
        self._model_runner.submit(lambda job: self._models.get(model_id, device), "preload")

    def model_infos(self) -> list[Any]:
        return list(self._model_infos)

    def face_model_infos(self) -> list[Any]:
        return list(self._face_infos)

    # ------------------------------------------------------------------ model manager
    @Slot()
    def import_model_dialog(self) -> None:
        self._importer.ask_and_import(self, self._settings.last_open_dir or str(Path.home()))

    def import_model_file(self, path: str | Path) -> None:
        """Import on a worker; the model lists are read again when it is in."""
        self.statusBar().showMessage(f"Importing {Path(path).name}…")
        self._importer.import_file(path)

    def importer(self) -> ModelImporter:
        return self._importer

    @Slot()
    def open_download_dialog(self, library_path: Path | None = None) -> DownloadDialog:
        from kintsugi.gui.model_manager import DownloadDialog

        if self._download_dialog is None:
            path = library_path if isinstance(library_path, Path) else None
            self._download_dialog = DownloadDialog(path, self)
            self._download_dialog.downloaded.connect(self._on_model_added)
        self._download_dialog.show()
        self._download_dialog.raise_()
        return self._download_dialog

    def download_dialog(self) -> DownloadDialog | None:
        return self._download_dialog

    @Slot(str)
    def _on_model_added(self, model_id: str) -> None:
        self.statusBar().showMessage(f"{model_id} is ready", 6000)
        self.refresh_models(select=model_id)

    def refresh_models(self, select: str | None = None) -> None:
        """Read the model lists again (on a worker: it may import torch for spandrel)."""

        def task(job: Any) -> tuple[list[Any], list[Any]]:
            import kintsugi

            return kintsugi.list_models(kind="upscaler"), kintsugi.list_models(kind="face-restorer")

        self._list_runner.submit(task, select or "")

    @Slot(object)
    def _on_models_listed(self, task: Task) -> None:
        if task.status == "failed":
            self._show_error("Models unavailable", task.error)
            return
        if not task.ok:
            return
        upscalers, faces = task.result
        chosen = task.tag
        self._model_infos = upscalers
        self._face_infos = faces
        self.panel.set_models(upscalers, self.panel.selected_model() or "")
        face_ids = {m.id for m in faces}
        self.panel.restore.set_models(faces, upscalers, chosen if chosen in face_ids else "")
        if chosen in {m.id for m in upscalers}:
            self.panel.select_model(chosen)
        elif chosen in face_ids:
            self.panel.set_mode("restore")
        self._update_actions()
        self.models_changed.emit()

    # ------------------------------------------------------------------ opening
    @Slot()
    def open_dialog(self) -> None:
        start = self._settings.last_open_dir or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Read the photo on a worker thread; ``image_loaded`` fires when it is shown."""
        path = Path(path)

        def task(job: Any) -> tuple[Any, np.ndarray]:
            import kintsugi

            image = kintsugi.open_image(path)
            job.check()
            return image, display_array(image.pixels, image.alpha)

        self.statusBar().showMessage(f"Opening {path.name}…")
        self._open_runner.submit(task, str(path))

    @Slot(object)
    def _on_open_finished(self, task: Task) -> None:
        if task.status == "failed":
            self.statusBar().clearMessage()
            self._show_error("Cannot open the photo", task.error)
            return
        if not task.ok:
            return
        image, display = task.result
        path = Path(task.tag)
        self._set_source(image, display, path)
        add_recent(self._settings, str(path))
        self._settings.last_open_dir = str(path.parent)
        self.statusBar().showMessage(f"Opened {path.name}", 4000)
        self.image_loaded.emit(str(path))

    def _set_source(self, image: Any, display: np.ndarray, path: Path | None) -> None:
        self._upscale_runner.cancel()  # a result for the previous photo is no longer wanted
        self._restore_runner.cancel()
        self._source_token += 1
        self._photo_cache = PhotoCache()
        self.panel.restore.faces_found.setText("")
        self._source = image
        self._source_path = path
        self._history.clear()
        self.canvas.set_before(to_qimage(display))
        name = path.name if path else "Pasted image"
        self.setWindowTitle(f"{name} — Kintsugi")
        depth = f"{image.bit_depth}-bit"
        channels = "gray" if image.is_gray else "RGB"
        alpha = " + alpha" if image.alpha is not None else ""
        self._image_label.setText(f"{image.width}×{image.height} · {channels}{alpha} · {depth}")
        self.panel.result_info.setText("")
        self.panel.legend_scale.setText("")
        self._update_actions()

    @Slot()
    def paste(self) -> None:
        """Ctrl+V: an image on the clipboard, or a copied image file."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return
        files = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
        if files:
            self.open_path(files[0])
            return
        if not mime.hasImage():
            self.statusBar().showMessage("The clipboard holds no image", 4000)
            return
        self.open_qimage(QGuiApplication.clipboard().image())

    def open_qimage(self, qimage: Any) -> None:
        import kintsugi

        if qimage.isNull():
            self._show_error("Cannot paste", "The clipboard image could not be read.")
            return
        rgb, alpha = qimage_to_array(qimage)
        array = rgb if alpha is None else np.dstack([rgb, alpha])
        image = kintsugi.Image.from_array(array)
        self._set_source(image, display_array(image.pixels, image.alpha), None)
        self.statusBar().showMessage("Pasted image", 4000)
        self.image_loaded.emit("")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if any(url.isLocalFile() for url in mime.urls()) or mime.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        files = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
        if files:
            folders = [f for f in files if Path(f).is_dir()]
            if folders:
                self.open_batch(folders[0])
            else:
                self.open_path(files[0])
                if len(files) > 1:
                    self.statusBar().showMessage(
                        "Opened the first file; use Batch export for several photos", 6000
                    )
            event.acceptProposedAction()
        elif mime.hasImage():
            self.open_qimage(mime.imageData())
            event.acceptProposedAction()

    @Slot()
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self._settings.recent_files:
            act = self.recent_menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.setStatusTip(path)
            act.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if not self._settings.recent_files:
            empty = self.recent_menu.addAction("No recent photos")
            empty.setEnabled(False)
            return
        self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("Clear list")
        clear.triggered.connect(self._clear_recent)

    @Slot()
    def _clear_recent(self) -> None:
        self._settings.recent_files = []

    # ------------------------------------------------------------------ upscaling
    def upscale_options(self) -> UpscaleOptions:
        return self.panel.options()

    @Slot()
    def start_upscale(self) -> None:
        if self._source is None or not self._models_loaded:
            return
        opts = self.panel.options()
        if not opts.model_id:
            return
        source, cache = self._source, self._models

        def task(job: Any) -> _UpscaleOutput:
            import kintsugi

            job.set_progress(0.0, "Loading the model…")
            model = cache.get(opts.model_id, opts.device)
            job.check()
            started = time.monotonic()
            out = kintsugi.upscale(source, model, scale=opts.scale,
                                   consistency=opts.consistency, tile=opts.tile,
                                   job=job.sub(0.0, 0.95))
            job.set_progress(0.96, "Measuring invented detail…")
            deviation = kintsugi.deviation_map(source, out)
            full = deviation_full_scale(deviation)
            heat = heat_rgba(deviation, full)
            display = display_array(out.pixels, out.alpha)
            return _UpscaleOutput(out, display, heat, full, model, out.width // source.width,
                                  time.monotonic() - started)

        submitted = self._upscale_runner.submit(task, "upscale")
        submitted.context.update(token=self._source_token, options=opts)
        self.panel.set_progress(0.0, "Starting…")

    @Slot()
    def cancel_upscale(self) -> None:
        self.cancel_restore()
        if self._upscale_runner.is_busy():
            self._upscale_runner.cancel()
            self.panel.set_progress(self.panel.progress.value() / 1000.0, "Cancelling…")

    def is_busy(self) -> bool:
        return self._upscale_runner.is_busy()

    @Slot(bool)
    def _on_upscale_busy(self, busy: bool) -> None:
        self.panel.set_busy(busy)
        self._update_actions()

    @Slot(float, str)
    def _on_upscale_progress(self, fraction: float, message: str) -> None:
        text = message or "Upscaling…"
        task = self._upscale_runner.current_task()
        eta = task.job.eta_seconds() if task is not None and fraction > 0.05 else None
        if eta is not None and eta >= 1.0:
            text += f"  ·  about {_duration(eta)} left"
        self.panel.set_progress(fraction, f"{round(fraction * 100)}% · {text}")

    @Slot(object)
    def _on_upscale_finished(self, task: Task) -> None:
        status = task.status
        if task.context.get("token") != self._source_token:
            status = "cancelled"  # the photo changed meanwhile
        elif task.ok:
            self._accept_result(task.result, task.context["options"])
            self.panel.progress_label.setText(f"Done in {_duration(task.seconds)}")
        elif status == "failed":
            self.panel.progress_label.setText("Failed")
            self._show_error("Upscale failed", task.error)
        if status == "cancelled" and not self._upscale_runner.is_busy():
            self.panel.progress_label.setText("Cancelled; nothing was changed")
            self.statusBar().showMessage("Upscale cancelled", 4000)
        self.upscale_finished.emit(status)

    def _accept_result(self, out: _UpscaleOutput, opts: UpscaleOptions) -> None:
        entry = ResultEntry(
            image=out.image,
            display=to_qimage(out.display),
            heat=to_qimage(out.heat),
            model=out.model,
            model_id=opts.model_id,
            scale=out.scale,
            consistency=opts.consistency,
            tile=opts.tile if isinstance(opts.tile, int) else 0,
            device=opts.device,
            full_scale=out.full_scale,
            seconds=out.seconds,
        )
        self._history.push(entry)
        self._show_entry(entry)
        self.result_ready.emit()

    # ------------------------------------------------------------------ restoring faces
    def restore_options(self) -> RestoreOptions:
        return self.panel.restore.options(self.panel.options().device)

    @Slot()
    def start_restore(self) -> None:
        """The Restore button: kintsugi.restore itself, on the worker; a new history step."""
        self._submit_restore(preview=False)

    @Slot()
    def preview_restore(self) -> None:
        """A settled bias / seed change: re-run with the photo's cached faces and background.

        Through the same runner, so a newer preview cancels the running one and replaces the
        pending one: dragging the slider never builds a backlog."""
        self._submit_restore(preview=True)

    def _submit_restore(self, preview: bool) -> None:
        if self._source is None or not self._models_loaded:
            return
        if not self.panel.restore.selected_model():
            return
        try:
            opts = self.restore_options()
        except ValueError as error:
            if preview:
                self.panel.restore.progress_label.setText(str(error))
            else:
                self._show_error("Which faces?", str(error))
            return
        source, cache, models = self._source, self._photo_cache, self._models

        def task(job: Any) -> tuple[Any, ...]:
            import kintsugi

            started = time.monotonic()
            out, model, scale, found = run_restore(source, opts, models, cache, preview, job)
            job.set_progress(0.97, "Measuring invented detail…")
            deviation = kintsugi.deviation_map(source, out)
            full = deviation_full_scale(deviation)
            provenance = kintsugi.restore_provenance(
                model, scale, opts.consistency, bias=opts.bias, bias_blocks=opts.blocks or None,
                faces=opts.faces, background=opts.background, seed=opts.seed)
            output = _UpscaleOutput(out, display_array(out.pixels, out.alpha),
                                    heat_rgba(deviation, full), full, model, scale,
                                    time.monotonic() - started)
            return output, provenance, found

        submitted = self._restore_runner.submit(task, "preview" if preview else "restore")
        submitted.context.update(token=self._source_token, options=opts, preview=preview)
        self.panel.restore.set_progress(0.0, "Previewing…" if preview else "Starting…")

    @Slot()
    def cancel_restore(self) -> None:
        if self._restore_runner.is_busy():
            self._restore_runner.cancel()
            self.panel.restore.progress_label.setText("Cancelling…")

    def restore_runner(self) -> TaskRunner:
        return self._restore_runner

    def photo_cache(self) -> PhotoCache:
        return self._photo_cache

    @Slot(bool)
    def _on_restore_busy(self, busy: bool) -> None:
        self.panel.restore.set_busy(busy)
        self._update_actions()

    @Slot(float, str)
    def _on_restore_progress(self, fraction: float, message: str) -> None:
        self.panel.restore.set_progress(fraction, f"{round(fraction * 100)}% · {message}")

    @Slot(object)
    def _on_restore_finished(self, task: Task) -> None:
        status = task.status
        section = self.panel.restore
        if task.context.get("token") != self._source_token:
            status = "cancelled"
        elif task.ok:
            output, provenance, found = task.result
            self._accept_restore(output, provenance, task.context["options"],
                                 task.context["preview"])
            section.set_faces_found(found)
            section.progress_label.setText(
                f"{'Preview' if task.context['preview'] else 'Done'} in {_duration(task.seconds)}")
        elif status == "failed":
            section.progress_label.setText("Failed")
            self._show_error("Restore failed", task.error)
        if status == "cancelled" and not self._restore_runner.is_busy():
            section.progress_label.setText("Cancelled; nothing was changed")
        self.restore_finished.emit(status)

    def _accept_restore(self, out: _UpscaleOutput, provenance: dict[str, str],
                        opts: RestoreOptions, preview: bool) -> None:
        entry = RestoreEntry(
            image=out.image, display=to_qimage(out.display), heat=to_qimage(out.heat),
            model=out.model, model_id=opts.model_id, scale=out.scale,
            consistency=opts.consistency, tile=0, device=opts.device,
            full_scale=out.full_scale, seconds=out.seconds,
            provenance=provenance, options=opts, preview=preview,
        )
        current = self._history.current()
        if preview and isinstance(current, RestoreEntry) and current.preview:
            self._history.undo()  # the new preview takes the old one's place in the history
        self._history.push(entry)
        self._show_entry(entry)
        self.result_ready.emit()

    def _show_entry(self, entry: ResultEntry | None) -> None:
        if entry is None:
            self.canvas.set_after(None)
            self.panel.result_info.setText("")
            self.panel.legend_scale.setText("")
        else:
            self.canvas.set_after(entry.display, entry.heat)
            lock = " · consistency lock" if entry.consistency else ""
            what = entry.model_id + lock
            if isinstance(entry, RestoreEntry):
                what = "faces restored: " + entry.options.describe()
            text = (f"Result: {entry.image.width}×{entry.image.height} · ×{entry.scale} · "
                    f"{what} · {_duration(entry.seconds)}")
            self.panel.result_info.setText(text)
            self.panel.restore.progress_label.setToolTip(text)
            self.panel.legend_scale.setText(
                f"Yellow = {entry.full_scale * 255:.0f}/255 or more away from the original"
            )
        self._update_actions()

    def current_result(self) -> ResultEntry | None:
        return self._history.current()

    @Slot()
    def undo(self) -> None:
        if self._history.can_undo():
            self._show_entry(self._history.undo())

    @Slot()
    def redo(self) -> None:
        if self._history.can_redo():
            self._show_entry(self._history.redo())

    # ------------------------------------------------------------------ view
    def set_view_mode(self, mode: ViewMode) -> None:
        self.canvas.set_mode(mode)
        self.mode_actions[mode].setChecked(True)

    @Slot()
    def toggle_before_after(self) -> None:
        self.canvas.toggle_before_after()

    @Slot(str)
    def _on_mode_changed(self, value: str) -> None:
        self.mode_actions[ViewMode(value)].setChecked(True)

    @Slot(bool)
    def _set_deviation_visible(self, visible: bool) -> None:
        for widget in (self.act_deviation, self.panel.deviation_check):
            if widget.isChecked() != visible:
                widget.blockSignals(True)
                widget.setChecked(visible)
                widget.blockSignals(False)
        self.canvas.set_overlay_visible(visible)

    @Slot(float)
    def _on_split_changed(self, fraction: float) -> None:
        slider = self.panel.split_slider
        slider.blockSignals(True)
        slider.setValue(round(fraction * 1000))
        slider.blockSignals(False)

    @Slot(float)
    def _on_zoom_changed(self, zoom: float) -> None:
        self._zoom_label.setText(f"{zoom * 100:.0f}%")

    # ------------------------------------------------------------------ saving
    def default_save_path(self, export: ExportOptions | None = None) -> Path:
        """<stem>_x<scale>.<ext> next to the original (or in the last save folder if pasted)."""
        export = export or self.panel.export_options()
        entry = self._history.current()
        scale = entry.scale if entry else 1
        if self._source_path is not None:
            folder, stem = self._source_path.parent, self._source_path.stem
        else:
            folder = Path(self._settings.last_save_dir or Path.home())
            stem = "pasted"
        kind = "_restored" if isinstance(entry, RestoreEntry) else ""
        return folder / f"{stem}{kind}_x{scale}.{export.extension}"

    @Slot()
    def save(self) -> None:
        if self._history.current() is None:
            return
        path = self.default_save_path()
        if path.exists() and not self._confirm(
            "Replace file?", f"{path.name} already exists in {path.parent}.\nReplace it?"
        ):
            return
        self.save_to(path)

    @Slot()
    def save_as(self) -> None:
        if self._history.current() is None:
            return
        export = self.panel.export_options()
        path = self._ask_save_path(self.default_save_path(export), export)
        if path is not None:
            self.save_to(path)

    def _ask_save_path(self, default: Path, export: ExportOptions) -> Path | None:
        filters = [SAVE_FILTERS[export.extension]] + [
            f for ext, f in SAVE_FILTERS.items() if ext != export.extension
        ]
        # The file dialog itself asks before replacing an existing file.
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Save the result as", str(default), ";;".join(filters)
        )
        if not chosen:
            return None
        path = Path(chosen)
        if path.suffix.lower() not in EXTENSION_FORMATS:
            path = path.with_name(f"{path.name}.{export.extension}")
        return path

    def save_to(self, path: str | Path) -> None:
        """Write the current result on a worker thread; ``saved`` fires when done."""
        entry = self._history.current()
        if entry is None:
            return
        path = Path(path)
        if self._source_path is not None and _same_file(path, self._source_path):
            self._show_error("Not saved", f"{path.name} is the original photo; "
                             "Kintsugi never overwrites it. Choose another name.")
            return
        # The file's extension decides the format (Save As may pick another one than the
        # panel's); quality applies to lossy formats, bit depth to lossless ones.
        fmt = EXTENSION_FORMATS.get(path.suffix.lower(), self.panel.export_options().format)
        lossy = fmt in LOSSY
        quality = self.panel.quality_spin.value() if lossy else None
        depth = None if lossy else self.panel.depth_combo.currentData()

        def task(job: Any) -> Path:
            import kintsugi

            if isinstance(entry, RestoreEntry):
                provenance = entry.provenance
            else:
                provenance = kintsugi.provenance_for(entry.model, entry.scale, entry.consistency)
            return kintsugi.save_image(entry.image, path, format=fmt, bit_depth=depth,
                                       quality=quality, provenance=provenance)

        self.statusBar().showMessage(f"Saving {path.name}…")
        self._save_runner.submit(task, str(path))

    @Slot(object)
    def _on_save_finished(self, task: Task) -> None:
        if task.status == "failed":
            self.statusBar().clearMessage()
            self._show_error("Could not save", task.error)
        elif task.ok:
            path = Path(task.result)
            self._settings.last_save_dir = str(path.parent)
            self.statusBar().showMessage(f"Saved {path}", 6000)
            self.saved.emit(str(path))

    # ------------------------------------------------------------------ dialogs
    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            self, title, text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _show_error(self, title: str, text: str) -> None:
        """A readable, window-modal message; opened without blocking the event loop."""
        self._last_error = text
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                          self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self._message_box = box
        self.error_shown.emit(text)

    def last_error(self) -> str:
        return self._last_error

    @Slot()
    def show_about(self) -> None:
        from kintsugi.gui.about import AboutDialog

        AboutDialog(self._model_infos, self).exec()

    @Slot()
    def open_batch(self, folder: str | None = None) -> None:
        from kintsugi.gui.batch_dialog import BatchDialog

        if self._batch_dialog is None:
            self._batch_dialog = BatchDialog(self._settings, self._model_infos,
                                             self.panel.options(), self)
        dialog = self._batch_dialog
        if self._model_infos:
            dialog.set_models(self._model_infos, self.panel.selected_model() or "")
        if isinstance(folder, str) and folder:
            dialog.set_input(folder)
        dialog.show()
        dialog.raise_()

    def batch_dialog(self) -> BatchDialog | None:
        return self._batch_dialog

    # ------------------------------------------------------------------ state
    def _update_actions(self) -> None:
        has_source = self._source is not None
        has_result = self._history.current() is not None
        busy = self._upscale_runner.is_busy() or self._restore_runner.is_busy()
        ready = has_source and self._models_loaded and self.panel.selected_model() is not None
        self.act_upscale.setEnabled(ready)
        self.panel.upscale_button.setEnabled(ready)
        can_restore = (has_source and self._models_loaded
                       and self.panel.restore.selected_model() is not None)
        self.act_restore.setEnabled(can_restore)
        self.panel.restore.restore_button.setEnabled(can_restore)
        self.act_cancel.setEnabled(busy)
        self.act_save.setEnabled(has_result)
        self.act_save_as.setEnabled(has_result)
        self.panel.set_can_save(has_result)
        self.act_undo.setEnabled(self._history.can_undo())
        self.act_redo.setEnabled(self._history.can_redo())
        for act in (self.act_fit, self.act_actual, self.act_toggle):
            act.setEnabled(has_source)

    def refresh_icons(self) -> None:
        """After a light/dark switch: icons are tinted with the palette's text colour."""
        for action, name in self._icon_actions:
            action.setIcon(icon(name))
        self.panel.upscale_button.setIcon(tinted("upscale", "#1b1b1b"))
        self.panel.restore.restore_button.setIcon(tinted("upscale", "#1b1b1b"))
        self.panel.restore.cancel_button.setIcon(icon("cancel"))
        self.panel.cancel_button.setIcon(icon("cancel"))
        self.panel.save_button.setIcon(icon("save"))
        self.panel.save_as_button.setIcon(icon("save-as"))

    def set_dark(self, dark: bool) -> None:
        """Follow a light/dark switch made while the window is open."""
        self._dark = dark
        self.canvas.set_dark(dark)
        # Style-sheeted widgets keep the palette they were polished with; re-setting the
        # sheet re-polishes them (and the batch dialog, a child) with the new palette.
        self.setStyleSheet("")
        self.setStyleSheet(STYLE_SHEET)
        self.refresh_icons()

    def runners(self) -> list[TaskRunner]:
        runners = [self._open_runner, self._upscale_runner, self._save_runner,
                   self._model_runner, self._restore_runner, self._list_runner,
                   *self._importer.runners()]
        if self._batch_dialog is not None:
            runners.extend(self._batch_dialog.runners())
        if self._download_dialog is not None:
            runners.extend(self._download_dialog.runners())
        return runners

    @property
    def shown_at(self) -> float | None:
        """perf_counter() time of the canvas's first paint: when the user sees the window."""
        return self.canvas.first_painted_at

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Cancel running work and wait for every worker thread before the window goes."""
        if self._batch_dialog is not None:
            self._batch_dialog.stop_and_wait()
            self._batch_dialog.hide()
        for runner in self.runners():
            runner.shutdown()
        self.save_settings()
        super().closeEvent(event)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False

