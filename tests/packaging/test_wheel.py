"""The built wheel, installed into a fresh venv outside the repository, upscales a photo and
opens the window (packaging/check_wheel.py does the work; `make wheel-check` runs it too)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_and_upscales_in_a_fresh_venv():
    for module in ("build", "hatchling"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "check_wheel.py")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wheel-check: passed" in done.stdout
    assert "models from" in done.stdout and "site-packages/kintsugi/_data/models" in done.stdout
