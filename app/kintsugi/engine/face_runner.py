"""Running a face model on a photo's faces: the parts a restore session is made of.

FaceRunner runs the network on aligned crops, split where the network allows into a part
that does not depend on the controls (cached by a session) and a part that does; the rest
places the faces in the photo: the photo's scale, the upscaled background, colour matching
and the result's final form (consistency lock, grey, alpha).
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from kintsugi.archs.stylegan2 import StyleGAN2Generator, UnitRangeWrapper
from kintsugi.engine import facepaste
from kintsugi.engine.consistency import lock_to
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.imageio.image import Image, as_rgb
from kintsugi.engine.job import Job, ensure_job
from kintsugi.engine.registry import Model, default_model_id
from kintsugi.engine.spec import Controls
from kintsugi.engine.tiling import cancel_inside

log = logging.getLogger(__name__)

BICUBIC = "bicubic"
# A 16x face model must not turn a 2000 px photo into a 32000 px one: the photo scale is
# the model's, capped here and by an output pixel budget.
MAX_PHOTO_SCALE = 4
MAX_OUTPUT_PIXELS = 100_000_000
_noise_lock = threading.Lock()

# An upscaler (model, id, file), "bicubic", None for the default upscaler, or the already
# upscaled pixels.
Background = Model | str | Path | np.ndarray | None


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

    return facepaste.order_faces(detect_faces(as_rgb(pixels), _detector(device)))


# ----------------------------------------------------------------------------- the model

class FaceRunner:
    """Runs a face model on aligned crops, in two parts when the network allows:
    ``prepare`` (independent of the controls, cached by a session) and ``finish``."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.in_size, self.out_size = model_sizes(model)

    @property
    def crop_scale(self) -> float:
        return self.out_size / self.in_size

    @property
    def core(self) -> nn.Module:
        """The network inside the [0, 1] wrapper (Panini, GLEAN, ...)."""
        return getattr(self.model.net, "net", self.model.net)

    @property
    def _split(self) -> bool:
        """Whether the network computes its control-independent part separately."""
        return isinstance(self.model.net, UnitRangeWrapper) and hasattr(self.core, "prepare")

    # -- controls ------------------------------------------------------------------------
    def check(self, controls: Controls) -> None:
        """Refuse a control this model does not have (rather than ignore it)."""
        self._check_bias(controls)
        self._check_fidelity(controls)
        if controls.seed is not None and self._generator() is None:
            raise KintsugiError(
                f"{self.model.info.id} ({self.model.info.arch}) draws no random noise; a seed "
                "would change nothing")

    def _check_bias(self, controls: Controls) -> None:
        if not controls.wants_bias:
            return
        params = inspect.signature(self.core.forward).parameters
        if "bias" not in params:
            hint = " (CodeFormer's control is fidelity)" if self.model.caps.fidelity_weight else ""
            raise KintsugiError(
                f"{self.model.info.id} ({self.model.info.arch}) has no mask to bias; the bias "
                f"controls work with Panini models only{hint}")
        slots = getattr(self.core, "slots", None)
        bad = [] if slots is None else [k for k, _v in controls.bias_blocks if not 0 <= k < slots]
        if bad and slots is not None:
            raise KintsugiError(
                f"bias block {bad[0]} does not exist: {self.model.info.id} has blocks 0 to {slots - 1} "
                "(0 = 4x4, coarsest)")

    def _check_fidelity(self, controls: Controls) -> None:
        if controls.fidelity is None:
            return
        if not self.model.caps.fidelity_weight:
            raise KintsugiError(
                f"{self.model.info.id} ({self.model.info.arch}) has no fidelity weight; it is "
                "CodeFormer's control (Panini's is the mask bias)")
        if not 0.0 <= controls.fidelity <= 1.0:
            raise KintsugiError(f"fidelity must lie between 0 and 1, not {controls.fidelity:g}")

    def _generator(self) -> StyleGAN2Generator | None:
        return next((m for m in self.core.modules() if isinstance(m, StyleGAN2Generator)), None)

    # -- running -------------------------------------------------------------------------
    def tensor(self, crop: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]
        return x.to(device=self.model.device, dtype=self.model.dtype)

    def prepare(self, crop: np.ndarray, job: Job) -> Any:
        """crop (in, in, 3) [0, 1] -> what `finish` needs (features, or the input itself)."""
        x = self.tensor(crop)
        if not self._split:
            return x
        assert isinstance(self.model.net, UnitRangeWrapper)
        core: Any = self.core
        with torch.inference_mode(), cancel_inside(core, job):
            return core.prepare(self.model.net.from_unit(x))

    def finish(self, prepared: Any, controls: Controls, bias_map: np.ndarray | None,
               seed_offset: int, job: Job) -> np.ndarray:
        """The control-dependent pass -> (out, out, 3), unclamped model output in [0, 1] space."""
        kwargs = self._kwargs(controls, bias_map)
        seed = None if controls.seed is None else controls.seed + seed_offset
        net, core = self.model.net, self.core
        finish: Any = getattr(core, "finish", None)
        with torch.inference_mode(), self._noise(seed), cancel_inside(net, job):
            if self._split:
                assert isinstance(net, UnitRangeWrapper)
                y = net.to_unit(finish(prepared, **kwargs))
            else:
                y = net(prepared, **kwargs)
        if isinstance(y, tuple):
            y = y[0]
        out = y[0].float().cpu().numpy().transpose(1, 2, 0)
        if out.shape[:2] != (self.out_size, self.out_size):
            raise KintsugiError(
                f"{self.model.info.id} returned {out.shape[1]}x{out.shape[0]}, expected {self.out_size}px")
        return np.ascontiguousarray(out, dtype=np.float32)

    def _kwargs(self, controls: Controls, bias_map: np.ndarray | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if controls.bias != 0.0:
            kwargs["bias"] = controls.bias
        if any(v != 0.0 for _k, v in controls.bias_blocks):
            kwargs["bias_blocks"] = dict(controls.bias_blocks)
        if bias_map is not None:
            t = torch.from_numpy(np.ascontiguousarray(bias_map, dtype=np.float32))[None, None]
            kwargs["bias_map"] = t.to(device=self.model.device, dtype=self.model.dtype)
        if controls.fidelity is not None:
            kwargs["fidelity"] = controls.fidelity
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


# ----------------------------------------------------------------------------- output


def finish_output(image: Image, out: np.ndarray, s: int, consistency: bool,
                  job: Job) -> Image:
    """Lock (when asked), clamp, and give the result the photo's form (gray, alpha)."""
    job.check()
    if consistency:
        job.set_progress(0.96, "consistency lock")
        out = _lock(out, image, s)
    np.clip(out, 0.0, 1.0, out=out)
    job.set_progress(1.0, "done")
    return _result(image, out, s)


def apply_color_match(out: np.ndarray, low: np.ndarray, s: int) -> np.ndarray:
    """An aligned crop's colours matched to the input crop's, over the whole crop (a
    masked match would leave a seam where the mask ends)."""
    target = cv2.resize(low, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_CUBIC) if s != 1 else low
    return facepaste.match_colors(out, target, np.ones(out.shape[:2], np.float32))


def background_pixels(image: Image, s: int, background: Background, device: str = "auto",
                      job: Job | None = None) -> np.ndarray:
    """The photo upscaled s times for faces to be pasted into (a fresh array each call)."""
    job = ensure_job(job)
    rgb = as_rgb(image.pixels)
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
        alpha = np.clip(resize_map(image.alpha, image.width * s, image.height * s), 0.0, 1.0)
    return image.replace(pixels=np.ascontiguousarray(pixels, dtype=np.float32), alpha=alpha)


def resize_map(values: np.ndarray, width: int, height: int) -> np.ndarray:
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
