"""One catalog of models: the shipped ones (models/manifest.toml) and the user's imports.

Plain data, no torch: the window lists models before torch loads. Only ``capabilities`` of
a model whose record holds none (a shipped model, an import from before capabilities were
recorded) builds nothing but imports its architecture module to describe it.
"""

from __future__ import annotations

from kintsugi.archs import Capabilities
from kintsugi.engine.errors import ModelError
from kintsugi.engine.importer import user_models
from kintsugi.engine.manifest import ModelInfo, shipped_models


def list_models(kind: str | None = None) -> list[ModelInfo]:
    """Shipped models, then the ones the user imported or downloaded."""
    models = [*shipped_models(), *user_models()]
    return [m for m in models if kind is None or m.kind == kind]


def default_model_id() -> str:
    for info in shipped_models():
        if info.default:
            return info.id
    raise ModelError("the model manifest names no default model")


def model_info(model_id: str) -> ModelInfo:
    models = list_models()
    for info in models:
        if info.id == model_id:
            return info
    known = ", ".join(m.id for m in models)
    raise ModelError(f"unknown model {model_id!r}; known models: {known}")


def capabilities(info: ModelInfo) -> Capabilities:
    """What a listed model can do: its recorded capabilities, or its architecture's."""
    if info.caps is not None:
        return info.caps
    if info.source.get("engine") == "spandrel":
        # Imported before capabilities were recorded: only kind and scale are known.
        purpose = "face-restorer" if info.kind == "face-restorer" else "upscaler"
        return Capabilities(purpose=purpose, scale=max(1, info.scale))
    from kintsugi.archs import arch_by_id  # the architecture module imports torch

    try:
        spec = arch_by_id(info.arch)
    except KeyError:
        raise ModelError(f"{info.id}: this version of Kintsugi has no {info.arch!r} "
                         "architecture") from None
    return spec.capabilities(info.params)
