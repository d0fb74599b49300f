"""A restore session: one photo and one face model, restored at many control settings.

Everything that does not depend on the controls is computed once and kept: the faces
found, their alignment and aligned crops, each face's network features up to the point
the controls act (Panini: mask logits, IFE features and w+; CodeFormer: encoder features
and the code lookup; GFPGAN: w+ and SFT maps), and the upscaled background. A further
alternative then re-runs only the part that depends on the controls (the generator /
decoder pass), the paste-back and, when asked, the consistency lock.

    session = kintsugi.RestoreSession(image, RestoreSpec("panini-mfr"))  # or just the model
    first = session.render()                      # pays for everything once
    more_real = session.render(Controls(bias=0.3))  # re-runs only the DAFI generator
    other = session.render(bias=0.3, seed=7)      # the same, fields named

render() takes Controls (kintsugi.engine.spec; each refused by models that do not have it):
bias, bias_blocks, bias_map (Panini's mask bias), fidelity (CodeFormer's w), seed.
``map_region`` confines a spatial bias to where it was painted: the network runs with the
map (so the painted part is generated coherently), and the result is blended over the render
without it by the region's weights, so pixels of weight 0 are exactly those of that render.
A Pro-PULSE session also gives each side output pasted into the photo (``side_output``).
A session is not thread-safe: use one per thread, or serialise render() calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import torch

from kintsugi.engine import facepaste
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.face_runner import (
    Background,
    FaceRunner,
    apply_color_match,
    background_pixels,
    find_faces,
    finish_output,
    photo_scale,
    resize_map,
)
from kintsugi.engine.imageio.image import Image, as_rgb
from kintsugi.engine.job import Job, ensure_job
from kintsugi.engine.registry import Model, load_model
from kintsugi.engine.spec import Controls, ModelRef, RestoreSpec, as_spec

log = logging.getLogger(__name__)


@dataclass
class _CachedFace:
    index: int  # reading-order number (offsets the seed, so faces get different noise)
    crop: np.ndarray
    matrix_out: np.ndarray  # restored-crop coordinates from output-photo coordinates
    placement: facepaste.FacePlacement | None = None  # None for an aligned crop
    prepared: Any = None  # the network's control-independent features, filled on first use
    sides: dict[int, np.ndarray] | None = None  # Pro-PULSE: side output per resolution


class RestoreSession:
    """Restore one photo many times with different controls, paying for the fixed part once.

    The spec says what is restored (settings: its fields by name, over the spec's);
    faces=None: `image` is one aligned crop of the model's input size. known_faces /
    upscaled: the photo's faces and background, already found / computed (a window's
    cache). The constructor finds the faces and upscales the background; the first
    :meth:`render` computes each face's features.
    """

    def __init__(self, image: Image, spec: RestoreSpec | ModelRef, *, device: str = "auto",
                 known_faces: list[facepaste.Face] | None = None,
                 upscaled: np.ndarray | None = None, job: Job | None = None,
                 **settings: Any) -> None:
        job = ensure_job(job)
        spec = as_spec(spec, settings)
        self.spec = spec
        self.image = image
        self.model = spec.model if isinstance(spec.model, Model) else load_model(spec.model, device)
        self.runner = FaceRunner(self.model)
        self.consistency = spec.consistency
        self.aligned = spec.aligned
        self._rgb = as_rgb(image.pixels)
        self._plain: tuple[Controls, Image] | None = None  # last render without a map
        if self.aligned:
            self._init_crop(spec)
        else:
            background = spec.background if upscaled is None else upscaled
            self._init_photo(spec, background, device, known_faces, job)

    # -- set-up --------------------------------------------------------------------------
    def _init_crop(self, spec: RestoreSpec) -> None:
        size, runner, scale = self.runner.in_size, self.runner, spec.scale
        if (self.image.width, self.image.height) != (size, size):
            raise KintsugiError(
                f"an aligned face crop for {self.model.info.id} must be {size}x{size} px, not "
                f"{self.image.width}x{self.image.height}; restore the whole photo instead (faces='all')")
        own = runner.out_size // runner.in_size
        if scale is not None and int(scale) != own:
            raise KintsugiError(
                f"an aligned crop is restored at {self.model.info.id}'s own scale (x{own}); "
                f"scale x{scale} does not apply to it (restore the whole photo to choose a scale)")
        if spec.background is not None:
            raise KintsugiError("an aligned crop is all face: it has no background to upscale; "
                                "leave the background choice out (or restore the whole photo)")
        self.scale = own
        self.color_match = bool(spec.color_match)  # off unless asked: the crop is the model's own
        self.found: list[facepaste.Face] = []
        self.chosen: list[tuple[int, facepaste.Face]] = []
        self._faces = [_CachedFace(0, self._rgb, np.eye(2, 3))]
        self._canvas: np.ndarray | None = None

    def _init_photo(self, spec: RestoreSpec, background: Background, device: str,
                    known: list[facepaste.Face] | None, job: Job) -> None:
        image, runner = self.image, self.runner
        self.scale = photo_scale(self.model, image.width, image.height, spec.scale)
        self.color_match = True if spec.color_match is None else bool(spec.color_match)
        job.set_progress(0.0, "finding faces")
        self.found = known if known is not None else find_faces(self._rgb, str(self.model.device))
        self.chosen = facepaste.select_faces(self.found, spec.faces)
        log.info("restore: %d face(s) found, %d chosen, photo x%d", len(self.found), len(self.chosen),
                 self.scale)
        if not self.chosen:
            log.warning("no face to restore (%d found); only the background is upscaled", len(self.found))
        self._canvas = background_pixels(image, self.scale, background, device, job.sub(0.05, 1.0))
        self._faces = [
            _CachedFace(place.index, facepaste.align_face(self._rgb, place),
                        facepaste.rescale_matrix(place.matrix, self.scale, runner.crop_scale), place)
            for place in facepaste.place_faces(self.chosen, runner.in_size)]

    # -- rendering -----------------------------------------------------------------------
    @property
    def faces(self) -> list[facepaste.Face]:
        """The faces found in the photo, in reading order (the numbering `faces=[...]` uses)."""
        return list(self.found)

    def render(self, controls: Controls | None = None, *, job: Job | None = None,
               map_region: np.ndarray | None = None, **settings: Any) -> Image:
        """The restored photo at these controls (a new Image; the session is unchanged).
        settings: fields of Controls by name, over those given.

        map_region: HxW weights in [0, 1] (any size, stretched over the result), only with
        a bias map: the render with the map blended over the one without it by these
        weights (the one without is kept, so painting more strokes costs one render each).
        """
        job = ensure_job(job)
        controls = replace(controls or Controls(), **settings)
        self.runner.check(controls)
        if map_region is not None:
            if not controls.has_map:
                raise KintsugiError("map_region confines a bias map: give the bias_map too")
            return self._render_confined(controls, map_region, job)
        return self._render(controls, job)

    def _render(self, controls: Controls, job: Job) -> Image:
        if self.aligned:
            return self._render_crop(controls, job)
        return self._render_photo(controls, job)

    def _render_confined(self, controls: Controls, region: np.ndarray, job: Job) -> Image:
        from kintsugi.engine.alternatives import blend

        # Controls compare without their map: the plain render is the one to keep.
        plain_controls = replace(controls, bias_map=None)
        if self._plain is None or self._plain[0] != plain_controls:
            self._plain = (plain_controls, self._render(plain_controls, job.sub(0.0, 0.5)))
        plain = self._plain[1]
        mapped = self._render(controls, job.sub(0.5, 1.0))
        weight = np.clip(resize_map(region, plain.width, plain.height), 0.0, 1.0)
        return blend(plain, mapped, 0.0, weight)

    def _features(self, face: _CachedFace, job: Job) -> Any:
        if face.prepared is None:
            face.prepared = self.runner.prepare(face.crop, job)
        return face.prepared

    def _render_crop(self, controls: Controls, job: Job) -> Image:
        size = self.runner.in_size
        job.check()
        job.set_progress(0.05, "restoring the face")
        face = self._faces[0]
        bias_map = controls.bias_map
        local_map = None if bias_map is None else resize_map(bias_map, size, size)
        out = self.runner.finish(self._features(face, job), controls, local_map, 0, job)
        if self.color_match:
            out = apply_color_match(out, self._rgb, self.scale)
        return finish_output(self.image, out, self.scale, self.consistency, job)

    def _render_photo(self, controls: Controls, job: Job) -> Image:
        assert self._canvas is not None
        canvas, bias_map = self._canvas.copy(), controls.bias_map
        photo_map = None if bias_map is None else resize_map(bias_map, self.image.width, self.image.height)
        for n, face in enumerate(self._faces):
            job.check()
            job.set_progress(n / max(1, len(self._faces)), f"face {n + 1} of {len(self._faces)}")
            local_map = None
            if photo_map is not None and face.placement is not None:
                local_map = facepaste.align_map(photo_map, face.placement)
            restored = self.runner.finish(self._features(face, job), controls, local_map, face.index, job)
            facepaste.paste_face(canvas, restored, face.matrix_out, color_match=self.color_match)
        return finish_output(self.image, canvas, self.scale, self.consistency, job)

    # -- Pro-PULSE side outputs ---------------------------------------------------------
    def side_sizes(self) -> list[int]:
        """Resolutions of the model's side outputs (Pro-PULSE: 32 .. out/2), else []."""
        if not self.model.caps.side_outputs:
            return []
        core: Any = self.runner.core
        return list(core.side_res)

    def side_output(self, size: int, job: Job | None = None) -> Image:
        """The photo with each chosen face drawn by the side output of resolution `size`
        (what that deeply supervised block already draws), enlarged to the face's output
        size and pasted like the final face; an aligned crop gives the side output enlarged."""
        job = ensure_job(job)
        if size not in self.side_sizes():
            raise KintsugiError(f"{self.model.info.id} has no side output at {size} px "
                                f"(it has {self.side_sizes() or 'none'})")
        out_size = self.runner.out_size
        canvas = np.zeros((out_size, out_size, 3), np.float32) if self._canvas is None else self._canvas.copy()
        for face in self._faces:
            job.check()
            side = cv2.resize(self._sides(face)[size], (out_size, out_size), interpolation=cv2.INTER_CUBIC)
            if face.placement is None:
                canvas = side
            else:
                facepaste.paste_face(canvas, side, face.matrix_out, color_match=self.color_match)
        return finish_output(self.image, canvas, self.scale, self.consistency, job)

    def _sides(self, face: _CachedFace) -> dict[int, np.ndarray]:
        from kintsugi.archs.propulse import side_outputs

        if face.sides is None:
            x = self.runner.tensor(face.crop)
            with torch.inference_mode():
                sides = side_outputs(self.model.net, x)
            face.sides = {s.shape[-1]: np.ascontiguousarray(s[0].float().cpu().numpy().transpose(1, 2, 0))
                          for s in sides}
        return face.sides
