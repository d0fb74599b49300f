"""Kintsugi's main window: open a photo, upscale / restore / heal it, compare, save.

Every mode is one flow: run a job on the current photo on a worker thread, show the
result, keep it in the undo history. A mode only configures that flow (what its task
computes, which controls show its progress). Slider previews (restore bias, the upscale
alternatives) go through a second runner where the newest request wins.

All engine work runs on worker threads (see ``worker.py``); this module only turns the
results into Qt images and widget state on the GUI thread. The engine itself is imported
lazily, inside the tasks, so the window appears before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QByteArray, QRectF, QSize, Qt, QTimer, Signal, Slot
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
    QVBoxLayout,
    QWidget,
)

from kintsugi import AltSession, Setting, brush_mix, mix_note, pair_for, strip_settings
from kintsugi.gui.canvas import CompareCanvas, ViewMode
from kintsugi.gui.help import add_help_actions
from kintsugi.gui.history import ResultEntry, ResultHistory
from kintsugi.gui.icons import app_icon, icon
from kintsugi.gui.imaging import (
    Pyramid,
    deviation_full_scale,
    display_array,
    heat_rgba,
    qimage_to_array,
    to_qimage,
)
from kintsugi.gui.model_manager import ModelImporter
from kintsugi.gui.models import ModelCache, model_caps
from kintsugi.gui.panel import LOSSY, ExportOptions, SidePanel, UpscaleOptions
from kintsugi.gui.restore_flow import RestoreFlow
from kintsugi.gui.settings import Settings, add_recent, load_settings, save_settings
from kintsugi.gui.widgets import RunControls, WheelGuard, clock
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
THUMB_SIDE = 72
# The partner model first runs on the visible part when that is at most this share of the
# photo: the mix slider works there within seconds, the rest follows.
VIEW_FIRST_SHARE = 0.6
DRAFT_SIDE = 1024  # slider drafts of bigger results are composed at this size
SETTLE_MS = 250  # a slider still this long is composed at full size

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
QGroupBox QLabel, QGroupBox QCheckBox, QGroupBox QComboBox, QGroupBox QPushButton {
    font-weight: normal;
}
"""


@dataclass
class Made:
    """What a mode's task body made: the result and how to describe it (plain values)."""

    image: Any
    model_id: str
    provenance: dict[str, str]
    label: str
    extra: Any = None  # mode-specific (faces found, ...)


@dataclass
class Output:
    """A finished task's result, ready for the GUI thread: engine objects, plain arrays and
    QImages (built on the worker; QImage is not bound to the GUI thread), no pixmaps."""

    made: Made
    pyramid: Pyramid
    heat: Any  # QImage or None (not computed)
    full_scale: float
    scale: int
    seconds: float


@dataclass
class _Mode:
    """One mode's configuration of the run flow."""

    name: str
    controls: RunControls
    finished: Any  # the window's signal: "ok" | "failed" | "cancelled"
    failed_title: str
    verb: str  # "Upscaling", shown while it runs


@dataclass
class _Ticker:
    """Elapsed time and ETA of the running job."""

    started: float = 0.0
    fraction: float = 0.0
    message: str = ""
    mode: str = ""
    history: list[tuple[float, float]] = field(default_factory=list)

