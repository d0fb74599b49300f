"""User settings as one JSON file in the per-user config folder.

JSON rather than QSettings so the file is readable, portable between platforms and easy
to reset; a missing, corrupt or older file falls back to defaults key by key.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
MAX_RECENT = 10


def config_dir() -> Path:
    """``$KINTSUGI_CONFIG_DIR`` (tests, portable installs) or the platform's config folder."""
    env = os.environ.get("KINTSUGI_CONFIG_DIR")
    if env:
        return Path(env)
    import appdirs  # small, but only needed here

    return Path(appdirs.user_config_dir("Kintsugi", appauthor=False))


@dataclass
class Settings:
    geometry: str = ""  # QWidget.saveGeometry(), base64
    window_state: str = ""  # QMainWindow.saveState(), base64
    last_open_dir: str = ""
    last_save_dir: str = ""
    recent_files: list[str] = field(default_factory=list)
    # What people expect to find again. Choices made for one photo are not kept (the save
    # format, which follows each photo's own; the size and the consistency lock; the view
    # mode and the deviation map): a next session starts from their defaults.
    model: str = ""  # "" = the engine's default model
    tile: int = 0  # 0 = automatic
    device: str = "auto"
    quality: int = 95
    bit_depth: int = 0  # 0 = same as the input
    batch_input_dir: str = ""
    batch_output_dir: str = ""
    batch_recursive: bool = True
    batch_skip_existing: bool = True
    batch_name_pattern: str = "{stem}_x{scale}"
    batch_format: str = ""  # "" = same as each input


def _coerce(default: Any, value: Any) -> Any:
    """``value`` if it has the default's type, else the default."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else default
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    if isinstance(default, str):
        return value if isinstance(value, str) else default
    if isinstance(default, list):
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else default
    return default


def load_settings(path: Path | None = None) -> Settings:
    path = path or config_dir() / SETTINGS_FILE
    settings = Settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return settings
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable settings file %s: %s", path, error)
        return settings
    if not isinstance(raw, dict):
        return settings
    for item in dataclasses.fields(Settings):
        if item.name in raw:
            default = getattr(settings, item.name)
            setattr(settings, item.name, _coerce(default, raw[item.name]))
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically so a crash mid-write never leaves a half file behind."""
    path = path or config_dir() / SETTINGS_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(dataclasses.asdict(settings), indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as error:
        log.warning("could not save settings to %s: %s", path, error)


def add_recent(settings: Settings, file_path: str) -> None:
    entry = str(Path(file_path).resolve())
    recent = [p for p in settings.recent_files if p != entry]
    settings.recent_files = [entry, *recent][:MAX_RECENT]
