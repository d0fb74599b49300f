"""Start the desktop app: ``kintsugi PATH...`` and the ``kintsugi-gui`` entry call run_app.

The window is shown before torch is imported: nothing here or in the window's modules
imports the engine's pipeline at import time, and the model list and default model are
loaded on a worker thread once the window is on screen.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QLibraryInfo, QTimer
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:  # run_app imports it after the QApplication exists
    from kintsugi.gui.main_window import MainWindow

log = logging.getLogger(__name__)

# KINTSUGI_EXIT_AFTER_SHOW=1 quits as soon as the window is painted: used to measure the
# time to window (tests and tools/screenshots.py) without a person closing it.
_EXIT_AFTER_SHOW = "KINTSUGI_EXIT_AFTER_SHOW"


def platform_problem(env: os._Environ[str] | dict[str, str] = os.environ) -> str | None:
    """One line saying which system libraries Qt's X11 plugin lacks, or None.

    Without them Qt prints several lines about plugins and aborts the process; minimal
    Debian/Ubuntu installs lack libxcb-cursor0 and friends. Checked before the QApplication
    exists, only when Qt would pick the xcb platform.
    """
    if not _uses_xcb(env):
        return None
    missing = missing_libraries(_xcb_plugin(env))
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(debian_package(name) for name in missing))
    return (f"the window cannot start: Qt's X11 plugin needs {', '.join(missing)}, which "
            f"cannot be found; install them with: sudo apt-get install {packages}")


def _uses_xcb(env: os._Environ[str] | dict[str, str]) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen:  # e.g. "xcb", "wayland;xcb", "offscreen"
        return chosen.split(";")[0].split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")  # a Wayland session tries the wayland plugin first


def _xcb_plugin(env: os._Environ[str] | dict[str, str]) -> Path:
    folder = env.get("QT_QPA_PLATFORM_PLUGIN_PATH") or str(
        Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms")
    return Path(folder) / "libqxcb.so"


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries `plugin` needs that the dynamic loader cannot find (per ldd)."""
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return []  # nothing to go on: let Qt try and speak for itself
    try:
        listing = subprocess.run([ldd, str(plugin)], capture_output=True, text=True,
                                 timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        log.debug("ldd failed on %s", plugin, exc_info=True)
        return []
    missing: list[str] = []
    for line in listing.splitlines():
        name, arrow, where = line.strip().partition("=>")
        if arrow and where.strip() == "not found" and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def debian_package(soname: str) -> str:
    """Debian's package name for a library (its policy: name + major version, with a hyphen
    when the name ends in a digit): libxcb-cursor.so.0 -> libxcb-cursor0,
    libxkbcommon-x11.so.0 -> libxkbcommon-x11-0."""
    stem, _, version = soname.partition(".so")
    major = version.lstrip(".").split(".")[0]
    joiner = "-" if stem[-1:].isdigit() else ""
    return f"{stem}{joiner}{major}".lower()


def create_app(argv: list[str] | None = None) -> tuple[QApplication, bool]:
    """The QApplication with Kintsugi's names, icon and theme; returns (app, dark)."""
    from kintsugi.gui.icons import app_icon
    from kintsugi.gui.theme import apply_theme

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Kintsugi")
    app.setApplicationDisplayName("Kintsugi")
    app.setOrganizationName("Kintsugi")
    app.setDesktopFileName("kintsugi")
    dark = apply_theme(app)
    app.setWindowIcon(app_icon())
    return app, dark


def _follow_colour_scheme(app: QApplication, window: MainWindow) -> None:
    from kintsugi.gui.theme import apply_theme

    def changed() -> None:
        dark = apply_theme(app)
        window.set_dark(dark)

    app.styleHints().colorSchemeChanged.connect(changed)


def _install_excepthook(window: MainWindow) -> None:
    """A bug in a GUI slot shows a one-line dialog (the traceback goes to the log), instead
    of a traceback on a console the user never sees."""

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected error", exc_info=(kind, error, tb))
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        first_line = (str(error).strip().splitlines() or [""])[0]
        window._show_error(  # noqa: SLF001
            "Unexpected error", f"{kind.__name__}: {first_line}" if first_line else kind.__name__
        )

    sys.excepthook = hook


def run_app(paths: list[str]) -> int:
    """Open the window (with the first photo of ``paths``, or a folder in Batch export)."""
    started = time.perf_counter()
    problem = platform_problem()
    if problem:
        sys.stderr.write(f"kintsugi: error: {problem}\n")
        return 1
    app, dark = create_app()
    from kintsugi.gui.main_window import MainWindow

    window = MainWindow(dark=dark)
    _follow_colour_scheme(app, window)
    _install_excepthook(window)
    window.show()

    done = False

    def after_show() -> None:
        nonlocal done
        if done:
            return
        done = True
        shown = window.shown_at or time.perf_counter()
        log.info("time to window: %.0f ms (torch loaded: %s)",
                 (shown - started) * 1000, "torch" in sys.modules)
        if os.environ.get(_EXIT_AFTER_SHOW):
            painted_wall = time.time() - (time.perf_counter() - shown)
            sys.stderr.write(f"time-to-window-ms {(shown - started) * 1000:.1f} "
                             f"painted-at {painted_wall:.4f} "
                             f"torch-loaded {'torch' in sys.modules}\n")
            window.close()
            app.quit()
            return
        window.models.start()
        _open_paths(window, paths)

    # Background work starts once the window has painted, so it never delays the first frame;
    # the timer covers platforms that do not paint hidden or minimised windows.
    window.canvas.first_painted.connect(lambda: QTimer.singleShot(0, after_show))
    QTimer.singleShot(1500, after_show)
    return app.exec()


def _open_paths(window: MainWindow, paths: list[str]) -> None:
    existing = [Path(p) for p in paths]
    folders = [p for p in existing if p.is_dir()]
    files = [p for p in existing if not p.is_dir()]
    if files:
        window.opener.open_path(files[0])
    if folders or len(files) > 1:
        window.batch.open(str(folders[0] if folders else files[0].parent))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_app(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
