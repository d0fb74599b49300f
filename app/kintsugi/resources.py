"""Finds Kintsugi's data folders from a source checkout, an installed wheel or a PyInstaller bundle.

The three layouts, looked up in this order:

- PyInstaller bundle: ``sys._MEIPASS/models`` and ``sys._MEIPASS/resources`` (packaging/kintsugi.spec);
- installed wheel: ``kintsugi/_data/models`` and ``kintsugi/_data/resources`` (pyproject.toml's
  hatch force-include);
- source checkout (and editable installs): ``models/`` and ``resources/`` at the repository root.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _candidates(name: str) -> list[Path]:
    found = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:  # PyInstaller puts data next to the frozen modules
        found.append(Path(bundle) / name)
    found.append(_PACKAGE / "_data" / name)  # wheel: data copied into the package
    found.append(_PACKAGE.parents[1] / name)  # source checkout: app/kintsugi -> repo root
    return found


def data_dir(name: str) -> Path:
    """The first existing ``name`` folder of the layouts above."""
    candidates = _candidates(name)
    for path in candidates:
        if path.is_dir():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(f"Kintsugi's {name!r} folder is missing from this installation "
                            f"(looked in {looked})")


def models_dir() -> Path:
    override = os.environ.get("KINTSUGI_MODELS_DIR")
    return Path(override) if override else data_dir("models")


def resources_dir() -> Path:
    return data_dir("resources")


def user_data_dir() -> Path:
    import appdirs

    return Path(os.environ.get("KINTSUGI_DATA_DIR") or appdirs.user_data_dir("Kintsugi"))
