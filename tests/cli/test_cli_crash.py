"""A batch killed with SIGKILL leaves only complete outputs; the same command then continues
(through the resume journal, or with --skip-existing through the atomic writes alone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image as PILImage

import kintsugi

APP = str(Path(__file__).resolve().parents[2] / "app")
PHOTOS = 10


def _outputs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png")) if folder.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("flags", [[], ["--skip-existing"]], ids=["plain", "skip-existing"])
def test_kill_9_mid_batch_then_the_same_command_continues(flags, tmp_path, astronaut_full) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(PHOTOS):
        PILImage.fromarray(astronaut_full[i * 40:i * 40 + 96, i * 40:i * 40 + 96]).save(src / f"p{i}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "kintsugi", "upscale", str(src), "--out-dir", str(out),
               "--model", "waifu2x-photo-x2", *flags]
    env = {**os.environ, "PYTHONPATH": APP, "KINTSUGI_THREADS": "1"}

    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while proc.poll() is None and len(_outputs(out)) < 2 and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the batch ended before it could be killed"

    finished = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in _outputs(out)}
    assert 2 <= len(finished) < PHOTOS
    for path in finished:  # every visible output is whole: written to a temp file, then renamed
        assert kintsugi.open_image(path).width == 192

    again = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{PHOTOS - len(finished)} done, {len(finished)} skipped" in again.stderr
    for path, identity in finished.items():  # not redone
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity
    assert [p.name for p in _outputs(out)] == sorted(f"p{i}_x2.png" for i in range(PHOTOS))
    # No temp file, and no journal once the batch has finished.
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in _outputs(out)]
    for path in _outputs(out):
        assert kintsugi.open_image(path).width == 192
