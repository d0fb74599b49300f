"""Every command of the window as data: its title, keys, icon, where it shows (menus,
toolbar) and when it is enabled; one builder turns the table into QActions, menus and the
toolbar, and one function enables them from the window's state
(docs/adr/0007-actions-as-a-table.md says why a table and not napari's app-model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QSizePolicy, QToolBar, QWidget

from kintsugi.gui.icons import icon


@dataclass(frozen=True)
class State:
    """What the enablement conditions read."""

    has_source: bool = False
    has_result: bool = False
    busy: bool = False  # a deliberate run (upscale, restore, heal)
    previewing: bool = False  # a slider preview or composition
    can_upscale: bool = False  # a photo, the model list and an upscaler chosen
    can_restore: bool = False
    can_heal: bool = False
    can_undo: bool = False
    can_redo: bool = False


def _always(_state: State) -> bool:
    return True


@dataclass(frozen=True)
class ActionSpec:
    id: str
    title: str
    tip: str  # the tooltip and status line (the keys are added to the tooltip)
    keys: tuple[str, ...] = ()
    icon: str = ""
    menus: tuple[str, ...] = ()  # "File", "Edit"...: where it is listed, in table order
    section: int = 0  # a separator goes between sections of one menu
    toolbar: int = 0  # position on the toolbar (0: not there); a new tens digit starts a group, 90+ sits at the far end
    enabled: Callable[[State], bool] = _always
    checkable: bool = False
    group: str = ""  # checkable actions of one group exclude each other
    text_on_toolbar: bool = True  # False: only the icon when the toolbar is crowded


MENUS = ("File", "Edit", "View", "Process", "Models", "Help")

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "&Open…", "Open a photo", ("Ctrl+O",), "open", ("File",), 0, 10),
    ActionSpec("paste", "&Paste image", "Open the image on the clipboard", ("Ctrl+V",), "paste",
               ("File", "Edit"), 0, 0, text_on_toolbar=False),
    ActionSpec("save", "&Save", "Save the result next to the original as <name>_x<scale>",
               ("Ctrl+S",), "save", ("File",), 1, 20, lambda s: s.has_result),
    ActionSpec("save_as", "Save &As…", "Save the result where you choose", ("Ctrl+Shift+S",),
               "save-as", ("File",), 1, 21, lambda s: s.has_result, text_on_toolbar=False),
    ActionSpec("batch", "&Batch export…", "Upscale every photo of a folder", ("Ctrl+B",),
               "batch", ("File",), 2, 70, text_on_toolbar=False),
    ActionSpec("quit", "&Quit", "Close Kintsugi", ("Ctrl+Q",), "", ("File",), 3),
    ActionSpec("undo", "&Undo", "Go back to the previous result", ("Ctrl+Z",), "undo",
               ("Edit",), 0, 30, lambda s: s.can_undo, text_on_toolbar=False),
    ActionSpec("redo", "&Redo", "Go forward to the next result", ("Ctrl+Y", "Ctrl+Shift+Z"),
               "redo", ("Edit",), 0, 31, lambda s: s.can_redo, text_on_toolbar=False),
    ActionSpec("fit", "&Fit to window", "Zoom so the whole photo is visible", ("F",), "fit",
               ("View",), 0, 40, lambda s: s.has_source, text_on_toolbar=False),
    ActionSpec("actual", "&Actual size (100%)", "One result pixel per screen pixel", ("1",),
               "zoom-100", ("View",), 0, 41, lambda s: s.has_source, text_on_toolbar=False),
    ActionSpec("split", "&Split compare", "Original left of the divider, result right of it",
               ("S",), "split", ("View",), 1, 50, checkable=True, group="view",
               text_on_toolbar=False),
    ActionSpec("side_by_side", "Side &by side",
               "Original and result next to each other, zoomed and panned together", ("B",),
               "side-by-side", ("View",), 1, 51, checkable=True, group="view",
               text_on_toolbar=False),
    ActionSpec("before", "&Original only", "Show only the original", (), "", ("View",), 1,
               checkable=True, group="view"),
    ActionSpec("after", "&Result only", "Show only the result", (), "", ("View",), 1,
               checkable=True, group="view"),
    ActionSpec("toggle", "&Toggle original / result",
               "Show the whole original, then the whole result, then the comparison again",
               ("Space",), "", ("View",), 1,
               enabled=lambda s: s.has_source),
    ActionSpec("deviation", "&Deviation map", "Colour where detail was invented", ("D",),
               "deviation", ("View",), 2, 52, checkable=True, text_on_toolbar=False),
    ActionSpec("upscale", "&Upscale", "Upscale the photo with the chosen method",
               ("Ctrl+Return", "Ctrl+Enter"), "upscale", ("Process",), 0, 11,
               lambda s: s.can_upscale and not s.busy),
    ActionSpec("restore", "&Restore faces", "Restore the faces with the chosen face model",
               ("Ctrl+R",), "upscale", ("Process",), 0, 0,
               lambda s: s.can_restore and not s.busy),
    ActionSpec("heal", "&Heal painted region", "Heal the region painted in the Heal tab",
               ("Ctrl+H",), "", ("Process",), 0, 0, lambda s: s.can_heal and not s.busy),
    ActionSpec("cancel", "&Cancel", "Stop the running upscale, restore or heal", ("Esc",),
               "cancel", ("Process",), 0, 0, lambda s: s.busy or s.previewing),
    ActionSpec("import", "&Import model file…", "Add a .safetensors or .pth model file you have",
               (), "", ("Models",)),
    ActionSpec("download", "&Download official model…", "Download a face model from its authors",
               (), "", ("Models",)),
    ActionSpec("how_to", "&How to use Kintsugi", "A short how-to, with the keys", ("F1",), "",
               ("Help",)),
    ActionSpec("shortcuts", "&Keyboard shortcuts", "Every key and mouse gesture of the window",
               ("Ctrl+/",), "", ("Help",)),
    ActionSpec("about", "&About Kintsugi", "Version, models and their licences", (), "about",
               ("Help",), 0, 90, text_on_toolbar=False),
)


def build_actions(window: QMainWindow, handlers: Mapping[str, Callable[..., object]]
                  ) -> dict[str, QAction]:
    """One QAction per spec, on the window (so its keys work with the toolbar hidden)."""
    actions: dict[str, QAction] = {}
    groups: dict[str, QActionGroup] = {}
    for spec in ACTIONS:
        action = QAction(spec.title, window)
        action.setObjectName(spec.id)
        action.setShortcuts([QKeySequence(key) for key in spec.keys])
        if spec.icon:
            action.setIcon(icon(spec.icon))
        tip = spec.tip
        keys = ", ".join(QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
                         for key in spec.keys)
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
        action.setStatusTip(tip)
        action.setCheckable(spec.checkable)
        if not spec.text_on_toolbar:
            action.setPriority(QAction.Priority.LowPriority)
        if spec.group:
            groups.setdefault(spec.group, QActionGroup(window)).addAction(action)
        signal = action.toggled if spec.checkable and not spec.group else action.triggered
        signal.connect(handlers[spec.id])
        window.addAction(action)
        actions[spec.id] = action
    return actions


def build_menus(window: QMainWindow, actions: Mapping[str, QAction]) -> dict[str, QMenu]:
    menus = {name: window.menuBar().addMenu(f"&{name}") for name in MENUS}
    sections: dict[str, int] = {}
    for spec in ACTIONS:
        for name in spec.menus:
            if sections.setdefault(name, spec.section) != spec.section:
                menus[name].addSeparator()
                sections[name] = spec.section
            menus[name].addAction(actions[spec.id])
    return menus


def build_toolbar(window: QMainWindow, actions: Mapping[str, QAction]) -> QToolBar:
    bar = QToolBar("Main")
    bar.setObjectName("main-toolbar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    placed = sorted((spec for spec in ACTIONS if spec.toolbar), key=lambda spec: spec.toolbar)
    group = placed[0].toolbar // 10
    for spec in placed:
        if spec.toolbar >= 90 and group < 9:
            spacer = QWidget()
            spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            bar.addWidget(spacer)
        elif spec.toolbar // 10 != group:
            bar.addSeparator()
        group = spec.toolbar // 10
        bar.addAction(actions[spec.id])
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    return bar


def update_enabled(actions: Mapping[str, QAction], state: State) -> None:
    for spec in ACTIONS:
        actions[spec.id].setEnabled(spec.enabled(state))


def refresh_icons(actions: Mapping[str, QAction]) -> None:
    """After a light/dark switch: icons are tinted with the palette's text colour."""
    for spec in ACTIONS:
        if spec.icon:
            actions[spec.id].setIcon(icon(spec.icon))
