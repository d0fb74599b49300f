"""Kintsugi: faithful photo upscaling and GAN-prior restoration.

The public API is imported lazily so that `import kintsugi` (and the window) start before
torch is loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "Image": "kintsugi.engine.imageio",
    "Metadata": "kintsugi.engine.imageio",
    "open_image": "kintsugi.engine.imageio",
    "save_image": "kintsugi.engine.imageio",
    "read_provenance": "kintsugi.engine.imageio",
    "ModelInfo": "kintsugi.engine.manifest",
    "Model": "kintsugi.engine.registry",
    "list_models": "kintsugi.engine.catalog",
    "default_model_id": "kintsugi.engine.catalog",
    "load_model": "kintsugi.engine.registry",
    "upscale": "kintsugi.engine.pipeline",
    "deviation_map": "kintsugi.engine.pipeline",
    "restore": "kintsugi.engine.restore",
    "restore_provenance": "kintsugi.engine.restore",
    "find_faces": "kintsugi.engine.restore",
    "RestoreSession": "kintsugi.engine.session",
    "adjust_detail": "kintsugi.engine.alternatives",
    "blend": "kintsugi.engine.alternatives",
    "DEFAULT_MIX": "kintsugi.engine.alternatives",
    "heal": "kintsugi.engine.heal",
    "provenance_for": "kintsugi.engine.pipeline",
    "Job": "kintsugi.engine.job",
    "KintsugiError": "kintsugi.engine.errors",
    "Cancelled": "kintsugi.engine.errors",
    "BatchOptions": "kintsugi.engine.batch",
    "BatchItem": "kintsugi.engine.batch",
    "BatchEvent": "kintsugi.engine.batch",
    "BatchSummary": "kintsugi.engine.batch",
    "plan_batch": "kintsugi.engine.batch",
    "run_batch": "kintsugi.engine.batch",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'kintsugi' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
