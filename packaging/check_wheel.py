"""Install the built wheel into a fresh venv outside the repository and use it as a user would.

    python packaging/check_wheel.py [--dist DIR] [--keep]

Without --dist the wheel is built first (``python -m build --wheel``). Then, in a temporary
folder: a new venv, ``pip install torch==2.13.0`` (the CPU wheel pip finds on this machine),
``pip install kintsugi-*.whl``, ``kintsugi upscale photo.jpg`` with the default model, and
the window opened offscreen until it has painted. Exits non-zero with the failing step's output.
Used by ``make wheel-check`` and tests/packaging/test_wheel.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"

# What a user's shell would not have: our checkout on the path, test-time overrides.
_DROPPED_ENV = ("PYTHONPATH", "VIRTUAL_ENV", "KINTSUGI_MODELS_DIR", "KINTSUGI_DATA_DIR",
                "PYTHONHOME", "__PYVENV_LAUNCHER__")

_MAKE_PHOTO = """
import sys
from importlib.resources import files
from PIL import Image
sample = files("kintsugi") / "_data" / "resources" / "samples" / "astronaut-portrait.png"
with Image.open(str(sample)) as im:
    im.convert("RGB").resize((48, 40)).save(sys.argv[1], quality=92)
"""

_CHECK_OUTPUT = """
import sys
from PIL import Image
import kintsugi.resources as r
with Image.open(sys.argv[1]) as im:
    assert im.size == (192, 160), im.size
models = r.models_dir().resolve()
assert models.is_relative_to(sys.prefix), f"models found outside the venv: {models}"
print(f"output {im.size}, models from {models}")
"""


def run(step: str, command: list[str], cwd: Path, env: dict[str, str],
        tag: str = "wheel-check") -> str:
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{tag}: {step} failed (exit {done.returncode}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"{tag}: {step}: ok ({seconds:.1f} s)", flush=True)
    return done.stdout + done.stderr


def build_wheel(out: Path) -> Path:
    run("build", [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(out),
                  str(ROOT)], ROOT, dict(os.environ))
    return find_wheel(out)


def find_wheel(folder: Path) -> Path:
    wheels = sorted(folder.glob("kintsugi-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"wheel-check: expected one kintsugi wheel in {folder}, found {wheels}")
    return wheels[0]


def check(wheel: Path, work: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    venv = work / "venv"
    bin_dir = venv / "bin"
    run("venv", [sys.executable, "-m", "venv", str(venv)], work, env)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet"]
    run(f"pip install {TORCH}", pip + [TORCH], work, env)
    run(f"pip install {wheel.name}", pip + [str(wheel)], work, env)
    python = str(bin_dir / "python")
    run("make photo.jpg", [python, "-c", _MAKE_PHOTO, "photo.jpg"], work, env)
    run("kintsugi upscale photo.jpg", [str(bin_dir / "kintsugi"), "upscale", "photo.jpg"], work, env)
    print("wheel-check: " + run("check output", [python, "-c", _CHECK_OUTPUT, "photo_x4.jpg"],
                                work, env).strip())
    window_env = dict(env, QT_QPA_PLATFORM="offscreen", KINTSUGI_EXIT_AFTER_SHOW="1")
    shown = run("kintsugi (window, offscreen)", [str(bin_dir / "kintsugi")], work, window_env)
    if "time-to-window-ms" not in shown:
        raise SystemExit(f"wheel-check: the window did not report being shown:\n{shown}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, help="folder holding the built kintsugi wheel")
    parser.add_argument("--keep", action="store_true", help="keep the temporary venv")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kintsugi-wheel-check-"))
    try:
        wheel = find_wheel(args.dist) if args.dist else build_wheel(work / "dist")
        check(wheel.resolve(), work)
    finally:
        if args.keep:
            print(f"wheel-check: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("wheel-check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
