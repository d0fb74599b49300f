"""Models users bring: `kintsugi models import FILE`.

A weights file (.safetensors, or .pth/.pt/.ckpt/.bin read with torch.load(weights_only=True):
a pickle that wants to run code is refused) is identified, copied atomically into the
per-user models folder and recorded in that folder's ``user.toml``.

Identification: Kintsugi's own layouts first (kintsugi.archs: Panini, GLEAN, StyleGAN2,
RRDBNet, ...); then, when the optional ``spandrel`` package is importable, the standard
architectures it knows (GFPGAN, RestoreFormer, SwinIR, HAT, Real-ESRGAN compact, ...; with
``spandrel_extra_arches`` also CodeFormer). Spandrel is used through a copy of its registry:
its global MAIN_REGISTRY is never changed.

``user_models()`` gives ModelInfo entries whose ``file`` is the absolute path of the copy
(ModelInfo.path then resolves to it), for the registry to list beside the shipped models.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kintsugi.archs import Capabilities
from kintsugi.engine.atomic import write_atomically
from kintsugi.engine.digest import sha256_file
from kintsugi.engine.errors import ModelError
from kintsugi.engine.manifest import WEIGHT_SUFFIXES, ModelInfo, shipped_models
from kintsugi.resources import user_data_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

MANIFEST_NAME = "user.toml"
KINTSUGI_ARCHS = ("Panini, GLEAN, GFPGAN v1.3/v1.4, CodeFormer, Real-ESRGAN/RRDBNet, RRDN, waifu2x upconv7, "
                  "RetinaFace")
SPANDREL_ARCHS = ("GFPGAN, RestoreFormer, SwinIR, Swin2SR, HAT, DAT, Real-ESRGAN compact (SRVGG), "
                  "SPAN, OmniSR, SCUNet, NAFNet and more; CodeFormer with spandrel_extra_arches")
# Said instead of "pip install spandrel", which cannot work beside the pinned torch.
SPANDREL_NEEDS = ("spandrel needs torchvision, and no torchvision release installs beside the "
                  "torch version Kintsugi is pinned to, so this file cannot be used here")
_manifest_lock = threading.Lock()


@dataclass
class UserModel:
    """One entry of user.toml."""

    id: str
    arch: str
    kind: str
    scale: int
    sha256: str
    file: str  # name inside the user models folder
    original_name: str
    engine: str = "kintsugi"  # "kintsugi" | "spandrel"
    imported: str = ""
    licence: str = "as distributed by its authors"
    source: str = ""  # download address, when it came from the library
    params: dict[str, Any] = field(default_factory=dict)
    caps: dict[str, Any] = field(default_factory=dict)  # Capabilities.to_dict(); {} if older

    @property
    def path(self) -> Path:
        return models_folder() / self.file

    def info(self) -> ModelInfo:
        return ModelInfo(
            id=self.id, name=self.original_name, arch=self.arch, kind=self.kind, scale=self.scale,
            purpose=f"imported by you ({self.engine})", licence=self.licence,
            file=str(self.path), sha256=self.sha256, params=dict(self.params),
            source={"engine": self.engine, "url": self.source, "original_name": self.original_name},
            caps=Capabilities.from_dict(self.caps) if self.caps else None,
        )


@dataclass(frozen=True)
class Identified:
    engine: str
    arch: str
    kind: str
    params: dict[str, Any]
    caps: Capabilities

    @property
    def scale(self) -> int:
        return self.caps.scale


# ----------------------------------------------------------------------------- folders


def models_folder() -> Path:
    return user_data_dir() / "models"


def manifest_path() -> Path:
    return models_folder() / MANIFEST_NAME


# ----------------------------------------------------------------------------- public API


def user_models() -> list[ModelInfo]:
    """The models the user imported or downloaded, as the registry lists them."""
    return [m.info() for m in read_manifest() if m.path.is_file()]


def read_manifest() -> list[UserModel]:
    path = manifest_path()
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ModelError(f"cannot read your model list {path}: {error}") from error
    known = set(UserModel.__dataclass_fields__)
    return [UserModel(**{k: v for k, v in entry.items() if k in known}) for entry in data.get("model", [])]


def identify(path: Path) -> Identified:
    """What network a weights file holds; ModelError with a readable reason otherwise."""
    path = Path(path)
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ModelError(
            f"{path.name}: not a weights file (Kintsugi reads {', '.join(WEIGHT_SUFFIXES)})")
    from kintsugi.engine.weights import read_description, read_state_dict, refuse_training_part

    state = read_state_dict(path)
    described = read_description(path)  # a `kintsugi train` run says what it is
    if described:
        refuse_training_part(described[0], path.name)
    try:
        found = _identify_described(*described) if described else _identify_kintsugi(state)
    except ModelError as error:
        raise ModelError(f"{path.name}: {error}") from None
    if found is not None:
        return found
    available, reason = spandrel_status()
    if not available:
        raise ModelError(
            f"{path.name}: not one of Kintsugi's own architectures ({KINTSUGI_ARCHS}). Other "
            f"standard architectures ({SPANDREL_ARCHS}) are read through the optional package "
            f"spandrel, which {reason}; {SPANDREL_NEEDS}")
    found = _identify_spandrel(state)
    if found is None:
        sample = ", ".join(list(state)[:3])
        raise ModelError(f"{path.name}: unknown model layout, neither Kintsugi nor spandrel "
                         f"recognises it (first keys: {sample})")
    return found


def import_model(path: str | Path, model_id: str | None = None, licence: str | None = None,
                 source: str = "", move: bool = False) -> UserModel:
    """Identify `path`, copy (or move) it into the user models folder, record it.

    Importing the same file (same SHA-256) again returns the existing entry.
    """
    src = Path(path)
    if not src.is_file():
        raise ModelError(f"model file not found: {src}")
    found = identify(src)
    digest = sha256_file(src)
    with _manifest_lock:
        entries = read_manifest()
        for entry in entries:
            if entry.sha256 == digest and entry.path.is_file():
                log.info("%s is already imported as %s", src.name, entry.id)
                return entry
        new_id = _unique_id(model_id or _slug(src.stem), entries, explicit=model_id is not None)
        folder = models_folder()
        folder.mkdir(parents=True, exist_ok=True)
        name = new_id + src.suffix.lower()
        target = folder / name
        if src.resolve() != target.resolve():
            _place(src, target, move)
        entry = UserModel(
            id=new_id, arch=found.arch, kind=found.kind, scale=found.scale, sha256=digest,
            file=name, original_name=src.name, engine=found.engine,
            imported=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            licence=licence or "as distributed by its authors", source=source, params=found.params,
            caps=found.caps.to_dict())
        _write_manifest([*entries, entry])
    return entry


def remove_model(model_id: str) -> None:
    """Forget a user model and delete its file."""
    with _manifest_lock:
        entries = read_manifest()
        keep = [e for e in entries if e.id != model_id]
        if len(keep) == len(entries):
            raise ModelError(f"no imported model is called {model_id!r}")
        for entry in entries:
            if entry.id == model_id:
                entry.path.unlink(missing_ok=True)
        _write_manifest(keep)


def spandrel_status() -> tuple[bool, str]:
    """(usable, reason it is not) for the optional spandrel package."""
    try:
        import spandrel  # noqa: F401
    except ImportError:
        return False, "is not installed"
    except Exception as error:  # noqa: BLE001 - e.g. torchvision built for another torch
        return False, f"cannot be loaded here ({type(error).__name__}: {error})"
    return True, ""


def spandrel_registry() -> Any:
    """A private copy of spandrel's registry (+ spandrel_extra_arches when installed)."""
    import spandrel

    registry = spandrel.MAIN_REGISTRY.copy()
    try:
        import spandrel_extra_arches
    except ImportError:
        return registry
    registry.add(*spandrel_extra_arches.EXTRA_REGISTRY, ignore_duplicates=True)
    return registry


