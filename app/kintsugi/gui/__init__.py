"""Kintsugi's desktop window (PySide6). Start it with ``kintsugi.gui.app.run_app``."""
