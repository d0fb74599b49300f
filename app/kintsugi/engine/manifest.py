"""The shipped-model manifest (models/manifest.toml): plain data, no torch.

Kept apart from the registry so that the window can list models before torch is loaded.
It knows only the shipped models; :mod:`kintsugi.engine.catalog` merges them with the
user's imports.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kintsugi.archs import Capabilities
from kintsugi.engine.errors import ModelError
from kintsugi.resources import models_dir

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    arch: str
    kind: str
    scale: int
    purpose: str = ""
    licence: str = "unknown"
    licence_file: str | None = None
    file: str | None = None
    sha256: str | None = None
    dtype: str = "float32"
    input_range: str = "0..1"
    default: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    converter: str | None = None
    # What the model can do, when known without building it (user models record it on
    # import); else kintsugi.engine.catalog.capabilities derives it from arch and params.
    caps: Capabilities | None = None

    @property
    def path(self) -> Path | None:
        return models_dir() / self.file if self.file else None

    def licence_text(self) -> str:
        if not self.licence_file:
            return self.licence
        path = models_dir() / self.licence_file
        return path.read_text(encoding="utf-8") if path.is_file() else self.licence


@lru_cache(maxsize=4)
def _read_entries(path: Path) -> tuple[dict[str, Any], ...]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ModelError(f"cannot read the model manifest {path}: {error}") from error
    return tuple(data.get("model", []))


def _read_manifest(path: Path) -> tuple[ModelInfo, ...]:
    return tuple(info_from_entry(entry) for entry in _read_entries(path))


def info_from_entry(entry: dict[str, Any], **extra: Any) -> ModelInfo:
    """A ModelInfo from a TOML table (unknown keys ignored; ``caps`` as a table)."""
    fields = set(ModelInfo.__dataclass_fields__)
    values = {k: v for k, v in entry.items() if k in fields}
    if isinstance(values.get("caps"), dict):
        values["caps"] = Capabilities.from_dict(values["caps"])
    return ModelInfo(**{**values, **extra})


def manifest_entry(model_id: str) -> dict[str, Any]:
    """The raw manifest table of a model (converters read their source details from it)."""
    for entry in _read_entries(manifest_path()):
        if entry.get("id") == model_id:
            return dict(entry)
    raise ModelError(f"unknown model {model_id!r}")


def manifest_path() -> Path:
    return models_dir() / "manifest.toml"


def shipped_models() -> tuple[ModelInfo, ...]:
    """The models in models/manifest.toml, in file order."""
    return _read_manifest(manifest_path())
