"""GUI test fixtures: offscreen Qt, a private config folder, real photos, and a check that
no worker thread outlives its test."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the root conftest does it too

import numpy as np
import pytest
from PIL import Image as PILImage

pytest.importorskip("pytestqt")

from gui_helpers import FAST_MODEL  # noqa: E402

from kintsugi.gui import gc_guard  # noqa: E402
from kintsugi.gui.models import ModelCache  # noqa: E402
from kintsugi.gui.worker import running_threads  # noqa: E402


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("KINTSUGI_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _discard_unsaved_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window closed at a test's end with its result unsaved asks Save / Discard / Cancel:
    answered Discard here (a modal question would wait forever offscreen). Tests of the
    question itself patch it again."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *args, **kwargs: QMessageBox.StandardButton.Discard))


@pytest.fixture(autouse=True)
def _no_thread_left(qapp: object) -> Iterator[None]:
    """Autouse and depending only on qapp, so it is torn down after qtbot closed the
    test's windows: by then every worker thread must have been joined."""
    before = set(threading.enumerate())
    yield
    alive = running_threads()
    assert not alive, f"worker threads still running: {[t.objectName() for t in alive]}"
    extra = [t for t in threading.enumerate() if t not in before and t.is_alive()
             and not isinstance(t, threading._DummyThread)]  # noqa: SLF001
    assert not extra, f"Python threads still running: {extra}"
    # Collection moves to the GUI thread only while workers run, never process-wide.
    assert not gc_guard.held() and gc.isenabled()


@pytest.fixture(scope="session")
def model_cache() -> ModelCache:
    """Shared by the tests' windows so each model is loaded once per session."""
    return ModelCache()


def _save(arr: np.ndarray, path: Path) -> Path:
    PILImage.fromarray(arr).save(path)
    return path


@pytest.fixture
def photo_path(tmp_path: Path, astronaut_full: np.ndarray) -> Path:
    """A real 48x48 photo crop (the astronaut's face) as PNG."""
    folder = tmp_path / "photos"
    folder.mkdir()
    return _save(np.ascontiguousarray(astronaut_full[60:108, 190:238]), folder / "face.png")


@pytest.fixture
def photo_path_32(tmp_path: Path, coffee_full: np.ndarray) -> Path:
    folder = tmp_path / "photos32"
    folder.mkdir()
    return _save(np.ascontiguousarray(coffee_full[150:182, 250:282]), folder / "cup.png")


@pytest.fixture
def make_window(qtbot, model_cache: ModelCache, _config_dir: Path):  # type: ignore[no-untyped-def]
    """A shown MainWindow with its model list loaded (model: ``FAST_MODEL`` by default)."""
    from kintsugi.gui.main_window import MainWindow
    from kintsugi.gui.settings import Settings

    def make(model: str = FAST_MODEL, settings: Settings | None = None) -> MainWindow:
        settings = settings or Settings()
        settings.model = model
        window = MainWindow(settings=settings, models=model_cache, dark=False)
        qtbot.addWidget(window)
        window.resize(1100, 720)
        window.show()
        with qtbot.waitSignal(window.models.ready, timeout=120_000):
            window.models.start()
        return window

    return make
