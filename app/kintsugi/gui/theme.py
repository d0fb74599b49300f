"""Fusion style with a palette that follows the system's light/dark colour scheme.

Fusion is the one style that looks the same on every platform and honours a custom
palette, so dark mode works even where the platform theme has none (X11, offscreen).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = QColor("#d4a23c")  # kintsugi gold
ACCENT_DARK_TEXT = QColor("#1b1b1b")


def system_is_dark(app: QGuiApplication) -> bool:
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    # Unknown (offscreen, bare X11): judge by the platform's default window colour.
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor("#1e2126"), QColor("#272b31"), QColor("#e6e6e6")
    disabled = QColor("#7b8088")
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor("#2d3238"))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor("#33383f"))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, disabled)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, QColor("#323840"))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor("#ff6b6b"))
    p.setColor(QPalette.ColorRole.Light, QColor("#3d444d"))
    p.setColor(QPalette.ColorRole.Midlight, QColor("#353b43"))
    p.setColor(QPalette.ColorRole.Mid, QColor("#22262b"))
    p.setColor(QPalette.ColorRole.Dark, QColor("#16181c"))
    p.setColor(QPalette.ColorRole.Shadow, QColor("#0b0c0e"))
    p.setColor(QPalette.ColorRole.Highlight, ACCENT)
    p.setColor(QPalette.ColorRole.HighlightedText, ACCENT_DARK_TEXT)
    p.setColor(QPalette.ColorRole.Link, ACCENT.lighter(120))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    _grey_when_disabled(p, QColor("#4a5058"), QColor("#2b2f35"))
    return p


def _grey_when_disabled(p: QPalette, fill: QColor, button: QColor) -> None:
    """Disabled sliders and progress bars without the accent colour, and their handles
    flatter: a disabled Mix slider looked as live as an enabled one in a trial."""
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Highlight, fill)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, button)


def light_palette(app: QApplication) -> QPalette:
    p = app.style().standardPalette()
    p.setColor(QPalette.ColorRole.Window, QColor("#f3f3f5"))
    p.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.AlternateBase, QColor("#f0f0f3"))
    p.setColor(QPalette.ColorRole.Highlight, ACCENT.darker(115))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    _grey_when_disabled(p, QColor("#b9bcc2"), QColor("#e4e5e8"))
    return p


def apply_theme(app: QApplication, dark: bool | None = None) -> bool:
    """Set Fusion and a palette; returns whether the dark palette was chosen."""
    app.setStyle("Fusion")
    if dark is None:
        dark = system_is_dark(app)
    app.setPalette(dark_palette() if dark else light_palette(app))
    return dark


def canvas_background(dark: bool) -> QColor:
    return QColor("#16181c") if dark else QColor("#d9dbe0")
