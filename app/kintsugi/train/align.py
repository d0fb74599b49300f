"""Aligned face crops for the face targets, made with the face detector Kintsugi restores with.

The GAN-prior methods learn on faces aligned to the FFHQ template, and at restore time
Kintsugi aligns every face the same way (shipped RetinaFace landmarks, a similarity fitted
to the five-point template, :mod:`kintsugi.engine.facepaste`). Training on the same
alignment means a trained model sees faces where it will later be given them.

* Every face in a photo whose detected box is at least :data:`MIN_FACE` pixels becomes one
  training crop (a group photo gives several); smaller faces are mostly blur and are left
  out. Photos with no such face are skipped, and the count is logged.
* Detection runs once per photo per run: the crops are cached as PNG files in
  ``RUN/aligned-<size>/`` with ``index.json`` (file size and modification time per photo,
  so an edited photo is aligned again). A resumed run, and every rank but 0 under
  torchrun, read the cache instead of detecting.
* ``--no-align`` skips all this for datasets that are aligned already (FFHQ, CelebA-HQ):
  the trainer then takes each photo's centre square.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image as PILImage

from kintsugi.engine import facepaste
from kintsugi.engine.errors import ImageReadError
from kintsugi.engine.faces import detect_faces, load_detector
from kintsugi.engine.imageio import open_image
from kintsugi.engine.imageio.image import as_rgb
from kintsugi.train.checkpoint import write_file
from kintsugi.train.data import TrainDataError

log = logging.getLogger(__name__)

MIN_FACE = 32  # px, the larger side of the detected box in the photo
INDEX = "index.json"


@dataclass
class AlignedFaces:
    crops: list[torch.Tensor]  # (3, size, size) float32 in [0, 1]
    names: list[str]  # "<photo name>#<face number>"
    without_face: int  # photos skipped because no face was found
    with_face: list[Path]  # the photos that gave at least one crop


def cache_folder(run: Path, size: int) -> Path:
    return run / f"aligned-{size}"


def aligned_faces(files: list[Path], size: int, cache: Path, device: str = "cpu") -> AlignedFaces:
    """The aligned faces of ``files`` at ``size`` px, from the cache where it is current.

    Under torchrun, rank 0 detects and fills the cache while the other ranks wait at a
    barrier, then read it: detection runs once, not once per rank.
    """
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    if distributed and rank != 0:
        dist.barrier()
    try:
        found = _align_all(files, size, cache, device, write=rank == 0)
    finally:
        if distributed and rank == 0:
            dist.barrier()
    return found


def _align_all(files: list[Path], size: int, cache: Path, device: str, write: bool) -> AlignedFaces:
    index = _read_index(cache)
    detector: Any = None
    out = AlignedFaces([], [], 0, [])
    changed = False
    for path in files:
        key = str(path.resolve())
        stamp = _stamp(path)
        entry = index.get(key)
        if entry is not None and entry["stamp"] == stamp and all((cache / n).is_file() for n in entry["crops"]):
            crops = [_read_png(cache / name) for name in entry["crops"]]
        else:
            if detector is None:
                detector = _detector(device)
            try:
                crops = _align_photo(path, size, detector)
            except ImageReadError as error:
                log.warning("skipping %s: %s", path.name, error)
                continue
            prefix = hashlib.sha1(key.encode()).hexdigest()[:16]
            entry = {"stamp": stamp, "crops": [f"{prefix}-{i}.png" for i in range(len(crops))]}
            index[key] = entry
            changed = True
            if write:
                for name, crop in zip(entry["crops"], crops, strict=True):
                    write_file(_png(crop), cache / name)
        if not crops:
            out.without_face += 1
        else:
            out.with_face.append(path)
        out.crops += crops
        out.names += [f"{path.name}#{i}" for i in range(len(crops))]
    if changed and write:
        write_file(json.dumps(index, indent=1).encode(), cache / INDEX)
    if out.without_face:
        log.warning("%d of %d photos have no face of %d px or more and were skipped", out.without_face,
                    len(files), MIN_FACE)
    if not out.crops:
        raise TrainDataError(f"no face of {MIN_FACE} px or more was found in {len(files)} photo(s); "
                             "if they are aligned face crops already, pass --no-align")
    return out


def _detector(device: str) -> Any:
    return load_detector(device)


def _align_photo(path: Path, size: int, detector: Any) -> list[torch.Tensor]:
    rgb = np.ascontiguousarray(as_rgb(open_image(path).pixels), dtype=np.float32)
    faces = [f for f in detect_faces(rgb, detector) if facepaste.face_size(f) >= MIN_FACE]
    chosen = facepaste.select_faces(faces, "all")
    crops = [facepaste.align_face(rgb, place) for place in facepaste.place_faces(chosen, size)]
    # Through 8 bits, as the cache stores them, so a first run and a resumed one see the same.
    return [_from_uint8(_to_uint8(crop)) for crop in crops]


def _stamp(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def _read_index(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads((cache / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _to_uint8(crop: np.ndarray) -> np.ndarray:
    return (np.clip(crop, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _from_uint8(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def _png(crop: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    array = (crop.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _read_png(path: Path) -> torch.Tensor:
    with PILImage.open(path) as image:
        return _from_uint8(np.asarray(image.convert("RGB")))
