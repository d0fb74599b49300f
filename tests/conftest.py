"""Root test configuration: offscreen Qt, seeded RNGs, device from KINTSUGI_TEST_DEVICE."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np
import pytest

from fixtures.http_files import FileServer


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A fresh Kintsugi data folder (imported models, user.toml) for one test."""
    folder = tmp_path / "userdata"
    monkeypatch.setenv("KINTSUGI_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """A local HTTP server of `file_server.files` (tests/fixtures/http_files.py)."""
    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def test_device() -> str:
    """The device device-aware tests run on: KINTSUGI_TEST_DEVICE (cpu, cuda, mps), else cpu."""
    return os.environ.get("KINTSUGI_TEST_DEVICE", "cpu")


@pytest.fixture(scope="session")
def astronaut_full() -> np.ndarray:
    """A real portrait photo (scikit-image, BSD-3), uint8 RGB 512x512."""
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


@pytest.fixture(scope="session")
def coffee_full() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.coffee()


def pytest_terminal_summary(terminalreporter) -> None:
    """Skips counted by reason, and CI's wall time, just above pytest's closing summary line."""
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        reasons: dict[str, int] = {}
        for report in skipped:
            reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "?"
            reasons[reason] = reasons.get(reason, 0) + 1
        terminalreporter.write_line(f"{len(skipped)} skipped:")
        for reason, count in sorted(reasons.items()):
            terminalreporter.write_line(f"  {count} x {reason}")
    start = os.environ.get("KINTSUGI_CI_START")
    if start:
        import time

        minutes = (time.time() - float(start)) / 60
        terminalreporter.write_line(f"CI wall time so far (setup, demo, linters, tests): {minutes:.1f} min")
