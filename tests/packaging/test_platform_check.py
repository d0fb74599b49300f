"""`kintsugi` says in one line which system libraries Qt's X11 plugin lacks, instead of Qt's
abort. A fake `ldd` first on PATH plays a machine without libxcb-cursor0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from kintsugi.gui import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

LDD_MISSING_CURSOR = """#!/bin/sh
echo "	linux-vdso.so.1 (0x00007ffd)"
echo "	libxcb-cursor.so.0 => not found"
echo "	libxkbcommon-x11.so.0 => not found"
echo "	libxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007fa0)"
echo "	libxcb-cursor.so.0 => not found"
"""
LDD_ALL_FOUND = """#!/bin/sh
echo "	libxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007fa0)"
"""


def _fake_ldd(folder: Path, script: str) -> Path:
    folder.mkdir(exist_ok=True)
    ldd = folder / "ldd"
    ldd.write_text(script)
    ldd.chmod(0o755)
    return folder


def _env_with(bin_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", PYTHONPATH=str(ROOT / "app"),
               DISPLAY=":99", **extra)
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 plugin check is Linux-only")
def test_missing_libraries_become_one_line_with_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{_fake_ldd(tmp_path / 'bin', LDD_MISSING_CURSOR)}{os.pathsep}"
                       f"{os.environ['PATH']}")
    problem = app.platform_problem({"QT_QPA_PLATFORM": "xcb"})
    assert problem is not None and "\n" not in problem
    assert "needs libxcb-cursor.so.0, libxkbcommon-x11.so.0, which" in problem
    assert problem.endswith("sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 plugin check is Linux-only")
def test_no_problem_when_everything_is_found_or_another_platform_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{_fake_ldd(tmp_path / 'ok', LDD_ALL_FOUND)}{os.pathsep}"
                       f"{os.environ['PATH']}")
    assert app.platform_problem({"QT_QPA_PLATFORM": "xcb"}) is None
    monkeypatch.setenv("PATH", f"{_fake_ldd(tmp_path / 'bad', LDD_MISSING_CURSOR)}{os.pathsep}"
                       f"{os.environ['PATH']}")
    assert app.platform_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert app.platform_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert app.platform_problem({}) is not None  # X11 session: Qt's default is xcb


@pytest.mark.parametrize(("soname", "package"), [
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libEGL.so.1", "libegl1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
])
def test_debian_package_names(soname, package):
    assert app.debian_package(soname) == package


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 plugin check is Linux-only")
def test_kintsugi_exits_with_the_line_instead_of_qts_abort(tmp_path):
    env = _env_with(_fake_ldd(tmp_path / "bin", LDD_MISSING_CURSOR), QT_QPA_PLATFORM="xcb")
    done = subprocess.run([sys.executable, "-m", "kintsugi"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kintsugi: error: the window cannot start")
    assert "sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0" in lines[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 plugin check is Linux-only")
def test_offscreen_window_still_opens_with_the_fake_ldd(tmp_path):
    env = _env_with(_fake_ldd(tmp_path / "bin", LDD_MISSING_CURSOR), QT_QPA_PLATFORM="offscreen",
                    KINTSUGI_EXIT_AFTER_SHOW="1")
    done = subprocess.run([sys.executable, "-m", "kintsugi"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "time-to-window-ms" in done.stderr