class MainWindow(QMainWindow, RestoreFlow):
    """The one document window (its Restore faces flow: ``restore_flow.py``)."""

    image_loaded = Signal(str)  # the path, or "" for a pasted image
    models_ready = Signal()
    result_ready = Signal()
    upscale_finished = Signal(str)  # "ok" | "failed" | "cancelled"
    restore_finished = Signal(str)
    heal_finished = Signal(str)
    saved = Signal(str)
    error_shown = Signal(str)
    models_changed = Signal()  # the model lists were read again (after an import/download)
    composed = Signal()  # an alternative (slider, strip, brush) is on screen, full size
    drafted = Signal()  # a screen-size draft of one is on screen (a slider is moving)
    partner_ready = Signal(bool)  # the mix partner arrived (True: for the whole photo)
    strip_filled = Signal()
    faces_shown = Signal(int)  # face outlines drawn (their number)
    restore_strip_filled = Signal()  # the Faces tab's alternatives strip is complete
    side_outputs_filled = Signal()  # Pro-PULSE's side-output strip is complete

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
        self._face_boxes: list[tuple[float, float, float, float]] = []  # photo coordinates
        self._download_dialog: DownloadDialog | None = None
        self._alt_masks: dict[str, np.ndarray] = {}  # painted mix maps, read once per stroke
        self._strip: list[Setting] = []
        self._ticker = _Ticker()

        self._open_runner = TaskRunner("open", self)
        self._run_runner = TaskRunner("run", self)  # deliberate runs: one at a time
        self._preview_runner = TaskRunner("preview", self)  # slider previews: newest wins
        self._partner_runner = TaskRunner("alternatives", self)  # partner model, strip
        self._faces_runner = TaskRunner("faces", self)
        self._save_runner = TaskRunner("save", self)
        self._model_runner = TaskRunner("models", self)
        self._list_runner = TaskRunner("model-list", self)
        self._open_runner.finished.connect(self._on_open_finished)
        self._run_runner.finished.connect(self._on_run_finished)
        self._run_runner.progress.connect(self._on_run_progress)
        self._run_runner.busy_changed.connect(self._on_run_busy)
        self._preview_runner.finished.connect(self._on_preview_finished)
        self._partner_runner.finished.connect(self._on_partner_finished)
        self._faces_runner.finished.connect(self._on_faces_finished)
        self._save_runner.finished.connect(self._on_save_finished)
        self._model_runner.finished.connect(self._on_models_finished)
        self._list_runner.finished.connect(self._on_models_listed)
        self._importer = ModelImporter(self)
        self._importer.imported.connect(self._on_model_added)
        self._importer.failed.connect(lambda text: self._show_error("Model not imported", text))
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(1000)
        self._tick_timer.timeout.connect(self._show_run_progress)
        self._settle_timer = QTimer(self)  # a slider value this old is composed at full size
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._settle_timer.timeout.connect(self._submit_compose)

        self.setWindowTitle("Kintsugi")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setStyleSheet(STYLE_SHEET)
        self._build_ui()
        self._init_restore_flow()
        self._modes = {
            "upscale": _Mode("upscale", self.panel.run, self.upscale_finished,
                             "Upscale failed", "Upscaling"),
            "restore": _Mode("restore", self.panel.restore.run, self.restore_finished,
                             "Restore failed", "Restoring"),
            "heal": _Mode("heal", self.panel.heal.run, self.heal_finished,
                          "Heal failed", "Healing"),
        }
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._apply_settings()
        self._on_mode_changed_panel(self.panel.mode())
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
        self._wheel_guard = WheelGuard(scroll)
        self._side_scroll = scroll
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        side_layout.addWidget(scroll, 1)
        save_holder = QWidget()
        save_layout = QVBoxLayout(save_holder)
        save_layout.setContentsMargins(10, 4, 10 + 12, 10)
        save_layout.addWidget(self.panel.save_box)
        side_layout.addWidget(save_holder)  # always visible, however tall the page
        side.setMinimumWidth(self.panel.minimumWidth() + 14)
        side.setMaximumWidth(self.panel.maximumWidth() + 14)
        self.side_scroll = scroll
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.canvas)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)
        self.setCentralWidget(splitter)

        panel = self.panel
        panel.upscale_requested.connect(self.start_upscale)
        panel.cancel_requested.connect(self.cancel_run)
        panel.save_requested.connect(self.save)
        panel.save_as_requested.connect(self.save_as)
        panel.model_changed.connect(self._on_model_changed)
        panel.deviation_check.toggled.connect(self._set_deviation_visible)
        panel.mode_changed.connect(self._on_mode_changed_panel)
        restore = panel.restore
        restore.restore_requested.connect(self.start_restore)
        restore.preview_requested.connect(self.preview_restore)
        restore.cancel_requested.connect(self.cancel_run)
        restore.import_requested.connect(self.import_model_dialog)
        restore.download_requested.connect(self.open_download_dialog)
        restore.model_combo.currentIndexChanged.connect(lambda _i: self._update_actions())
        restore.selection_changed.connect(self._show_faces)
        heal = panel.heal
        heal.heal_requested.connect(self.start_heal)
        heal.cancel_requested.connect(self.cancel_run)
        heal.clear_requested.connect(lambda: self.canvas.clear_map("heal"))
        heal.brush.changed.connect(self._sync_tool)
        alt = panel.alternatives
        alt.settings_changed.connect(self.compose_alternative)
        alt.strip_chosen.connect(self.choose_strip)
        alt.tool_changed.connect(lambda _tool: self._sync_tool())
        alt.brush.changed.connect(self._sync_tool)
        alt.clear_requested.connect(self._clear_alt_brush)
        panel.split_slider.valueChanged.connect(
            lambda value: self.canvas.set_split(value / 1000.0)
        )
        self.canvas.split_changed.connect(self._on_split_changed)
        self.canvas.zoom_changed.connect(self._on_zoom_changed)
        self.canvas.mode_changed.connect(self._on_mode_changed)
        self.canvas.stroke_finished.connect(self._on_stroke)
        self.canvas.face_clicked.connect(self._on_face_clicked)

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
                            None, "Show the whole original, then the whole result, then "
                            "the comparison again")
        self.act_upscale = a("&Upscale", self.start_upscale, ["Ctrl+Return", "Ctrl+Enter"],
                             "upscale", "Upscale the photo with the chosen method")
        self.act_cancel = a("&Cancel", self.cancel_run, ["Esc"], "cancel",
                            "Stop the running upscale, restore or heal")
        self.act_restore = a("&Restore faces", self.start_restore, ["Ctrl+R"], "upscale",
                             "Restore the faces with the chosen face model")
        self.act_heal = a("&Heal painted region", self.start_heal, ["Ctrl+H"], None,
                          "Heal the region painted in the Heal tab")
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
        process.addAction(self.act_heal)
        process.addAction(self.act_cancel)
        models_menu = bar.addMenu("&Models")
        models_menu.addAction(self.act_import)
        models_menu.addAction(self.act_download)
        help_menu = bar.addMenu("&Help")
        add_help_actions(self, help_menu)
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

        def task(job: Any) -> tuple[list[Any], str, str | None, Any]:
            import kintsugi

            infos = [m for m in kintsugi.list_models() if m.kind == "upscaler"]
            faces = kintsugi.list_models(kind="face-restorer")
            caps = {m.id: model_caps(m) for m in faces}
            ids = [m.id for m in infos]
            chosen = wanted if wanted in ids else kintsugi.default_model_id()
            job.check()
            warning = None
            try:
                self._models.get(chosen, device)
            except kintsugi.KintsugiError as error:
                warning = str(error)
            return infos, chosen, warning, (faces, caps)

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
        infos, chosen, warning, (faces, caps) = task.result
        self._model_infos = infos
        self._face_infos = faces
        self._models_loaded = True
        self.panel.set_models(infos, chosen)
        self.panel.restore.set_models(faces, infos, caps=caps)
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

        def task(job: Any) -> tuple[list[Any], Any]:
            import kintsugi

            faces = kintsugi.list_models(kind="face-restorer")
            return kintsugi.list_models(kind="upscaler"), (faces, {m.id: model_caps(m)
                                                                  for m in faces})

        self._list_runner.submit(task, select or "")

    @Slot(object)
    def _on_models_listed(self, task: Task) -> None:
        if task.status == "failed":
            self._show_error("Models unavailable", task.error)
            return
        if not task.ok:
            return
        upscalers, (faces, caps) = task.result
        chosen = task.tag
        self._model_infos = upscalers
        self._face_infos = faces
        self.panel.set_models(upscalers, self.panel.selected_model() or "")
        face_ids = {m.id for m in faces}
        self.panel.restore.set_models(faces, upscalers, chosen if chosen in face_ids else "",
                                      caps=caps)
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
        for runner in (self._run_runner, self._preview_runner, self._partner_runner,
                       self._faces_runner):
            runner.cancel()  # results for the previous photo are no longer wanted
        self._source_token += 1
        self._reset_restore_flow()
        self._face_boxes = []
        self._alt_masks.clear()
        self.panel.restore.show_found("")
        for mode in self._modes.values():  # "Done in 26.4 s" was about the other photo
            mode.controls.clear()
        self.panel.set_source_size(image.width, image.height)
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
        self._show_entry(None)
        if self.panel.mode() == "restore":
            self._detect_faces()

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

    # ------------------------------------------------------------------ the run flow
    def _input_image(self) -> Any:
        """What a new upscale or restore starts from: the original, or its healed version
        when the result on screen is an edit of it at its own size."""
        entry = self._history.current()
        if entry is not None and entry.scale == 1:
            return entry.image
        return self._source

    def _start(self, mode: str, body: Callable[[Any], Made], note: str = "") -> bool:
        """Run `body(job)` as this mode's job; False (and a status line) when one is busy.

        A deliberate run is never restarted by a second request: while it runs, the mode's
        button is Cancel and Ctrl+Enter is refused."""
        if self._run_runner.is_busy():
            running = self._modes[self._ticker.mode].verb.lower() if self._ticker.mode else ""
            self.statusBar().showMessage(
                f"Still {running or 'working'}: cancel it first (Esc)", 4000)
            return False
        source = self._source

        def task(job: Any) -> Output:
            started = time.monotonic()
            made = body(job)
            job.check()
            return _finish(source, made, time.monotonic() - started, heat=True, job=job)

        for other in self._modes.values():
            other.controls.clear()
        # Set before submitting: the runner reports "busy" from inside submit().
        self._ticker = _Ticker(started=time.monotonic(), mode=mode, message=note or "Starting…")
        submitted = self._run_runner.submit(task, mode)
        submitted.context.update(token=self._source_token)
        self._show_run_progress()
        self._tick_timer.start()
        return True

    @Slot()
    def cancel_run(self) -> None:
        self._preview_runner.cancel()
        if self._run_runner.is_busy():
            self._run_runner.cancel()
            self._ticker.message = "Cancelling…"
            self._show_run_progress()

    def cancel_upscale(self) -> None:  # the old name, kept for the Esc action's users
        self.cancel_run()

    def is_busy(self) -> bool:
        return self._run_runner.is_busy()

    def idle(self) -> bool:
        """No run, preview or background alternative is in progress."""
        return not any(r.is_busy() for r in (self._run_runner, self._preview_runner,
                                               self._partner_runner, self._faces_runner,
                                               self._strip_runner))

    def run_runner(self) -> TaskRunner:
        return self._run_runner

    def preview_runner(self) -> TaskRunner:
        return self._preview_runner

    @Slot(bool)
    def _on_run_busy(self, busy: bool) -> None:
        mode = self._modes.get(self._ticker.mode)
        if mode is not None:
            mode.controls.set_busy(busy)
        if not busy:
            self._tick_timer.stop()
        self._update_actions()

    @Slot(float, str)
    def _on_run_progress(self, fraction: float, message: str) -> None:
        self._ticker.fraction = fraction
        self._ticker.message = message
        self._show_run_progress()

    @Slot()
    def _show_run_progress(self) -> None:
        """Progress, elapsed time and ETA, refreshed every second even between reports."""
        t = self._ticker
        mode = self._modes.get(t.mode)
        if mode is None or not self._run_runner.is_busy():
            return
        elapsed = time.monotonic() - t.started
        text = f"{round(t.fraction * 100)}% · {t.message or mode.verb + '…'} · {clock(elapsed)}"
        task = self._run_runner.current_task()
        eta = task.job.eta_seconds() if task is not None and t.fraction > 0.02 else None
        text += f" elapsed · about {clock(eta)} left" if eta is not None else " elapsed"
        mode.controls.set_progress(t.fraction, text)

    @Slot(object)
    def _on_run_finished(self, task: Task) -> None:
        mode = self._modes[task.tag]
        status = task.status
        if task.context.get("token") != self._source_token:
            status = "cancelled"  # the photo changed meanwhile
            mode.controls.clear()
        elif task.ok:
            entry = self._accept(task.result, mode.name)
            mode.controls.set_progress(0.0, f"Done in {_duration(task.seconds)}")
            mode.controls.label.setToolTip(entry.label)
            self._after_run(mode.name, task.result)
        elif status == "failed":
            mode.controls.set_progress(0.0, "Failed")
            self._show_error(mode.failed_title, task.error)
        if status == "cancelled" and task.context.get("token") == self._source_token:
            mode.controls.set_progress(0.0, "Cancelled; nothing was changed")
            self.statusBar().showMessage(f"{mode.verb} cancelled", 4000)
        mode.finished.emit(status)

    def _accept(self, out: Output, kind: str, preview: bool = False,
                replace: bool = False, alt: AltSession | None = None,
                setting: Setting | None = None) -> ResultEntry:
        made = out.made
        entry = ResultEntry(
            image=made.image, display=out.pyramid.image, heat=out.heat, kind=kind,
            model_id=made.model_id, scale=out.scale, options=made.extra, provenance=made.provenance,
            label=made.label, full_scale=out.full_scale, seconds=out.seconds, preview=preview,
        )
        entry.alt = alt  # type: ignore[attr-defined]
        entry.setting = setting  # type: ignore[attr-defined]
        entry.pyramid = out.pyramid  # type: ignore[attr-defined]
        current = self._history.current()
        if replace or (preview and current is not None and current.preview
                       and current.kind == kind):
            self._history.replace_current(entry)  # a newer preview / setting of one result
        else:
            self._history.push(entry)
        self._show_entry(entry)
        self.result_ready.emit()
        return entry

    def _after_run(self, mode: str, out: Output) -> None:
        if mode == "upscale":
            self._start_alternatives(out)
        elif mode == "restore":
            self.panel.restore.set_faces_found(int(out.made.extra_found))  # type: ignore[attr-defined]
            self._after_restore(out.made.extra)
        elif mode == "heal":
            # The stroke is used up, but kept with the heal: undo brings it back, so another
            # factor can be tried without painting again.
            entry = self._history.current()
            if entry is not None:
                entry.heal_map = self.canvas.take_map("heal")

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
        source, cache = self._input_image(), self._models
        name = self._model_names().get(opts.model_id, opts.model_id)

        def body(job: Any) -> Made:
            import kintsugi

            job.set_progress(0.0, "Loading the model…")
            model = cache.get(opts.model_id, opts.device)
            job.check()
            out = kintsugi.upscale(source, model, scale=opts.scale,
                                   consistency=opts.consistency, tile=opts.tile,
                                   job=job.sub(0.0, 0.95))
            if opts.dpi:
                out = dataclasses.replace(out, metadata=dataclasses.replace(
                    out.metadata, dpi=(opts.dpi, opts.dpi)))
            job.set_progress(0.96, "Measuring invented detail…")
            scale = out.width // source.width
            provenance = kintsugi.upscale_note(model.info.id, scale, opts.consistency)
            lock = " · consistency lock" if opts.consistency else ""
            return Made(out, opts.model_id, provenance, name + lock, opts)

        self._start("upscale", body)

    # ------------------------------------------------------------------ alternatives
    def _start_alternatives(self, out: Output) -> None:
        """A new upscale result: its alternatives session, the partner, then the strip."""
        made = out.made
        pair, note = pair_for(made.model_id, out.scale, self._model_names())
        session = AltSession(self._input_image(), made.image, made.model_id, out.scale, pair,
                             made.provenance)
        entry = self._history.current()
        if entry is not None:
            entry.alt = session  # type: ignore[attr-defined]
            entry.setting = session.home()  # type: ignore[attr-defined]
        self._show_alternatives(session)
        # What comes after a result is choosing among alternatives: on a short screen the
        # strip sat below the fold (found in a trial at 1280x820), so scroll just enough.
        QTimer.singleShot(0, self._reveal_alternatives)
        self._clear_alt_brush(compose=False)
        if pair is None:
            self.panel.alternatives.set_pair_available(False, note)
            self._fill_strip(session)
            return
        self.panel.alternatives.set_pair_available(
            False, f"Mix: computing {session.partner_id} for the other end…")
        self._submit_partner(session, self._visible_region(session))

    @Slot()
    def _reveal_alternatives(self) -> None:
        if self.panel.alternatives.isVisible():
            self._side_scroll.ensureWidgetVisible(self.panel.alternatives.thumbs, 0, 8)

    def _show_alternatives(self, session: AltSession | None, setting: Setting | None = None
                           ) -> None:
        box = self.panel.alternatives
        box.setVisible(session is not None)
        if session is None:
            return
        setting = setting or session.start()
        box.set_values(setting.detail, setting.alpha, emit=False)
        if session.pair is not None and session.has_partner():
            box.set_pair_available(True, self._pair_note(session))

    def _pair_note(self, session: AltSession) -> str:
        assert session.pair is not None
        return mix_note(session.pair, self._model_names(), session.partner_complete())

    def _model_names(self) -> dict[str, str]:
        """Each listed model's one name in the window, by id."""
        return {info.id: info.name for info in self._model_infos}

    def _visible_region(self, session: AltSession) -> tuple[int, int, int, int] | None:
        """The visible part of the photo in photo pixels, when it is small enough to be
        worth running first; None to run the whole photo at once."""
        canvas = self.canvas
        top_left = canvas.widget_to_content(canvas.rect().topLeft().toPointF())
        bottom_right = canvas.widget_to_content(canvas.rect().bottomRight().toPointF())
        s = session.scale
        x0 = max(0, int(top_left.x() // s))
        y0 = max(0, int(top_left.y() // s))
        x1 = min(session.source.width, int(bottom_right.x() // s) + 1)
        y1 = min(session.source.height, int(bottom_right.y() // s) + 1)
        area = max(0, x1 - x0) * max(0, y1 - y0)
        if area == 0 or area > VIEW_FIRST_SHARE * session.source.width * session.source.height:
            return None
        return x0, y0, x1, y1

    def _submit_partner(self, session: AltSession, region: tuple[int, int, int, int] | None
                        ) -> None:
        opts = self.panel.options()
        cache = self._models
        partner_id = session.partner_id
        assert partner_id is not None

        def task(job: Any) -> bool:
            import kintsugi
            from kintsugi import crop_region, paste_region

            model = cache.get(partner_id, opts.device)
            if region is None:
                full = kintsugi.upscale(session.source, model, scale=session.scale,
                                        consistency=opts.consistency, tile=opts.tile, job=job)
                session.set_partner(full, complete=True)
                return True
            crop, _rect, inner = crop_region(session.source, region)
            part = kintsugi.upscale(crop, model, scale=session.scale,
                                    consistency=opts.consistency, tile=opts.tile, job=job)
            session.set_partner(paste_region(session.first, part, region, inner, session.scale),
                                complete=False)
            return False

        submitted = self._partner_runner.submit(task, "partner")
        submitted.context.update(session=session, token=self._source_token)

    def _fill_strip(self, session: AltSession) -> None:
        """The strip's thumbnails, one task each so they appear as they are ready."""
        self._strip = strip_settings(session.pair is not None and session.partner_complete())
        self.panel.alternatives.clear_strip("Computing alternatives…")
        self._submit_thumbnail(session, 0)

    def _submit_thumbnail(self, session: AltSession, index: int) -> None:
        setting = self._strip[index]

        def task(job: Any) -> np.ndarray:
            import cv2

            image = session.compose(setting)
            job.check()
            side = THUMB_SIDE / max(image.width, image.height)
            small = cv2.resize(image.pixels, (max(1, round(image.width * side)),
                                              max(1, round(image.height * side))),
                               interpolation=cv2.INTER_AREA)
            small = small.reshape(small.shape[0], small.shape[1], -1)
            return display_array(small)

        submitted = self._partner_runner.submit(task, "thumb")
        submitted.context.update(session=session, index=index, setting=setting,
                                 token=self._source_token)

    @Slot(object)
    def _on_partner_finished(self, task: Task) -> None:
        session = task.context.get("session")
        current = self._current_session()
        if task.context.get("token") != self._source_token or session is not current:
            return
        assert session is not None
        if task.status == "failed":
            self.panel.alternatives.set_pair_available(False, f"Mix unavailable: {task.error}")
            if task.tag == "partner":
                self._fill_strip(session)
            return
        if not task.ok:
            return
        if task.tag == "partner":
            complete = bool(task.result)
            self.panel.alternatives.set_pair_available(True, self._pair_note(session))
            self.partner_ready.emit(complete)
            if self.panel.alternatives.alpha() != session.home().alpha or self._alt_masks:
                self.compose_alternative()  # the user moved the slider meanwhile
            if complete:
                self._fill_strip(session)
            else:
                self._submit_partner(session, None)
            return
        setting = task.context["setting"]
        box = self.panel.alternatives
        box.add_alternative(to_qimage(task.result), setting.detail,
                            setting.alpha if session.pair else None)
        index = task.context["index"] + 1
        if index < len(self._strip):
            self._submit_thumbnail(session, index)
        else:
            box.strip_note.setText("Click one to show it; Save writes the one on screen.")
            self.strip_filled.emit()

    def _current_session(self) -> AltSession | None:
        entry = self._history.current()
        return getattr(entry, "alt", None) if entry is not None else None

    def current_setting(self) -> Setting | None:
        entry = self._history.current()
        return getattr(entry, "setting", None) if entry is not None else None

    @Slot(int)
    def choose_strip(self, index: int) -> None:
        if 0 <= index < len(self._strip):
            setting = self._strip[index]
            self._clear_alt_brush(compose=False)
            self.panel.alternatives.set_values(setting.detail, setting.alpha)

    def _alt_request(self, session: AltSession) -> tuple[Setting, np.ndarray | None]:
        box = self.panel.alternatives
        paired = session.has_partner()
        setting = Setting(box.detail(), box.alpha() if paired else session.home().alpha)
        mask = brush_mix(setting.alpha, self._alt_masks.get("realness"),
                         self._alt_masks.get("fidelity")) if paired else None
        return setting, mask

    @Slot()
    def compose_alternative(self) -> None:
        """The sliders or brush changed. A big result first gets a quick draft at screen
        size on every change, and its full-size composition once the value settles; both
        on the preview runner, where only the running and the newest request survive."""
        session = self._current_session()
        if session is None:
            return
        if max(session.first.width, session.first.height) <= DRAFT_SIDE:
            self._submit_compose()
            return
        setting, mask = self._alt_request(session)
        full = QSize(session.first.width, session.first.height)

        def task(job: Any) -> Pyramid:
            image = session.draft(setting, mask, DRAFT_SIDE)
            job.check()
            return Pyramid.from_array(display_array(image.pixels, image.alpha), full)

        submitted = self._preview_runner.submit(task, "draft", cancel_running=False)
        submitted.context.update(token=self._source_token, session=session)
        self._settle_timer.start()

    @Slot()
    def _submit_compose(self) -> None:
        """The full-size alternative for the current sliders and brush: the result to keep."""
        session = self._current_session()
        if session is None:
            return
        setting, mask = self._alt_request(session)
        heat = self.canvas.overlay_visible()
        source = session.source
        label = (f"{self._model_names().get(session.first_id, session.first_id)} · "
                 f"{setting.caption(session.pair is not None)}")

        def task(job: Any) -> Output:
            started = time.monotonic()
            image = session.compose(setting, mask)
            job.check()  # a newer setting is waiting: drop this one
            made = Made(image, session.first_id, session.provenance_for(setting, mask is not None),
                        label)
            return _finish(source, made, time.monotonic() - started, heat=heat, job=job)

        submitted = self._preview_runner.submit(task, "compose", cancel_running=False)
        submitted.context.update(token=self._source_token, session=session, setting=setting)

    @Slot(str)
    def _on_stroke(self, tool: str) -> None:
        if self._on_face_stroke(tool):
            return
        if tool in ("realness", "fidelity"):
            mask = self.canvas.brush_mask(tool)
            if mask is not None:
                self._alt_masks[tool] = mask
            self.compose_alternative()

    @Slot()
    def _clear_alt_brush(self, compose: bool = True) -> None:
        had = bool(self._alt_masks)
        self._alt_masks.clear()
        for name in ("realness", "fidelity"):
            self.canvas.clear_map(name)
        if compose and had:
            self.compose_alternative()

    @Slot(object)
    def _on_preview_finished(self, task: Task) -> None:
        if task.tag == "draft":
            if (task.ok and task.context.get("token") == self._source_token
                    and task.context["session"] is self._current_session()):
                entry = self._history.current()
                self.canvas.set_after(task.result, entry.heat if entry is not None else None)
                self.drafted.emit()
            return
        if task.tag == "compose":
            if (task.ok and task.context.get("token") == self._source_token
                    and task.context["session"] is self._current_session()):
                entry = self._history.current()
                kind = entry.kind if entry is not None else "upscale"
                self._accept(task.result, kind, replace=True, alt=task.context["session"],
                             setting=task.context["setting"])
                self.composed.emit()
            return
        if task.tag == "side-output":
            self._on_side_output_finished(task)
            return
        self._on_restore_preview_finished(task)

    # ------------------------------------------------------------------ faces on the canvas
    def _detect_faces(self) -> None:
        """Outline the photo's faces (detected once per photo, on a worker)."""
        if self._source is None or not self._models_loaded:
            return
        source, cache = self._source, self._photo_cache
        device = self.panel.options().device

        def task(job: Any) -> list[tuple[float, float, float, float]]:
            faces = cache.find_faces(source.pixels, device)
            return [(float(f.box[0]), float(f.box[1]), float(f.box[2]), float(f.box[3]))
                    for f in faces]

        submitted = self._faces_runner.submit(task, "faces")
        submitted.context.update(token=self._source_token)

    @Slot(object)
    def _on_faces_finished(self, task: Task) -> None:
        if task.context.get("token") != self._source_token or not task.ok:
            return
        self._face_boxes = list(task.result)
        self.panel.restore.set_faces_found(len(self._face_boxes))
        self._show_faces()
        self.faces_shown.emit(len(self._face_boxes))

    @Slot()
    def _show_faces(self) -> None:
        if self.panel.mode() != "restore" or self._source is None:
            self.canvas.set_faces([], set())
            return
        scale = self.canvas.content_size().width() / max(1, self._source.width)
        boxes = [QRectF(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale)
                 for x0, y0, x1, y1 in self._face_boxes]
        self.canvas.set_faces(boxes, self.panel.restore.face_selection(len(boxes)))

    @Slot(int)
    def _on_face_clicked(self, index: int) -> None:
        """Include or exclude one face: the selection is what the next restore restores."""
        section = self.panel.restore
        chosen = section.face_selection(len(self._face_boxes))
        chosen ^= {index}
        section.set_face_selection(sorted(chosen))
        self._show_faces()

    # ------------------------------------------------------------------ healing
    @Slot()
    def start_heal(self) -> None:
        """Heal the painted region of the picture on screen (the result, else the photo)."""
        if self._source is None or not self._models_loaded:
            return
        mask = self.canvas.brush_mask("heal")
        if mask is None:
            self.panel.heal.run.set_progress(0.0, "Paint over the region to heal first")
            return
        entry = self._history.current()
        image = entry.image if entry is not None else self._source
        base = entry.provenance if entry is not None else {}
        opts = self.panel.heal.options(self.panel.options().device)
        models = self._models

        def body(job: Any) -> Made:
            import kintsugi

            # The window's model cache: a second heal does not load the network again.
            healer = models.get(kintsugi.default_healer(), opts.device)
            feather = kintsugi.DEFAULT_FEATHER
            healed = kintsugi.heal(image, mask, model=healer, factor=opts.factor, feather=feather,
                                   job=job, device=opts.device)
            provenance = kintsugi.heal_note(healer.info.id, opts.factor, feather, base)
            return Made(healed, entry.model_id if entry is not None else "heal", provenance,
                        opts.describe(), opts)

        self._start("heal", body)

    # ------------------------------------------------------------------ showing results
    def _show_entry(self, entry: ResultEntry | None) -> None:
        if entry is None:
            self.canvas.set_after(None)
            self.panel.result_info.setText("")
            self.panel.legend_scale.setText("")
            self._show_alternatives(None)
        else:
            pyramid = getattr(entry, "pyramid", None)
            self.canvas.set_after(pyramid if pyramid is not None else entry.display, entry.heat)
            text = (f"Result: {entry.image.width}×{entry.image.height} · ×{entry.scale} · "
                    f"{entry.label} · {_duration(entry.seconds)}")
            self.panel.result_info.setText(text)
            self.panel.legend_scale.setText(
                f"Yellow = {entry.full_scale * 255:.0f}/255 or more away from the original"
                if entry.heat is not None else "")
            session = getattr(entry, "alt", None)
            self._show_alternatives(session, getattr(entry, "setting", None))
        self._show_faces()
        self._update_actions()

    def current_result(self) -> ResultEntry | None:
        return self._history.current()

    @Slot()
    def undo(self) -> None:
        if self._history.can_undo():
            undone = self._history.current()
            self._show_entry(self._history.undo())
            if undone is not None:
                self.canvas.put_map("heal", undone.heal_map)

    @Slot()
    def redo(self) -> None:
        if self._history.can_redo():
            entry = self._history.redo()
            self._show_entry(entry)
            if entry is not None and entry.heal_map is not None:
                self.canvas.clear_map("heal")  # that stroke is healed again

    @Slot(str)
    def _on_mode_changed_panel(self, mode: str) -> None:
        if mode == "restore":
            self._detect_faces()
        self._sync_tool()
        self._show_faces()
        self._update_actions()

    @Slot()
    def _sync_tool(self) -> None:
        """The canvas brush follows the tab: Heal paints the heal map, Upscale the mix maps."""
        mode = self.panel.mode()
        if mode == "heal":
            brush = self.panel.heal.brush
            self.canvas.set_tool("heal", brush.size(), brush.hardness())
            self.canvas.show_maps({"heal"})
        elif mode == "upscale":
            alt = self.panel.alternatives
            tool = alt.tool() if alt.isVisible() else ""
            self.canvas.set_tool(tool, alt.brush.size(), alt.brush.hardness())
            self.canvas.show_maps({"realness", "fidelity"} if tool else set())
        elif mode == "restore":
            self._sync_face_tool()
        else:
            self.canvas.set_tool("")
            self.canvas.show_maps(set())

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
        entry = self._history.current()
        if visible and entry is not None and entry.heat is None and self._current_session():
            self._submit_compose()  # composed with the map hidden: compose it with the map

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
        kind = {"restore": "_restored", "heal": "_healed"}.get(entry.kind if entry else "", "")
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
        # A heal of the photo itself, saved as JPEG: keep the original's blocks and quality
        # wherever the heal did not reach (engine/imageio/jpeg_edit.py).
        edit_of = self._source if entry.kind == "heal" and entry.scale == 1 else None
        if edit_of is not None and fmt == "JPEG":
            quality = None

        def task(job: Any) -> Path:
            import kintsugi

            return kintsugi.save_image(entry.image, path, format=fmt, bit_depth=depth,
                                       quality=quality, provenance=entry.provenance,
                                       edit_of=edit_of)

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
        busy = self._run_runner.is_busy()
        running = self._ticker.mode if busy else ""
        ready = has_source and self._models_loaded
        can_upscale = ready and self.panel.selected_model() is not None
        can_restore = ready and self.panel.restore.selected_model() is not None
        # The running mode's button is its Cancel; the others wait for it.
        for name, can in (("upscale", can_upscale), ("restore", can_restore),
                          ("heal", ready)):
            self._modes[name].controls.button.setEnabled(running == name or (can and not busy))
        self.act_upscale.setEnabled(can_upscale and not busy)
        self.act_restore.setEnabled(can_restore and not busy)
        self.act_heal.setEnabled(ready and not busy)
        self.act_cancel.setEnabled(busy or self._preview_runner.is_busy())
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
        for mode in self._modes.values():
            mode.controls.refresh_icons()
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
        runners = [self._open_runner, self._run_runner, self._preview_runner,
                   self._partner_runner, self._faces_runner, self._save_runner,
                   self._model_runner, self._list_runner,
                   *self.restore_runners(), *self._importer.runners()]
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


def _finish(source: Any, made: Made, seconds: float, heat: bool, job: Any) -> Output:
    """Worker side of every mode: display pixels, their pyramid and the deviation heat map.

    heat=False skips the deviation map (a slider preview with the overlay hidden)."""
    import kintsugi

    out = made.image
    full, heat_image = 0.0, None
    if heat:
        deviation = kintsugi.deviation_map(source, out)
        full = deviation_full_scale(deviation)
        heat_image = Pyramid.from_array(heat_rgba(deviation, full))
        job.check()
    pyramid = Pyramid.from_array(display_array(out.pixels, out.alpha))
    return Output(made, pyramid, heat_image, full, max(1, out.width // source.width), seconds)


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