def spandrel_network(path: Path) -> Any:
    """The nn.Module spandrel builds for a weights file (for the registry's load path)."""
    available, reason = spandrel_status()
    if not available:
        raise ModelError(f"{Path(path).name} needs the optional package spandrel, which {reason}")
    from torch import nn

    from kintsugi.engine.weights import read_state_dict

    class SpandrelNet(nn.Module):
        """Calls spandrel's descriptor, which takes and returns [0, 1] RGB like Kintsugi's."""

        def __init__(self, descriptor: Any) -> None:
            super().__init__()
            self.model = descriptor.model
            self._descriptor = descriptor

        def forward(self, x: Any) -> Any:
            return self._descriptor(x)

    return SpandrelNet(spandrel_registry().load(read_state_dict(Path(path)))).eval()


# ----------------------------------------------------------------------------- identification


def _identify_kintsugi(state: Mapping[str, Any]) -> Identified | None:
    from kintsugi.archs import detect_arch

    spec = detect_arch(state)
    if spec is None:
        return None
    params = spec.params_from_state(state)
    if spec.capabilities(params).purpose == "prior":
        # Nothing in Kintsugi runs a bare generator: importing it would only fail later.
        raise ModelError(
            f"this is a bare {spec.id} generator: a prior that restorers are built on, not a "
            "restorer itself, so Kintsugi cannot use it on its own. Panini and GLEAN "
            "checkpoints carry their own generator; import one of those instead")
    return Identified("kintsugi", spec.id, spec.kind, _plain(params), spec.capabilities(params))


