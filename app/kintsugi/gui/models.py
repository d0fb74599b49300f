"""Loaded models shared by the window's worker threads."""

from __future__ import annotations

import threading
from typing import Any

_KEEP = 2  # models stay loaded for quick re-runs; each can take hundreds of MB


class ModelCache:
    """Thread-safe: the startup preload and an upscale may ask for the same model at once;
    the second caller waits for the first load instead of loading it twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], Any] = {}

    def get(self, model_id: str, device: str = "auto") -> Any:
        import kintsugi

        key = (model_id, device)
        with self._lock:
            model = self._models.pop(key, None)
            if model is None:
                model = kintsugi.load_model(model_id, device=device)
            self._models[key] = model  # most recently used last
            while len(self._models) > _KEEP:
                del self._models[next(iter(self._models))]
            return model

    def loaded(self, model_id: str, device: str = "auto") -> bool:
        with self._lock:
            return (model_id, device) in self._models


def model_caps(info: Any) -> Any:
    """A listed model's Capabilities (worker thread: it imports the architectures).

    Read from the model's info when the catalog carries them, else from its architecture's
    descriptor; None for a model whose architecture Kintsugi does not describe."""
    import kintsugi

    try:
        return kintsugi.capabilities(info)
    except (kintsugi.KintsugiError, TypeError, ValueError):
        return None
