"""The restore sessions of one open photo, for an interactive shell (the window).

Every restore of the window (the Restore button, a live preview, a strip thumbnail) renders a
RestoreSession kept in a SessionStore: one session per photo and RestoreSpec (with the
device), built on a worker thread the first time, dropped when the photo or the spec
changes. A further Controls value then re-runs only what depends on it (the generator pass
and the paste-back); the faces, their alignment, the encoder features and the upscaled
background are computed once, and a PhotoCache shares the faces and background between the
photo's sessions (a session for another model reuses them).

Thread-safe: worker threads build and render under locks. No Qt here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kintsugi.engine.errors import Cancelled
from kintsugi.engine.spec import Controls, RestoreSpec

DEFAULT_BACKGROUND = "default"  # the cache's name for the default upscaler
BRUSH_BIAS = 1.0  # mask bias a fully painted pixel adds (realness) or takes away (fidelity)


@dataclass
class PhotoCache:
    """Faces and upscaled backgrounds of one photo, shared by its tasks and sessions. A new
    photo gets a new cache, so nothing here is ever stale."""

    faces: list[Any] | None = None
    backgrounds: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    detections: int = 0  # how often faces were detected (tests: once per photo)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def find_faces(self, rgb: np.ndarray, device: str) -> list[Any]:
        from kintsugi.engine.face_runner import find_faces

        with self._lock:
            if self.faces is None:
                self.faces = list(find_faces(rgb, device))
                self.detections += 1
            return self.faces

    def background(self, image: Any, background: Any, scale: int, device: str,
                   job: Any) -> np.ndarray:
        """The photo upscaled `scale` times as `background` asks (computed once)."""
        from kintsugi.engine.face_runner import background_pixels
        from kintsugi.engine.provenance import model_name

        key = (DEFAULT_BACKGROUND if background is None else model_name(background), scale)
        with self._lock:
            pixels = self.backgrounds.get(key)
        if pixels is None:
            pixels = background_pixels(image, scale, background, device, job)
            with self._lock:
                self.backgrounds = {key: pixels}  # one at a time: they are big
        return pixels


@dataclass(frozen=True)
class Brush:
    """The painted bias: a spatial mask-bias map and the feathered region it is confined to
    (both HxW, any size: they are stretched over the result)."""

    bias_map: np.ndarray
    region: np.ndarray


def brush_from_masks(realness: np.ndarray | None, fidelity: np.ndarray | None) -> Brush | None:
    """Realness strokes add BRUSH_BIAS by their feathered coverage, fidelity strokes take it
    away; the region is where either was painted."""
    if realness is None and fidelity is None:
        return None
    shape = (realness if realness is not None else fidelity).shape  # type: ignore[union-attr]
    r = realness if realness is not None else np.zeros(shape, np.float32)
    f = fidelity if fidelity is not None else np.zeros(shape, np.float32)
    return Brush(BRUSH_BIAS * (r - f), np.clip(r + f, 0.0, 1.0))


class SessionStore:
    """The one RestoreSession of a photo (per spec and device), shared by its preview,
    Restore and strip tasks. Building and rendering hold a lock, since a session serialises
    its renders; a new photo gets a new store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._session: Any = None
        self._image: Any = None  # kept so that id(image) in the key stays unique
        self.builds = 0  # sessions built (tests)

    def drop(self) -> None:
        """Forget the session (the model changed); a render running keeps its own."""
        self._key, self._session, self._image = None, None, None

    def current(self) -> Any:
        return self._session

    def render(self, image: Any, spec: RestoreSpec, controls: Controls, device: str, models: Any,
               cache: PhotoCache, job: Any, brush: Brush | None = None,
               stale: Callable[[], bool] | None = None, build: bool = True) -> tuple[Any, Any]:
        """(result Image, session) for this spec and these controls; builds the session if
        the spec needs a new one (build=False: the strip never builds one; it is dropped
        instead). `stale()` true after the build: a newer request is waiting, this one is
        dropped. `models.get(id, device)` gives a loaded model (the window's model cache)."""
        with self._lock:
            if not build and (self._session is None or self._key != _key(image, spec, device)):
                raise Cancelled("the session these settings need is gone")
            session = self._session_for(image, spec, device, models, cache, job.sub(0.0, 0.6))
            if stale is not None and stale():
                raise Cancelled("a newer request is waiting")
            map_region = None
            if brush is not None:
                controls, map_region = replace(controls, bias_map=brush.bias_map), brush.region
            out = session.render(controls, job=job.sub(0.6, 1.0), map_region=map_region)
            return out, session

    def side_output(self, size: int, job: Any) -> Any:
        with self._lock:
            if self._session is None:
                raise Cancelled("the session was dropped")
            return self._session.side_output(size, job)

    def _session_for(self, image: Any, spec: RestoreSpec, device: str, models: Any,
                     cache: PhotoCache, job: Any) -> Any:
        key = _key(image, spec, device)
        if self._session is not None and self._key == key:
            return self._session
        from kintsugi.engine.face_runner import photo_scale
        from kintsugi.engine.session import RestoreSession

        self._session = None  # the old one's memory goes before the new one is built
        job.set_progress(0.0, "Loading the model…")
        model = models.get(spec.model, device)
        job.check()
        loaded = replace(spec, model=model)
        if spec.aligned:  # an aligned crop: nothing to detect, no background
            session = RestoreSession(image, loaded, device=device)
        else:
            faces = cache.find_faces(image.pixels, str(model.device))
            scale = photo_scale(model, image.width, image.height, spec.scale)
            upscaled = cache.background(image, spec.background, scale, device, job.sub(0.0, 0.7))
            session = RestoreSession(image, replace(loaded, scale=scale), device=device,
                                     known_faces=faces, upscaled=upscaled, job=job.sub(0.7, 1.0))
        self._key, self._session, self._image = key, session, image
        self.builds += 1
        return session


def _key(image: Any, spec: RestoreSpec, device: str) -> tuple[Any, ...]:
    """What a session is built for: the photo, the spec and the device."""
    return (id(image), spec, device)


def run_restore(image: Any, spec: RestoreSpec, controls: Controls, device: str, models: Any,
                cache: PhotoCache, store: SessionStore, job: Any, brush: Brush | None = None,
                stale: Callable[[], bool] | None = None) -> tuple[Any, Any, int, int]:
    """Worker-thread body: (result Image, model, scale, number of faces found)."""
    out, session = store.render(image, spec, controls, device, models, cache, job, brush, stale)
    found = 1 if session.aligned else len(session.found)
    return out, session.model, session.scale, found


def face_frame(session: Any, margin: float = 0.3) -> tuple[int, int, int, int] | None:
    """The chosen faces' box in result pixels (x0, y0, x1, y1) with a margin: what a strip
    thumbnail shows, since a whole photo shrunk to a thumbnail hides the faces."""
    if session.aligned or not session.chosen:
        return None
    boxes = np.array([face.box[:4] for _i, face in session.chosen], np.float64) * session.scale
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    pad = margin * max(x1 - x0, y1 - y0)
    width, height = session.image.width * session.scale, session.image.height * session.scale
    return (max(0, int(x0 - pad)), max(0, int(y0 - pad)),
            min(width, int(np.ceil(x1 + pad))), min(height, int(np.ceil(y1 + pad))))
