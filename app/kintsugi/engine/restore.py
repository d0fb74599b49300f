"""GAN-prior restoration of whole photos: background upscaled, each face aligned, restored
by the face model and pasted back; or one aligned face crop run directly (faces=None).

Controls (each changes the result, see tests/engine/test_restore.py):
- bias / bias_blocks / bias_map: Panini's mask bias (+ = more GAN prior / realness,
  - = more of the input / fidelity). Models without a mask refuse a bias rather than
  ignore it. The map is in photo coordinates and follows each face into aligned space.
- faces: "all", indices in reading order, a minimum face size in px, or None.
- background: an upscaler id / Model / weights file, "bicubic", or None (the default upscaler).
- consistency: the whole result, shrunk back by the scale, equals the input exactly.
- seed: re-draws the generator's noise (fine detail such as hair strands and pores):
  alternative restorations of the same photo. None = the model's stored noise.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from kintsugi import __version__
from kintsugi.archs.stylegan2 import StyleGAN2Generator
from kintsugi.engine import facepaste
from kintsugi.engine.consistency import lock_to
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.imageio import Image
from kintsugi.engine.job import Job, ensure_job
from kintsugi.engine.registry import Model, default_model_id, load_model

log = logging.getLogger(__name__)

BICUBIC = "bicubic"
# A 16x face model must not turn a 2000 px photo into a 32000 px one: the photo scale is
# the model's, capped here and by an output pixel budget.
MAX_PHOTO_SCALE = 4
MAX_OUTPUT_PIXELS = 100_000_000
_noise_lock = threading.Lock()


# ----------------------------------------------------------------------------- public API


# An upscaler (model, id, file), "bicubic", None for the default upscaler, or the already
# upscaled pixels.
Background = Model | str | Path | np.ndarray | None


def restore(
    image: Image,
    model: Model | str | Path,
    bias: float = 0.0,
    bias_blocks: Mapping[int, float] | None = None,
    bias_map: np.ndarray | None = None,
    faces: facepaste.FaceSelection = "all",
    background: Background = None,
    consistency: bool = False,
    seed: int | None = None,
    job: Job | None = None,
    color_match: bool = True,
    scale: int | None = None,
    device: str = "auto",
    known_faces: list[facepaste.Face] | None = None,
) -> Image:
    """Restore `image` with a face / GAN-prior model (Panini, GLEAN, ...).

    faces=None: the image is an aligned face crop of the model's input size; the result is
    the model's output (out_size square). Otherwise faces are detected, restored and pasted
    into the background upscaled by `scale` (default: the model's, at most MAX_PHOTO_SCALE).
    bias_map: HxW float array (any size; stretched over the photo, or over the crop when
    faces=None), values added to the mask bias where they lie.
    Interactive callers re-running one photo (a bias preview) may pass what does not change:
    `known_faces` (from find_faces) and `background` as the already upscaled HxWx3 pixels.
    """
    job = ensure_job(job)
    if not isinstance(model, Model):
        model = load_model(model, device)
    runner = FaceRunner(model, bias, bias_blocks, seed, has_map=bias_map is not None)
    if faces is None:
        return _restore_crop(image, runner, bias_map, consistency, job)
    return _restore_photo(image, runner, bias_map, faces, background, consistency, job,
                          color_match, scale, device, known_faces)


def restore_provenance(model: Model, scale: int, consistency: bool, bias: float = 0.0,
                       bias_blocks: Mapping[int, float] | None = None, bias_map: bool = False,
                       faces: facepaste.FaceSelection = "all", background: str | None = None,
                       seed: int | None = None) -> dict[str, str]:
    """What changed the photo, for save_image(provenance=...)."""
    info = {
        "software": f"Kintsugi {__version__}",
        "operation": "restore",
        "model": model.info.id,
        "scale": str(scale),
        "consistency": "on" if consistency else "off",
        "bias": f"{float(bias):g}",
        "faces": _faces_text(faces),
    }
    if bias_blocks:
        info["bias_blocks"] = ",".join(f"{k}={float(v):g}" for k, v in sorted(bias_blocks.items()))
    if bias_map:
        info["bias_map"] = "yes"
    if faces is not None:
        info["background"] = background or default_model_id()
    if seed is not None:
        info["seed"] = str(seed)
    return info


def photo_scale(model: Model, width: int, height: int, scale: int | None = None) -> int:
    """The photo's enlargement: the face model's out/in ratio, capped sensibly."""
    if scale is not None:
        if int(scale) < 1:
            raise KintsugiError(f"scale must be a whole number of at least 1, not {scale}")
        return int(scale)
    in_size, out_size = model_sizes(model)
    wanted = max(1, out_size // in_size)
    budget = max(1, int((MAX_OUTPUT_PIXELS / max(1, width * height)) ** 0.5))
    return max(1, min(wanted, MAX_PHOTO_SCALE, budget))


def model_sizes(model: Model) -> tuple[int, int]:
    """(input, output) side of a face model's square crops."""
    net = model.net
    in_size = getattr(net, "in_size", None) or model.info.params.get("in_size")
    if not in_size:
        raise KintsugiError(f"{model.info.id} is not a face model (it has no fixed input size)")
    out_size = getattr(net, "out_size", None) or model.info.params.get("out_size")
    out_size = out_size or int(in_size) * max(1, model.scale)
    return int(in_size), int(out_size)


def find_faces(pixels: np.ndarray, device: str = "cpu") -> list[facepaste.Face]:
    """Faces of an RGB [0, 1] photo in reading order: the numbering `faces=[...]` uses."""
    from kintsugi.engine.faces import detect_faces

    return facepaste.order_faces(detect_faces(_as_rgb(pixels), _detector(device)))


# ----------------------------------------------------------------------------- the model


class FaceRunner:
    """Runs a face model on aligned crops with the user's bias and seed."""

    def __init__(self, model: Model, bias: float, bias_blocks: Mapping[int, float] | None,
                 seed: int | None, has_map: bool) -> None:
        self.model = model
        self.in_size, self.out_size = model_sizes(model)
        self.bias = float(bias)
        self.bias_blocks = {int(k): float(v) for k, v in (bias_blocks or {}).items()}
        self.seed = seed
        self._check_bias(has_map)
        self._check_seed()

    @property
    def crop_scale(self) -> float:
        return self.out_size / self.in_size

    @property
    def core(self) -> nn.Module:
        """The network inside the [0, 1] wrapper (Panini, GLEAN, ...)."""
        return getattr(self.model.net, "net", self.model.net)

    def _check_bias(self, has_map: bool) -> None:
        wants_bias = self.bias != 0.0 or any(v != 0.0 for v in self.bias_blocks.values()) or has_map
        if not wants_bias:
            return
        params = inspect.signature(self.core.forward).parameters
        if "bias" not in params:
            raise KintsugiError(
                f"{self.model.info.id} ({self.model.info.arch}) has no mask to bias; the bias "
                "controls work with Panini models only")
        slots = getattr(self.core, "slots", None)
        bad = [] if slots is None else [k for k in self.bias_blocks if not 0 <= k < slots]
        if bad and slots is not None:
            raise KintsugiError(
                f"bias block {bad[0]} does not exist: {self.model.info.id} has blocks 0 to {slots - 1} "
                "(0 = 4x4, coarsest)")

    def _check_seed(self) -> None:
        if self.seed is not None and self._generator() is None:
            raise KintsugiError(
                f"{self.model.info.id} ({self.model.info.arch}) draws no random noise; a seed "
                "would change nothing")

    def _generator(self) -> StyleGAN2Generator | None:
        gen = getattr(self.core, "generator", None)
        return gen if isinstance(gen, StyleGAN2Generator) else None

    def run(self, crop: np.ndarray, bias_map: np.ndarray | None = None, seed_offset: int = 0
            ) -> np.ndarray:
        """crop (in, in, 3) [0, 1] -> (out, out, 3), unclamped model output."""
        model = self.model
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]
        x = x.to(device=model.device, dtype=model.dtype)
        kwargs = self._bias_kwargs(bias_map)
        seed = None if self.seed is None else self.seed + seed_offset
        with torch.inference_mode(), self._noise(seed):
            y = model.net(x, **kwargs)
        if isinstance(y, tuple):
            y = y[0]
        out = y[0].float().cpu().numpy().transpose(1, 2, 0)
        if out.shape[:2] != (self.out_size, self.out_size):
            raise KintsugiError(
                f"{model.info.id} returned {out.shape[1]}x{out.shape[0]}, expected {self.out_size}px")
        return np.ascontiguousarray(out, dtype=np.float32)

    def _bias_kwargs(self, bias_map: np.ndarray | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.bias != 0.0:
            kwargs["bias"] = self.bias
        if any(v != 0.0 for v in self.bias_blocks.values()):
            kwargs["bias_blocks"] = dict(self.bias_blocks)
        if bias_map is not None:
            t = torch.from_numpy(np.ascontiguousarray(bias_map, dtype=np.float32))[None, None]
            kwargs["bias_map"] = t.to(device=self.model.device, dtype=self.model.dtype)
        return kwargs

    @contextmanager
    def _noise(self, seed: int | None) -> Iterator[None]:
        """Swap the generator's stored noise for seeded noise during one forward pass."""
        gen = self._generator()
        if seed is None or gen is None:
            yield
            return
        with _noise_lock:
            names = [f"noise_{j}" for j in range(gen.num_noises)]
            saved = [getattr(gen, n) for n in names]
            try:
                for name, noise in zip(names, gen.seeded_noises(int(seed)), strict=True):
                    setattr(gen, name, noise)
                yield
            finally:
                for name, noise in zip(names, saved, strict=True):
                    setattr(gen, name, noise)


# ----------------------------------------------------------------------------- crop mode


def _restore_crop(image: Image, runner: FaceRunner, bias_map: np.ndarray | None,
                  consistency: bool, job: Job) -> Image:
    size = runner.in_size
    if (image.width, image.height) != (size, size):
        raise KintsugiError(
            f"an aligned face crop for {runner.model.info.id} must be {size}x{size} px, not "
            f"{image.width}x{image.height}; restore the whole photo instead (faces='all')")
    rgb = _as_rgb(image.pixels)
    job.check()
    job.set_progress(0.05, "restoring the face")
    local_map = None if bias_map is None else _resize(bias_map, size, size)
    out = runner.run(rgb, local_map)
    if consistency:
        out = _lock(out, image, runner.out_size // runner.in_size)
    np.clip(out, 0.0, 1.0, out=out)
    job.set_progress(1.0, "done")
    return _result(image, out, runner.out_size // runner.in_size)


# ----------------------------------------------------------------------------- photo mode


def _restore_photo(image: Image, runner: FaceRunner, bias_map: np.ndarray | None,
                   which: facepaste.FaceSelection, background: Background,
                   consistency: bool, job: Job, color_match: bool, scale: int | None,
                   device: str, known_faces: list[facepaste.Face] | None) -> Image:
    rgb = _as_rgb(image.pixels)
    s = photo_scale(runner.model, image.width, image.height, scale)
    job.set_progress(0.0, "finding faces")
    found = known_faces if known_faces is not None else find_faces(rgb, str(runner.model.device))
    chosen = facepaste.select_faces(found, which)
    log.info("restore: %d face(s) found, %d chosen, photo x%d", len(found), len(chosen), s)
    if not chosen:
        log.warning("no face to restore (%d found); only the background is upscaled", len(found))
    canvas = background_pixels(image, s, background, device, job.sub(0.02, 0.38))
    photo_map = None if bias_map is None else _resize(bias_map, image.width, image.height)
    placements = facepaste.place_faces(chosen, runner.in_size)
    face_job = job.sub(0.4, 0.55)
    for n, place in enumerate(placements):
        face_job.check()
        face_job.set_progress(n / max(1, len(placements)), f"face {n + 1} of {len(placements)}")
        crop = facepaste.align_face(rgb, place)
        local_map = None if photo_map is None else facepaste.align_map(photo_map, place)
        restored = runner.run(crop, local_map, seed_offset=place.index)
        matrix_out = facepaste.rescale_matrix(place.matrix, s, runner.crop_scale)
        facepaste.paste_face(canvas, restored, matrix_out, color_match=color_match)
    job.check()
    if consistency:
        job.set_progress(0.96, "consistency lock")
        canvas = _lock(canvas, image, s)
    np.clip(canvas, 0.0, 1.0, out=canvas)
    job.set_progress(1.0, "done")
    return _result(image, canvas, s)


def background_pixels(image: Image, s: int, background: Background, device: str = "auto",
                      job: Job | None = None) -> np.ndarray:
    """The photo upscaled s times for faces to be pasted into (a fresh array each call)."""
    job = ensure_job(job)
    rgb = _as_rgb(image.pixels)
    if isinstance(background, np.ndarray):
        if background.shape != (image.height * s, image.width * s, 3):
            raise KintsugiError("the given background does not match the photo at this scale")
        return np.array(background, dtype=np.float32)
    if s == 1:
        return rgb.copy()
    if isinstance(background, str) and background.lower() == BICUBIC:
        return cv2.resize(rgb, (image.width * s, image.height * s), interpolation=cv2.INTER_CUBIC)
    from kintsugi.engine.pipeline import upscale

    upscaler = default_model_id() if background is None else background
    upscaler = str(upscaler) if isinstance(upscaler, Path) else upscaler
    plain = image.replace(pixels=rgb, alpha=None)
    job.set_progress(0.0, "upscaling the background")
    return np.array(upscale(plain, upscaler, scale=s, device=device, job=job).pixels, dtype=np.float32)


# ----------------------------------------------------------------------------- helpers


@lru_cache(maxsize=2)
def _detector(device: str) -> nn.Module:
    from kintsugi.engine.faces import load_detector

    return load_detector(device)


def _lock(out: np.ndarray, image: Image, s: int) -> np.ndarray:
    if out.shape[:2] != (image.height * s, image.width * s):
        raise KintsugiError("the consistency lock needs an output exactly scale x the input")
    return lock_to(out, image.pixels, s, image.bit_depth)


def _result(image: Image, rgb: np.ndarray, s: int) -> Image:
    pixels = rgb.mean(axis=2, keepdims=True) if image.is_gray else rgb
    alpha = None
    if image.alpha is not None:
        alpha = np.clip(_resize(image.alpha, image.width * s, image.height * s), 0.0, 1.0)
    return image.replace(pixels=np.ascontiguousarray(pixels, dtype=np.float32), alpha=alpha)


def _resize(values: np.ndarray, width: int, height: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim != 2:
        raise KintsugiError(f"a bias map must be a single-channel HxW array, got shape {values.shape}")
    if values.shape == (height, width):
        return values
    shrinking = values.shape[1] > width
    method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(values, (width, height), interpolation=method)


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2), dtype=np.float32)
    return np.ascontiguousarray(pixels[..., :3], dtype=np.float32)


def _faces_text(faces: facepaste.FaceSelection) -> str:
    if faces is None:
        return "aligned crop"
    if isinstance(faces, str):
        return faces
    if isinstance(faces, (int, np.integer)):
        return f"min {int(faces)} px"
    return ",".join(str(int(i)) for i in faces)
