"""Help menu: the keyboard shortcuts and a short how-to.

The shortcuts are read from the window's actions and shortcuts when the list opens, so it
always says what the keys do now."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kintsugi.gui.widgets import fit_to_screen

MOUSE = [  # what the canvas does with the mouse: no action to read it from
    ("Zoom in or out at the pointer", "Mouse wheel"),
    ("Move the picture (zoomed in)", "Drag; with a brush: middle or right drag"),
    ("Move the divider of the split view", "Drag the divider"),
    ("Choose a face (Faces tab)", "Click its outline"),
]

HOW_TO = """
<h3>Upscale a photo</h3>
<ol>
<li>Open a photo ({open}), drop it on the window, or paste one ({paste}).</li>
<li>In the <b>Upscale</b> tab choose a method and a size, then <b>Upscale</b> ({upscale}).</li>
<li>Compare: drag the divider, or press {toggle} to see the whole original, then the whole
result, then the comparison again. {deviation} colours where detail was invented.</li>
<li>Under <b>Alternatives</b>, <b>Detail</b> sets how much invented detail to keep and
<b>Mix</b> goes from the faithful result to the realistic one; a thumbnail sets both.
Paint realness or fidelity where only part of the photo should change.</li>
<li><b>Save</b> ({save}) writes the result next to the original; the original is never
replaced.</li>
</ol>
<h3>Restore faces</h3>
<p>In the <b>Faces</b> tab choose a face model (Models menu to add one), then
<b>Restore</b>. The slider moves between the photo's own face and the model's.</p>
<h3>Heal a spot</h3>
<p>In the <b>Heal</b> tab paint over the spot ([ and ] change the brush size), then
<b>Heal</b>. Undo ({undo}) brings back the photo and the painted spot, to try another
setting.</p>
"""


def add_help_actions(window: QWidget, menu: QMenu) -> None:
    """Add "How to" and "Keyboard shortcuts" to the Help menu (their keys work anywhere in
    the window)."""
    for text, key, show in (("&How to use Kintsugi", "F1", show_how_to),
                            ("&Keyboard shortcuts", "Ctrl+/", show_shortcuts)):
        action = QAction(text, window)
        action.setShortcut(QKeySequence(key))
        action.triggered.connect(lambda _checked=False, show=show: show(window))
        window.addAction(action)
        menu.addAction(action)


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(what, keys) for every action and shortcut of the window, then the mouse's."""
    rows = [(action.text().replace("&", "").rstrip("…"), _keys(action.shortcuts()))
            for action in window.actions() if action.shortcuts()]
    for shortcut in window.findChildren(QShortcut):
        row = (shortcut.whatsThis(), _keys([shortcut.key()]))
        if row[0] and row not in rows:  # each brush panel has its own [ and ]
            rows.append(row)
    return rows + MOUSE


def _keys(sequences: list[QKeySequence]) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in sequences)


def how_to_text(window: QWidget) -> str:
    """The how-to with the window's own keys in it."""
    keys = {text.lower(): keys for text, keys in shortcut_rows(window)}

    def key(name: str) -> str:
        return keys.get(name, "")

    return HOW_TO.format(open=key("open"), paste=key("paste image"), upscale=key("upscale"),
                         toggle=key("toggle original / result"),
                         deviation=key("deviation map"), save=key("save"), undo=key("undo"))


def show_shortcuts(window: QWidget) -> None:
    dialog = QDialog(window)
    dialog.setWindowTitle("Keyboard shortcuts")
    rows = shortcut_rows(window)
    table = QTableWidget(len(rows), 2)
    table.setHorizontalHeaderLabels(["What", "Keys"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    for r, (what, keys) in enumerate(rows):
        table.setItem(r, 0, QTableWidgetItem(what))
        table.setItem(r, 1, QTableWidgetItem(keys))
    _show(dialog, table, 560, 600)


def show_how_to(window: QWidget) -> None:
    dialog = QDialog(window)
    dialog.setWindowTitle("How to use Kintsugi")
    text = QLabel(how_to_text(window))
    text.setWordWrap(True)
    text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    _show(dialog, text, 560, 520)


def _show(dialog: QDialog, body: QWidget, width: int, height: int) -> None:
    layout = QVBoxLayout(dialog)
    layout.addWidget(body, 1)
    close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    close.rejected.connect(dialog.reject)
    layout.addWidget(close)
    fit_to_screen(dialog, width, height)
    dialog.open()
