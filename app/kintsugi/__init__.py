"""Kintsugi: faithful photo upscaling and GAN-prior restoration.

The public API is imported lazily so that `import kintsugi` (and the window) start before
torch is loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as mypy sees them; at run time __getattr__ imports them
    from kintsugi.engine.alt_session import (
        AltSession,
        Setting,
        brush_mix,
        crop_region,
        mix_note,
        pair_for,
        paste_region,
        strip_settings,
    )
    from kintsugi.engine.alternatives import DEFAULT_MIX, adjust_detail, blend
    from kintsugi.engine.batch import (
        BatchEvent,
        BatchItem,
        BatchOptions,
        BatchSummary,
        check_mix,
        make_work,
        mix_for,
        plan_batch,
        run_batch,
    )
    from kintsugi.engine.catalog import capabilities, default_model_id, list_models
    from kintsugi.engine.cluster import run_batch_on_ray
    from kintsugi.engine.device import set_threads
    from kintsugi.engine.digest import sha256_file
    from kintsugi.engine.download import part_path
    from kintsugi.engine.errors import Cancelled, KintsugiError
    from kintsugi.engine.heal import (
        DEFAULT_FACTOR,
        DEFAULT_FEATHER,
        MAX_FACTOR,
        MAX_FEATHER,
        MIN_FACTOR,
        default_healer,
        heal,
    )
    from kintsugi.engine.imageio import Image, Metadata, open_image, read_provenance, save_image
    from kintsugi.engine.importer import import_model, models_folder, read_manifest, spandrel_status
    from kintsugi.engine.job import Job
    from kintsugi.engine.library import download_checkpoint, library_entries, library_entry
    from kintsugi.engine.manifest import WEIGHT_SUFFIXES, ModelInfo
    from kintsugi.engine.photo_sessions import (
        Brush,
        PhotoCache,
        SessionStore,
        brush_from_masks,
        face_frame,
        run_restore,
    )
    from kintsugi.engine.pipeline import deviation_map, upscale
    from kintsugi.engine.provenance import (
        alternative_note,
        heal_note,
        restore_note,
        side_output_note,
        upscale_note,
    )
    from kintsugi.engine.registry import Model, load_model
    from kintsugi.engine.restore import find_faces, restore
    from kintsugi.engine.session import RestoreSession
    from kintsugi.engine.spec import Controls, RestoreSpec, TilePolicy

__version__ = "0.1.0"

# The public API, and the one door the shells (kintsugi.cli, kintsugi.gui) use into the engine
# (docs/adr/0006-one-engine-facade.md): name -> module that defines it, imported on first use.
_API = {
    # images and their files
    "Image": "kintsugi.engine.imageio",
    "Metadata": "kintsugi.engine.imageio",
    "open_image": "kintsugi.engine.imageio",
    "save_image": "kintsugi.engine.imageio",
    "output_format_for": "kintsugi.engine.imageio",
    "read_provenance": "kintsugi.engine.imageio",
    # models: the catalog, loading, importing and downloading
    "ModelInfo": "kintsugi.engine.manifest",
    "WEIGHT_SUFFIXES": "kintsugi.engine.manifest",
    "Model": "kintsugi.engine.registry",
    "list_models": "kintsugi.engine.catalog",
    "default_model_id": "kintsugi.engine.catalog",
    "load_model": "kintsugi.engine.registry",
    "capabilities": "kintsugi.engine.catalog",
    "import_model": "kintsugi.engine.importer",
    "read_manifest": "kintsugi.engine.importer",
    "models_folder": "kintsugi.engine.importer",
    "spandrel_status": "kintsugi.engine.importer",
    "library_entries": "kintsugi.engine.library",
    "library_entry": "kintsugi.engine.library",
    "download_checkpoint": "kintsugi.engine.library",
    "part_path": "kintsugi.engine.download",
    "sha256_file": "kintsugi.engine.digest",
    # jobs, errors, compute
    "Job": "kintsugi.engine.job",
    "KintsugiError": "kintsugi.engine.errors",
    "Cancelled": "kintsugi.engine.errors",
    "set_threads": "kintsugi.engine.device",
    # settings: one record per kind
    "RestoreSpec": "kintsugi.engine.spec",
    "Controls": "kintsugi.engine.spec",
    "TilePolicy": "kintsugi.engine.spec",
    # upscaling and its alternatives
    "upscale": "kintsugi.engine.pipeline",
    "deviation_map": "kintsugi.engine.pipeline",
    "adjust_detail": "kintsugi.engine.alternatives",
    "blend": "kintsugi.engine.alternatives",
    "DEFAULT_MIX": "kintsugi.engine.alternatives",
    "AltSession": "kintsugi.engine.alt_session",
    "Setting": "kintsugi.engine.alt_session",
    "brush_mix": "kintsugi.engine.alt_session",
    "mix_note": "kintsugi.engine.alt_session",
    "pair_for": "kintsugi.engine.alt_session",
    "strip_settings": "kintsugi.engine.alt_session",
    "crop_region": "kintsugi.engine.alt_session",
    "paste_region": "kintsugi.engine.alt_session",
    # restoring faces
    "restore": "kintsugi.engine.restore",
    "find_faces": "kintsugi.engine.restore",
    "RestoreSession": "kintsugi.engine.session",
    "PhotoCache": "kintsugi.engine.photo_sessions",
    "SessionStore": "kintsugi.engine.photo_sessions",
    "Brush": "kintsugi.engine.photo_sessions",
    "brush_from_masks": "kintsugi.engine.photo_sessions",
    "run_restore": "kintsugi.engine.photo_sessions",
    "face_frame": "kintsugi.engine.photo_sessions",
    # healing
    "heal": "kintsugi.engine.heal",
    "default_healer": "kintsugi.engine.heal",
    "DEFAULT_FACTOR": "kintsugi.engine.heal",
    "MIN_FACTOR": "kintsugi.engine.heal",
    "MAX_FACTOR": "kintsugi.engine.heal",
    "DEFAULT_FEATHER": "kintsugi.engine.heal",
    "MAX_FEATHER": "kintsugi.engine.heal",
    # provenance notes
    "upscale_note": "kintsugi.engine.provenance",
    "restore_note": "kintsugi.engine.provenance",
    "alternative_note": "kintsugi.engine.provenance",
    "heal_note": "kintsugi.engine.provenance",
    "side_output_note": "kintsugi.engine.provenance",
    # batches
    "BatchOptions": "kintsugi.engine.batch",
    "BatchItem": "kintsugi.engine.batch",
    "BatchEvent": "kintsugi.engine.batch",
    "BatchSummary": "kintsugi.engine.batch",
    "plan_batch": "kintsugi.engine.batch",
    "run_batch": "kintsugi.engine.batch",
    "make_work": "kintsugi.engine.batch",
    "check_mix": "kintsugi.engine.batch",
    "mix_for": "kintsugi.engine.batch",
    "run_batch_on_ray": "kintsugi.engine.cluster",
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
