"""Action icons drawn from Kintsugi's own SVGs, tinted with the palette's text colour.

The SVGs use ``currentColor``; Qt's SVG renderer has no notion of it, so the colour is
substituted before rendering. That keeps one icon set for light and dark palettes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QStyle

from kintsugi.resources import resources_dir

_SIZES = (16, 20, 24, 32, 48)

# Used when the resource folder cannot be found (e.g. a broken install): the standard
# Qt icons keep every action recognisable.
_FALLBACK = {
    "open": QStyle.StandardPixmap.SP_DialogOpenButton,
    "save": QStyle.StandardPixmap.SP_DialogSaveButton,
    "save-as": QStyle.StandardPixmap.SP_DialogSaveButton,
    "cancel": QStyle.StandardPixmap.SP_DialogCancelButton,
    "undo": QStyle.StandardPixmap.SP_ArrowBack,
    "redo": QStyle.StandardPixmap.SP_ArrowForward,
    "about": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "pause": QStyle.StandardPixmap.SP_MediaPause,
    "resume": QStyle.StandardPixmap.SP_MediaPlay,
}


def _icon_file(name: str) -> Path | None:
    try:
        path = resources_dir() / "icons" / f"{name}.svg"
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


def _render(svg: bytes, size: int) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(svg))
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return pixmap


@cache
def _icon(name: str, colour: str) -> QIcon:
    path = _icon_file(name)
    if path is None:
        standard = _FALLBACK.get(name, QStyle.StandardPixmap.SP_FileIcon)
        return QApplication.style().standardIcon(standard)
    svg = path.read_bytes().replace(b"currentColor", colour.encode())
    disabled_svg = path.read_bytes().replace(b"currentColor", b"#8a8f98")
    icon = QIcon()
    for size in _SIZES:
        icon.addPixmap(_render(svg, size), QIcon.Mode.Normal)
        icon.addPixmap(_render(disabled_svg, size), QIcon.Mode.Disabled)
    return icon


def icon(name: str) -> QIcon:
    """The named icon in the current palette's text colour."""
    app = QApplication.instance()
    colour = QColor("#333333")
    if isinstance(app, QApplication):
        colour = app.palette().color(QPalette.ColorRole.WindowText)
    return _icon(name, colour.name())


def tinted(name: str, colour: str) -> QIcon:
    """The named icon in a fixed colour (for buttons with their own background)."""
    return _icon(name, colour)


def app_icon() -> QIcon:
    path = _icon_file("kintsugi")
    if path is None:
        return QIcon()
    svg = path.read_bytes()
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        icon.addPixmap(_render(svg, size))
    return icon
