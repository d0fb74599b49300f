"""Writes the lock files `make` installs from (`make lock`): exact versions and SHA-256s.

One PEP 751 lock per install path the Makefile has, each resolved by `pip lock` (pinned in
the Makefile) from pyproject.toml plus the build backend, so that `pip install -e .
--no-build-isolation` builds with a locked hatchling too:

    pylock.toml         the app (make setup, demo, run)
    pylock.test.toml    the app, its tests and the reference engines (make test)
    pylock.bundle.toml  the app and PyInstaller (make bundle)

The project itself is dropped from each lock: pip refuses to hash-check an editable
directory, so make installs it afterwards with --no-deps. A lock is valid for the Python
and platform it was made on (pip lock's own limit): CPython 3.11 on Linux x86_64 here.
tests/test_lock.py fails when a lock no longer satisfies pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomli_w
import tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"pylock.toml": "", "pylock.test.toml": "test,reference", "pylock.bundle.toml": "bundle"}
PROJECT = "kintsugi"


def build_requirements() -> list[str]:
    """The build backend, and what hatchling asks for when it builds an editable install."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return [*tomllib.load(fh)["build-system"]["requires"], "editables"]


def lock(name: str, extras: str) -> None:
    target = "." + (f"[{extras}]" if extras else "")
    # pip lock writes paths relative to the lock's folder: the raw lock must sit in ROOT
    raw = ROOT / "pylock.unfiltered.toml"
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "lock", "--quiet", "-o", str(raw), "-e", target,
             *build_requirements()],
            cwd=ROOT, check=True,
        )
        with open(raw, "rb") as fh:
            data = tomllib.load(fh)
    finally:
        raw.unlink(missing_ok=True)
    data["packages"] = [p for p in data["packages"] if p["name"] != PROJECT]
    header = "# Written by `make lock` (tools/lock.py) from pyproject.toml: do not edit.\n"
    (ROOT / name).write_text(header + tomli_w.dumps(data))
    print(f"{name}: {len(data['packages'])} packages")


def main() -> int:
    for name, extras in LOCKS.items():
        lock(name, extras)
    return 0


if __name__ == "__main__":
    sys.exit(main())