def _identify_described(arch: str, params: dict[str, Any]) -> Identified:
    from kintsugi.archs import arch_by_id
    try:
        spec = arch_by_id(arch)
    except KeyError:
        raise ModelError(f"this version of Kintsugi has no {arch!r} architecture") from None
    return Identified("kintsugi", spec.id, spec.kind, _plain(params), spec.capabilities(params))


def _identify_spandrel(state: Mapping[str, Any]) -> Identified | None:
    import spandrel

    try:
        descriptor = spandrel_registry().load(dict(state))
    except spandrel.UnsupportedModelError:
        return None
    caps = spandrel_capabilities(descriptor)
    return Identified("spandrel", str(descriptor.architecture.id), caps.purpose, {}, caps)


# Spandrel's purposes; "Restoration" models (denoise, deblur, JPEG) are image-to-image like
# an upscaler, usually at x1, and run through the same tiled pipeline.
_SPANDREL_PURPOSES = {"SR": "upscaler", "Restoration": "upscaler", "FaceSR": "face-restorer"}
# spandrel's face models take FFHQ-aligned crops; 512 unless its size requirements say more.
_FACE_CROP = 512


def spandrel_capabilities(descriptor: Any) -> Capabilities:
    """Spandrel's ModelDescriptor data (purpose, scale, size, half support, tiling) as ours."""
    name = str(descriptor.architecture.name)
    purpose = _SPANDREL_PURPOSES.get(str(descriptor.purpose))
    if purpose is None:
        raise ModelError(f"{name} is a {descriptor.purpose} model; Kintsugi upscales and restores "
                         "faces but has no use for it yet")
    size = descriptor.size_requirements
    precisions = ["fp32"]
    if descriptor.supports_bfloat16:
        precisions.append("bf16")
    if descriptor.supports_half:
        precisions.append("fp16")
    face = purpose == "face-restorer"
    return Capabilities(
        purpose=purpose,
        scale=max(1, int(descriptor.scale)),
        input_size=max(_FACE_CROP, int(size.minimum)) if face else None,
        size_multiple=int(size.multiple_of),
        precisions=tuple(precisions),
        # DISCOURAGED (global attention) and INTERNAL (tiles itself) both mean: whole image.
        tiles=not face and descriptor.tiling.name == "SUPPORTED",
    )


def _plain(value: Any) -> Any:
    """Params as TOML can store them: tuples become lists, keys strings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# ----------------------------------------------------------------------------- files


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")
    return slug or "model"


def _unique_id(wanted: str, entries: list[UserModel], explicit: bool) -> str:
    taken = {e.id for e in entries} | {m.id for m in shipped_models()}
    wanted = _slug(wanted)
    if wanted not in taken:
        return wanted
    if explicit:
        raise ModelError(f"a model called {wanted!r} already exists; choose another id")
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def _place(src: Path, target: Path, move: bool) -> None:
    """Copy (or move) into the folder atomically: the target is absent or complete."""
    if move:
        try:
            os.replace(src, target)
            return
        except OSError:
            pass  # another file system: copy, then remove the source
    try:
        with open(src, "rb") as inp:
            write_atomically(target, iter(lambda: inp.read(1 << 20), b""))
    except OSError as error:
        raise ModelError(f"cannot copy {src.name} into {target.parent} ({error.strerror or error})") from None
    if move:
        src.unlink(missing_ok=True)


def _write_manifest(entries: list[UserModel]) -> None:
    import tomli_w  # a real TOML writer: any Unicode (emoji file names included) round-trips

    text = tomli_w.dumps({"model": [_plain(asdict(entry)) for entry in entries]})
    path = manifest_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Models you imported or downloaded; written by Kintsugi.\n\n"
    try:
        write_atomically(path, (header + text).encode("utf-8"))
    except OSError as error:
        raise ModelError(f"cannot write your model list {path} ({error.strerror or error})") from None
