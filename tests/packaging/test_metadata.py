"""The .desktop entry and the AppStream metainfo pass the freedesktop validators
(`make metadata-check` installs them: Debian packages desktop-file-utils and appstream)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def _validate(command: list[str]) -> subprocess.CompletedProcess:
    if shutil.which(command[0]) is None:
        if os.environ.get("CI") == "true":  # .ci/run installs them: missing means broken set-up
            pytest.fail(f"{command[0]} is not installed; `make metadata-check` installs it")
        pytest.skip(f"{command[0]} is not installed (make metadata-check installs it)")
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_desktop_entry_validates():
    done = _validate(["desktop-file-validate", str(PACKAGING / "kintsugi.desktop")])
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_appstream_metainfo_validates():
    done = _validate(["appstreamcli", "validate", "--no-net",
                      str(PACKAGING / "io.github.kintsugi.Kintsugi.metainfo.xml")])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation was successful" in done.stdout
