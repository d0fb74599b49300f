"""GAN-prior restoration of whole photos: background upscaled, each face aligned, restored
by the face model and pasted back; or one aligned face crop run directly (faces=None).

What is restored is a RestoreSpec, the values of one render are Controls
(kintsugi.engine.spec); restore(image, spec, controls) or, shorter, restore(image, model,
bias=0.3, faces=[0]) with fields of either by name.

The settings (each changes the result, see tests/engine/test_restore.py); the spec's are
faces, background, scale, consistency and colour matching, the rest are Controls:
- bias / bias_blocks / bias_map: Panini's mask bias (+ = more GAN prior / realness,
  - = more of the input / fidelity). Models without a mask refuse a bias rather than
  ignore it. The map is in photo coordinates and follows each face into aligned space.
- faces: "all", indices in reading order, a minimum face size in px, or None.
- background: an upscaler id / Model / weights file, "bicubic", or None (the default upscaler).
- consistency: the whole result, shrunk back by the scale, equals the input exactly.
- seed: re-draws the generator's noise (fine detail such as hair strands and pores):
  alternative restorations of the same photo. None = the model's stored noise.
- fidelity: CodeFormer's w in [0, 1] (0 = the codebook's face, 1 = closest to the input;
  None = 0.5, the authors' default). The window's one realness/fidelity slider drives
  ``bias`` for models with a mask (Capabilities.mask_blocks) and ``fidelity`` for models
  with a fidelity weight (Capabilities.fidelity_weight); other models refuse both.
- faces=None (an aligned crop): the crop is restored at the model's own scale; a scale
  other than that, or a background, is refused; colour matching is off unless asked.

The work is done by :class:`kintsugi.engine.session.RestoreSession`; one restore is a
session rendered once. The face network's forward pass checks for cancel inside, before
every sub-module, so closing the window answers within a fraction of a generator pass.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kintsugi.engine import facepaste
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.face_runner import FaceRunner, find_faces
from kintsugi.engine.imageio.image import Image
from kintsugi.engine.job import Job, ensure_job
from kintsugi.engine.registry import Model, load_model
from kintsugi.engine.session import RestoreSession
from kintsugi.engine.spec import Controls, ModelRef, RestoreSpec, spec_and_controls

__all__ = ["find_faces", "restore", "write_side_outputs"]


def restore(image: Image, spec: RestoreSpec | ModelRef, controls: Controls | None = None, *,
            device: str = "auto", job: Job | None = None,
            known_faces: list[facepaste.Face] | None = None, upscaled: np.ndarray | None = None,
            **settings: Any) -> Image:
    """Restore `image` with a face / GAN-prior model (Panini, GLEAN, GFPGAN, CodeFormer, ...).

    spec.faces=None: the image is an aligned face crop of the model's input size; the result
    is the model's output (out_size square). Otherwise faces are detected, restored and
    pasted into the background upscaled by spec.scale (default: the model's, at most 4).
    `settings`: fields of RestoreSpec or Controls by name, over those given.
    known_faces / upscaled: the photo's faces and background, already found / computed.
    Interactive callers re-running one photo should use a RestoreSession, which keeps the
    faces, their features and the background between renders.
    """
    job = ensure_job(job)
    spec, controls = spec_and_controls(spec, controls, settings)
    model = spec.model if isinstance(spec.model, Model) else load_model(spec.model, device)
    # Refuse a control the model does not have before any expensive work.
    FaceRunner(model).check(controls)
    session = RestoreSession(image, replace(spec, model=model), device=device,
                             known_faces=known_faces, upscaled=upscaled, job=job.sub(0.0, 0.4))
    return session.render(controls, job=job.sub(0.4, 1.0))


def write_side_outputs(model: Model, image: Image, stem: str, folder: Path,
                       faces: facepaste.FaceSelection) -> list[Path]:
    """Side outputs of an aligned face (Pro-PULSE), one PNG per resolution
    (``<stem>_side<r>.png``): what each deeply supervised block already draws."""
    from kintsugi.archs.propulse import side_outputs
    from kintsugi.engine.imageio import save_image

    if not model.caps.side_outputs:
        raise KintsugiError(f"{model.info.id} ({model.info.arch}) draws no side outputs")
    if faces is not None:
        raise KintsugiError("side outputs work on aligned face crops: add --faces aligned")
    size = model.caps.input_size
    if (image.width, image.height) != (size, size) or image.channels != 3:
        raise KintsugiError(f"an aligned face for {model.info.id} must be {size}x{size} px RGB")
    dtype = next(model.net.parameters()).dtype
    x = torch.from_numpy(image.pixels.transpose(2, 0, 1).copy())[None].to(model.device, dtype)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for side in side_outputs(model.net, x):
        pixels = np.ascontiguousarray(side[0].float().cpu().numpy().transpose(1, 2, 0))
        written.append(save_image(Image.from_array(pixels), folder / f"{stem}_side{side.shape[-1]}.png"))
    return written
