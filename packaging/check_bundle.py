"""Start the PyInstaller one-folder app as a user would and check it works on its own.

    python packaging/check_bundle.py [dist/kintsugi/kintsugi]

In a temporary folder, with no Python environment variables: `kintsugi upscale photo.jpg` with
the bundled default model (the models can only come from the bundle there), `kintsugi heal`
on that JPEG (its untouched blocks kept through the bundled jpeglib), `kintsugi models list`,
and the window opened offscreen until it has painted. Exits non-zero with the failing
step's output. Used by `make bundle-check`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from check_wheel import _DROPPED_ENV, ROOT
from check_wheel import run as run_step
from PIL import Image

DEFAULT_EXE = ROOT / "dist" / "kintsugi" / "kintsugi"


def run(step: str, command: list[str], cwd: Path, env: dict[str, str]) -> str:
    return run_step(step, command, cwd, env, tag="bundle-check")


def check(exe: Path, work: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env["PATH"] = "/usr/bin:/bin"  # no venv: the bundle must carry its own Python
    sample = ROOT / "resources" / "samples" / "astronaut-portrait.png"
    with Image.open(sample) as im:
        im.convert("RGB").resize((48, 40)).save(work / "photo.jpg", quality=92)
    run("kintsugi upscale photo.jpg", [str(exe), "upscale", "photo.jpg"], work, env)
    with Image.open(work / "photo_x4.jpg") as result:
        if result.size != (192, 160):
            raise SystemExit(f"bundle-check: output is {result.size}, not 192x160")
        print(f"bundle-check: output {result.size}")
    _check_heal(exe, work, env)
    listing = run("kintsugi models list", [str(exe), "models", "list"], work, env)
    if "realesrgan-x4plus" not in listing:
        raise SystemExit(f"bundle-check: the bundled catalog is missing models:\n{listing}")
    window_env = dict(env, QT_QPA_PLATFORM="offscreen", KINTSUGI_EXIT_AFTER_SHOW="1")
    shown = run("kintsugi (window, offscreen)", [str(exe)], work, window_env)
    if "time-to-window-ms" not in shown:
        raise SystemExit(f"bundle-check: the window did not report being shown:\n{shown}")


def _check_heal(exe: Path, work: Path, env: dict[str, str]) -> None:
    """A heal of the JPEG keeps its far blocks exactly: jpeglib's libjpeg made it into the
    bundle (it is loaded with ctypes, which PyInstaller cannot see)."""
    mask = Image.new("L", (48, 40))
    mask.paste(255, (4, 4, 10, 10))
    mask.save(work / "mask.png")
    log = run("kintsugi heal photo.jpg", [str(exe), "heal", "--debug", "photo.jpg", "--mask",
                                          "mask.png", "--feather", "2"], work, env)
    if "saving the edit as a new JPEG" in log:
        raise SystemExit(f"bundle-check: the healed JPEG was re-encoded, not spliced:\n{log}")
    with Image.open(work / "photo.jpg") as before, Image.open(work / "photo_healed.jpg") as after:
        corner = (32, 24, 48, 40)  # a whole 16 px block far from the mask
        if before.crop(corner).tobytes() != after.crop(corner).tobytes():
            raise SystemExit("bundle-check: the heal changed blocks it did not touch")
    print("bundle-check: healed JPEG keeps its untouched blocks")


def main() -> int:
    exe = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEFAULT_EXE
    if not exe.is_file():
        raise SystemExit(f"bundle-check: {exe} does not exist; run `make bundle` first")
    work = Path(tempfile.mkdtemp(prefix="kintsugi-bundle-check-"))
    try:
        check(exe, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("bundle-check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
