"""The library of official checkpoints users may download (models/library.toml).

None of them ships with Kintsugi (no registry carries them); `download_checkpoint` fetches
one from its authors' address, resumably and verified, into the per-user models folder
and records it like an imported model, so it then loads by its id.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kintsugi.engine import importer
from kintsugi.engine.download import download
from kintsugi.engine.errors import ModelError
from kintsugi.engine.job import Job, ensure_job
from kintsugi.resources import models_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

ENGINES = ("kintsugi", "spandrel", "spandrel-extra", "none")


@dataclass(frozen=True)
class LibraryEntry:
    id: str
    name: str
    arch: str
    engine: str
    file: str
    urls: tuple[str, ...]
    licence: str
    in_size: int = 0
    out_size: int = 0
    scale: int = 1
    purpose: str = ""
    page: str = ""
    listed_in: str = ""
    sha256: str = ""
    sha256_prefix: str = ""
    size: int = 0
    non_commercial: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def downloadable(self) -> bool:
        return self.engine != "none" and bool(self.urls)

    @property
    def verification(self) -> str:
        if self.sha256:
            return "SHA-256"
        if self.sha256_prefix:
            return f"SHA-256 prefix {self.sha256_prefix}"
        return "none published"


def library_path() -> Path:
    return models_dir() / "library.toml"


def library_entries(path: Path | None = None) -> list[LibraryEntry]:
    source = path or library_path()
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ModelError(f"cannot read the model library {source}: {error}") from error
    known = set(LibraryEntry.__dataclass_fields__) - {"extra"}
    entries = []
    for raw in data.get("checkpoint", []):
        values = {k: v for k, v in raw.items() if k in known}
        values["urls"] = tuple(raw.get("urls", ()))
        extra = {k: v for k, v in raw.items() if k not in known}
        entry = LibraryEntry(**values, extra=extra)
        if entry.engine not in ENGINES:
            raise ModelError(f"library entry {entry.id}: unknown engine {entry.engine!r}")
        entries.append(entry)
    return entries


def library_entry(entry_id: str, path: Path | None = None) -> LibraryEntry:
    entries = library_entries(path)
    for entry in entries:
        if entry.id == entry_id:
            return entry
    known = ", ".join(e.id for e in entries)
    raise ModelError(f"{entry_id!r} is not in the model library; known: {known}")


def download_checkpoint(entry_id: str, job: Job | None = None, path: Path | None = None,
                        timeout: float = 30.0) -> importer.UserModel:
    """Download a library checkpoint into the user models folder and record it."""
    job = ensure_job(job)
    entry = library_entry(entry_id, path)
    if not entry.downloadable:
        raise ModelError(f"{entry.id}: {entry.notes or 'Kintsugi cannot run this model yet'}")
    if entry.engine.startswith("spandrel"):
        available, reason = importer.spandrel_status()
        if not available:
            extra = " and spandrel_extra_arches" if entry.engine == "spandrel-extra" else ""
            raise ModelError(f"{entry.id} ({entry.arch}) runs through the optional package spandrel"
                             f"{extra}, which {reason}: install it first (it needs torchvision)")
    for existing in importer.read_manifest():
        if existing.id == entry.id and existing.path.is_file():
            job.set_progress(1.0, "already downloaded")
            return existing
    folder = importer.models_folder()
    target = folder / entry.file
    download(entry.urls, target, entry.sha256 or None, job=job.sub(0.0, 0.95), timeout=timeout,
             sha256_prefix=entry.sha256_prefix or None)
    job.set_progress(0.97, "checking the weights")
    try:
        model = importer.import_model(target, model_id=entry.id, licence=entry.licence,
                                      source=entry.urls[0], move=True)
    except ModelError as error:
        # The file is kept for a later `kintsugi models import`; say where it is and why.
        raise ModelError(f"{entry.id} was downloaded to {target} but cannot be used: {error}") from error
    job.set_progress(1.0, "ready")
    return model
