"""Kintsugi's main window: it lays out the canvas and the side panel and wires them to the
document and the flows; it does no work itself.

- ``document.py``: the photo, its results and undo history, what is selected (no Qt);
  ``document_view.py`` shows it (canvas, result line, title);
- one flow per kind of work, each with its own worker thread: ``upscale_flow.py``,
  ``alt_flow.py`` (the alternatives of an upscale), ``restore_flow.py`` (faces),
  ``heal_flow.py``, ``batch_flow.py``; ``files.py`` opens and saves, ``models_flow.py``
  lists and loads the models;
- ``actions.py``: every command as a row of a table, built into menus and the toolbar.

The engine is imported lazily, inside the tasks, so the window appears before torch is
loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from kintsugi.gui import actions as table
from kintsugi.gui import help as help_dialogs
from kintsugi.gui.alt_flow import AltFlow
from kintsugi.gui.batch_flow import BatchFlow
from kintsugi.gui.brushes import BrushRouter
from kintsugi.gui.canvas import CompareCanvas, ViewMode
from kintsugi.gui.document import Document
from kintsugi.gui.document_view import DocumentView
from kintsugi.gui.files import PhotoOpener, RecentMenu, ResultSaver
from kintsugi.gui.heal_flow import HealFlow
from kintsugi.gui.history import ResultEntry
from kintsugi.gui.icons import app_icon
from kintsugi.gui.layout import SideColumn, place_first
from kintsugi.gui.models import ModelCache
from kintsugi.gui.models_flow import ModelsFlow
from kintsugi.gui.panel import SidePanel
from kintsugi.gui.restore_flow import RestoreFlow
from kintsugi.gui.runs import RunGate
from kintsugi.gui.settings import Settings, load_settings, save_settings
from kintsugi.gui.theme import WINDOW_STYLE
from kintsugi.gui.unsaved import UnsavedGuard
from kintsugi.gui.upscale_flow import UpscaleFlow
from kintsugi.gui.view import VIEW_ACTIONS, ViewSync
from kintsugi.gui.worker import TaskRunner


class MainWindow(QMainWindow):
    """The one document window (see the module doc)."""

    error_shown = Signal(str)

    def __init__(self, settings: Settings | None = None, settings_path: Path | None = None,
                 dark: bool = True, models: ModelCache | None = None) -> None:
        super().__init__()
        self._settings_path = settings_path
        self._settings = settings if settings is not None else load_settings(settings_path)
        self._last_error = ""
        self._message_box: QMessageBox | None = None
        self.document = Document()
        self.canvas = CompareCanvas()
        self.canvas.set_dark(dark)
        self.panel = SidePanel()
        self.side = SideColumn(self.panel)
        self.side_scroll = self.side.scroll_area
        cache = models if models is not None else ModelCache()
        self.models = ModelsFlow(self.panel, self._settings, cache, self)
        gate = RunGate()
        self.upscale = UpscaleFlow(self.document, self.panel, cache, gate, self)
        self.alternatives = AltFlow(self.document, self.panel, self.canvas, cache, self)
        self.restore = RestoreFlow(self.document, self.panel, self.canvas, cache, gate, self)
        self.heal = HealFlow(self.document, self.panel, self.canvas, cache, gate, self)
        self.run_flows = (self.upscale, self.restore, self.heal)
        self.brushes = BrushRouter(self.canvas, self.panel, self.alternatives, self.restore, self)
        self.batch = BatchFlow(self.panel, self._settings, lambda: self.models.infos, self)
        self.saver = ResultSaver(self.document, self.panel, self._settings, self._confirm, self)
        self.unsaved = UnsavedGuard(self.document, self.saver, self)
        self.opener = PhotoOpener(self.document, self._settings, self.unsaved.may_drop, self)

        self.setWindowTitle("Kintsugi")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setStyleSheet(WINDOW_STYLE)
        self.setCentralWidget(self.side.split_with(self.canvas))
        self.actions_by_id = table.build_actions(self, self._handlers())
        self.menus = table.build_menus(self, self.actions_by_id)
        self.recent_menu = RecentMenu(self.opener, self._settings, self)
        self.menus["File"].insertMenu(self.actions_by_id["paste"], self.recent_menu)
        self.toolbar = table.build_toolbar(self, self.actions_by_id)
        image_label = QLabel("")
        zoom_label = QLabel("")
        self.statusBar().addPermanentWidget(image_label)
        self.statusBar().addPermanentWidget(zoom_label)
        self.view = ViewSync(self.canvas, self.panel, self.actions_by_id, zoom_label, self)
        self.view.map_wanted.connect(self.alternatives.compose_with_map)
        self.document_view = DocumentView(self.document, self, self.canvas, self.panel, self.view,
                                          self.alternatives, self.restore, image_label)
        self.document_view.shown.connect(self.update_actions)
        self.statusBar().showMessage("Loading models in the background…")
        self._wire_panel()
        self._wire_flows()
        self._apply_settings()
        self._on_tab_changed(self.panel.mode())

    # ------------------------------------------------------------------ wiring
    def _handlers(self) -> dict[str, Callable[..., Any]]:
        views = {key: (lambda _checked=False, m=mode: self.view.set_mode(m))
                 for key, mode in VIEW_ACTIONS.items()}
        return {
            "open": self.opener.open_dialog, "paste": self.opener.paste,
            "save": self.saver.save, "save_as": self.saver.save_as, "batch": self.batch.open,
            "quit": self.close, "undo": self.heal.undo, "redo": self.heal.redo,
            "fit": self.canvas.fit, "actual": self.canvas.actual_size,
            "toggle": self.canvas.toggle_before_after,
            "deviation": lambda visible: self.view.set_deviation_visible(visible),
            "upscale": self.upscale.start, "restore": self.restore.start,
            "heal": self.heal.start, "cancel": self.cancel_run,
            "import": self.models.import_dialog, "download": self.models.open_download_dialog,
            "about": self.show_about, "how_to": lambda: help_dialogs.show_how_to(self),
            "shortcuts": lambda: help_dialogs.show_shortcuts(self), **views,
        }

    def action(self, action_id: str) -> QAction:
        return self.actions_by_id[action_id]

    def _wire_panel(self) -> None:
        panel = self.panel
        panel.save_box.save_requested.connect(self.saver.save)
        panel.save_box.save_as_requested.connect(self.saver.save_as)
        panel.mode_changed.connect(self._on_tab_changed)
        restore, heal = panel.restore, panel.heal
        restore.import_requested.connect(self.models.import_dialog)
        restore.download_requested.connect(self.models.open_download_dialog)
        restore.model_combo.currentIndexChanged.connect(lambda _i: self.update_actions())
        for cancel in (panel.cancel_requested, restore.cancel_requested, heal.cancel_requested):
            cancel.connect(self.cancel_run)

    def _wire_flows(self) -> None:
        for flow in self.run_flows:
            flow.busy_changed.connect(lambda _busy: self.update_actions())
            flow.status.connect(lambda text: self.statusBar().showMessage(text, 4000))
        for source in (*self.run_flows, self.models, self.opener, self.saver):
            source.failed.connect(self._show_error)
        for source in (self.models, self.opener, self.saver):
            source.status.connect(self._show_status)
        self.upscale.made.connect(self.alternatives.begin)
        # What comes after a result is choosing among alternatives: on a short screen the
        # strip sat below the fold (found in a trial at 1280x820), so scroll just enough.
        self.alternatives.started.connect(lambda: QTimer.singleShot(0, self._reveal_alternatives))
        self.models.ready.connect(self._on_models_ready)
        self.models.changed.connect(self._on_models_ready)

    # ------------------------------------------------------------------ state
    def update_actions(self) -> None:
        """Every command and every mode's button, enabled from one state."""
        state = self._state()
        running = next((flow for flow in self.run_flows if flow.is_busy()), None)
        for flow, can in ((self.upscale, state.can_upscale), (self.restore, state.can_restore),
                          (self.heal, state.can_heal)):
            # The running mode's button is its Cancel; the others wait for it.
            flow.controls.button.setEnabled(flow is running or (can and running is None))
        self.panel.save_box.set_can_save(state.has_result)
        table.update_enabled(self.actions_by_id, state)

    def _state(self) -> table.State:
        document = self.document
        ready = document.source is not None and self.models.loaded
        return table.State(
            has_source=document.source is not None,
            has_result=document.current() is not None,
            busy=self.is_busy(),
            previewing=self.alternatives.preview_runner.is_busy()
            or self.restore.preview_runner.is_busy(),
            can_upscale=ready and self.panel.selected_model() is not None,
            can_restore=ready and self.panel.restore.selected_model() is not None,
            can_heal=ready,
            can_undo=document.history.can_undo(),
            can_redo=document.history.can_redo(),
        )

    def is_busy(self) -> bool:
        """A deliberate run (upscale, restore, heal) is in progress."""
        return any(flow.is_busy() for flow in self.run_flows)

    def idle(self) -> bool:
        """No run, preview or background alternative is in progress."""
        busy = [*self.alternatives.runners(), *self.restore.runners(), self.upscale.runner,
                self.heal.runner]
        return not any(runner.is_busy() for runner in busy)

    def runners(self) -> list[TaskRunner]:
        return [self.opener.runner, self.saver.runner, *self.models.runners(),
                *self.upscale.runners(), *self.alternatives.runners(), *self.restore.runners(),
                *self.heal.runners(), *self.batch.runners()]

    @Slot()
    def cancel_run(self) -> None:
        """Esc: the running run and any waiting preview stop; nothing is changed."""
        self.alternatives.preview_runner.cancel()
        self.restore.preview_runner.cancel()
        for flow in self.run_flows:
            flow.cancel()

    @Slot()
    def _on_models_ready(self) -> None:
        names = {info.id: info.name for info in self.models.infos}
        self.alternatives.names = self.upscale.names = names
        for flow in self.run_flows:
            flow.ready = True
        self.update_actions()

    # ------------------------------------------------------------------ the document
    def current_result(self) -> ResultEntry | None:
        return self.document.current()

    # ------------------------------------------------------------------ tabs and tools
    @Slot(str)
    def _on_tab_changed(self, mode: str) -> None:
        if mode == "restore":
            self.restore.detect_faces()
        self.brushes.sync()
        self.restore.show_faces()
        self.update_actions()

    @Slot()
    def _reveal_alternatives(self) -> None:
        if self.panel.alternatives.isVisible():
            self.side_scroll.ensureWidgetVisible(self.panel.alternatives.thumbs, 0, 8)

    # ------------------------------------------------------------------ dialogs
    def _confirm(self, title: str, text: str) -> bool:
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(self, title, text, buttons.Yes | buttons.No, buttons.No)
        return answer == buttons.Yes

    @Slot(str, str)
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

    @Slot(str, int)
    def _show_status(self, text: str, milliseconds: int) -> None:
        if text:
            self.statusBar().showMessage(text, milliseconds)
        else:
            self.statusBar().clearMessage()

    @Slot()
    def show_about(self) -> None:
        from kintsugi.gui.about import AboutDialog

        AboutDialog(self.models.infos, self).exec()

    # ------------------------------------------------------------------ files
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
                self.batch.open(folders[0])
            else:
                self.opener.open_path(files[0])
                if len(files) > 1:
                    self.statusBar().showMessage(
                        "Opened the first file; use Batch export for several photos", 6000)
            event.acceptProposedAction()
        elif mime.hasImage():
            self.opener.open_qimage(mime.imageData())
            event.acceptProposedAction()

    # ------------------------------------------------------------------ settings
    def _apply_settings(self) -> None:
        """What persists: the window's place, the model, tiles and device, save quality."""
        s = self._settings
        if s.geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.geometry.encode()))
        else:
            place_first(self)
        self.panel.apply_options(0, False, s.tile, s.device)
        self.panel.save_box.apply_export("PNG", s.quality, s.bit_depth)
        self.view.set_mode(ViewMode.SPLIT)

    def save_settings(self) -> None:
        s = self._settings
        s.geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        opts = self.panel.options()
        if opts.model_id:
            s.model = opts.model_id
        s.tile = opts.tile if isinstance(opts.tile, int) else 0
        s.device = opts.device
        s.quality = self.panel.save_box.quality_spin.value()
        s.bit_depth = self.panel.save_box.depth_combo.currentData() or 0
        save_settings(s, self._settings_path)

    @property
    def settings(self) -> Settings:
        return self._settings

    # ------------------------------------------------------------------ look
    def set_dark(self, dark: bool) -> None:
        """Follow a light/dark switch made while the window is open."""
        self.canvas.set_dark(dark)
        # Style-sheeted widgets keep the palette they were polished with; re-setting the
        # sheet re-polishes them (and the batch dialog, a child) with the new palette.
        self.setStyleSheet("")
        self.setStyleSheet(WINDOW_STYLE)
        self.refresh_icons()

    def refresh_icons(self) -> None:
        """After a light/dark switch: icons are tinted with the palette's text colour."""
        table.refresh_icons(self.actions_by_id)
        for flow in self.run_flows:
            flow.controls.refresh_icons()
        self.panel.save_box.refresh_icons()

    @property
    def shown_at(self) -> float | None:
        """perf_counter() time of the canvas's first paint: when the user sees the window."""
        return self.canvas.first_painted_at

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Ask about an unsaved result; then cancel running work and wait for every worker
        thread before the window goes."""
        if not self.unsaved.may_drop(self.close):
            event.ignore()
            return
        self.batch.stop()
        for runner in self.runners():
            runner.shutdown()
        self.save_settings()
        super().closeEvent(event)
