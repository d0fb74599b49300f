"""About: version, and every shipped model with its purpose and licence."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from kintsugi.gui.icons import app_icon
from kintsugi.gui.widgets import fit_to_screen


def _all_models(infos: list[Any]) -> list[Any]:
    """Every model in the manifest (detectors too: they are shipped and licensed as well)."""
    try:
        import kintsugi

        return list(kintsugi.list_models())
    except Exception:  # the manifest may be unreadable; show what the window knows
        return list(infos)


class AboutDialog(QDialog):
    def __init__(self, infos: list[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import kintsugi

        self.setWindowTitle("About Kintsugi")
        fit_to_screen(self, 760, 520)
        layout = QVBoxLayout(self)
        header = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        title = QLabel(
            f"<h2>Kintsugi {html.escape(kintsugi.__version__)}</h2>"
            "Faithful photo upscaling and restoration that runs on your own computer.<br>"
            "Licensed under the Apache License 2.0. The models below keep their own licences."
        )
        title.setWordWrap(True)
        header.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(title, 1)
        layout.addLayout(header)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.model_list = QListWidget()
        self.licence_view = QPlainTextEdit()
        self.licence_view.setReadOnly(True)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.details)
        right_layout.addWidget(self.licence_view, 1)
        splitter.addWidget(self.model_list)
        splitter.addWidget(right)
        splitter.setSizes([330, 430])
        layout.addWidget(splitter, 1)

        self._models = _all_models(infos)
        for info in self._models:
            item = QListWidgetItem(f"{info.name} — {info.licence}")
            item.setToolTip(info.purpose)
            self.model_list.addItem(item)
        self.model_list.currentRowChanged.connect(self._show_model)
        if self._models:
            self.model_list.setCurrentRow(0)
        else:
            self.details.setText("The model list is not loaded yet.")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        # The model manager, from where users look for models and their licences.
        for text, method in (("Import model file…", "import_model_dialog"),
                             ("Download official model…", "open_download_dialog")):
            action = getattr(parent, method, None)
            if callable(action):
                button = buttons.addButton(text, QDialogButtonBox.ButtonRole.ActionRole)
                button.clicked.connect(self.accept)
                button.clicked.connect(action)
        layout.addWidget(buttons)

    def _show_model(self, row: int) -> None:
        if not 0 <= row < len(self._models):
            return
        info = self._models[row]
        source = info.source or {}
        origin = " ".join(str(source.get(k, "")) for k in ("registry", "package", "version"))
        self.details.setText(
            f"<b>{html.escape(info.name)}</b> <span style='color:gray'>({html.escape(info.id)})"
            f"</span><br>{html.escape(info.purpose)}<br>"
            f"Kind: {html.escape(info.kind)} · scale ×{info.scale} · "
            f"licence <b>{html.escape(info.licence)}</b>"
            + (f"<br>Converted from: {html.escape(origin.strip())}" if origin.strip() else "")
        )
        try:
            self.licence_view.setPlainText(info.licence_text())
        except OSError as error:
            self.licence_view.setPlainText(f"{info.licence} (licence text unavailable: {error})")

    def model_names(self) -> list[str]:
        return [self.model_list.item(i).text() for i in range(self.model_list.count())]
