"""Alternatives of one upscale result, composed on worker threads: the window's session
beside the restore session (kintsugi.engine.session).

A session holds what does not change while the sliders move: the photo, the first result,
the partner model's result (the other end of the fidelity <-> realness mix) and each end's
detail decomposition. Composing an alternative is then ``kintsugi.blend`` of the two ends at
the chosen detail strength: no network runs again.

The partner is computed in the background, the visible part of the photo first: until the
whole photo is done, the partner image holds the first result outside the finished region,
so the mix there shows the first result unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from kintsugi.engine.provenance import alternative_note

# The mixes offered: (faithful end, realistic end) at a scale. RRDN is trained for fidelity
# and invents no texture; Real-ESRGAN x4plus invents texture. Weight interpolation between
# separately trained networks gives broken images, so only their outputs are mixed.
PAIRS: dict[int, tuple[str, str]] = {4: ("rrdn-x4", "realesrgan-x4plus")}
CONTEXT = 16  # photo px of context around a partial partner region (tile seams stay outside)


@dataclass(frozen=True)
class Setting:
    detail: float = 1.0
    alpha: float = 1.0  # 0 = faithful end, 1 = realistic end (ignored without a pair)

    def describe(self, pair: tuple[str, str] | None) -> str:
        text = f"detail {self.detail:.2f}"
        if pair is not None:
            text += f", mix {self.alpha:.2f} ({pair[0]} ↔ {pair[1]})"
        return text

    def caption(self, paired: bool) -> str:
        """The setting in the window's words: the sliders' names ("describe" is the file's
        note, which names the models by id)."""
        return (f"Mix {self.alpha:.2f} · " if paired else "") + f"Detail {self.detail:.2f}"


def pair_for(model_id: str, scale: int, names: dict[str, str]
             ) -> tuple[tuple[str, str] | None, str]:
    """(pair, one line for the window): the mix the result of `model_id` at `scale` gets.

    names: the installed models' names by id (the line names models as the window does)."""
    pair = PAIRS.get(scale)
    if pair is None:
        offered = "; ".join(f"×{s}: {_name(a, names)} with {_name(b, names)}"
                            for s, (a, b) in PAIRS.items())
        return None, (f"Mix: no faithful and realistic model pair at ×{scale}; "
                      f"offered at {offered}.")
    faithful, realistic = _name(pair[0], names), _name(pair[1], names)
    if not set(pair) <= set(names):
        return None, f"Mix: needs {faithful} and {realistic}, which are not both installed."
    if model_id not in pair:
        return None, f"Mix: choose {faithful} or {realistic} to mix the two at ×{scale}."
    return pair, ""


def mix_note(pair: tuple[str, str], names: dict[str, str], complete: bool) -> str:
    done = "" if complete else " (visible part; the rest follows)"
    return (f"Mix: {_name(pair[0], names)} (faithful) ↔ {_name(pair[1], names)} "
            f"(realistic){done}")


def _name(model_id: str, names: dict[str, str]) -> str:
    return names.get(model_id, model_id)


def strip_settings(paired: bool) -> list[Setting]:
    """The strip's alternatives, from most faithful to most detailed."""
    if paired:
        return [Setting(1.0, 0.0), Setting(1.0, 0.25), Setting(1.0, 0.5), Setting(1.0, 0.75),
                Setting(1.0, 1.0), Setting(0.5, 0.5), Setting(1.5, 1.0)]
    return [Setting(d, 1.0) for d in (0.0, 0.5, 1.0, 1.5, 2.0)]


class AltSession:
    """One result's alternatives. Thread-safe: the partner worker fills it while previews
    read it."""

    def __init__(self, source: Any, first: Any, first_id: str, scale: int,
                 pair: tuple[str, str] | None, provenance: dict[str, str],
                 exact: bool = True) -> None:
        """exact=False: compositions are never locked (the reduced drafts of ``draft``)."""
        self.source = source
        self.first = first
        self.first_id = first_id
        self.scale = scale
        self.pair = pair
        self.provenance = dict(provenance)
        self.exact = exact
        self._lock = threading.Lock()
        self._build = threading.RLock()
        self._partner: Any = None  # an Image, possibly holding `first` outside `done`
        self._complete = False
        self._steps: dict[str, Any] = {}

    # --- ends ---------------------------------------------------------------------------
    @property
    def partner_id(self) -> str | None:
        if self.pair is None:
            return None
        return self.pair[0] if self.first_id == self.pair[1] else self.pair[1]

    @property
    def first_is_realness(self) -> bool:
        return self.pair is not None and self.first_id == self.pair[1]

    def home(self) -> Setting:
        """The setting that shows the first result unchanged."""
        return Setting(1.0, 1.0 if self.first_is_realness or self.pair is None else 0.0)

    def start(self) -> Setting:
        """The setting a new result opens at: the engine's default mix where there is a pair
        (shown once the partner is ready), else the first result unchanged."""
        from kintsugi.engine.alternatives import DEFAULT_MIX  # loads torch: only when asked

        return Setting(1.0, DEFAULT_MIX) if self.pair is not None else self.home()

    def has_partner(self) -> bool:
        with self._lock:
            return self._partner is not None

    def partner_complete(self) -> bool:
        with self._lock:
            return self._complete

    def set_partner(self, image: Any, complete: bool) -> None:
        with self._lock:
            self._partner = image
            self._complete = complete
            self._steps.pop("partner", None)
            self._steps.pop("mix", None)

    def ends(self) -> tuple[Any, Any] | None:
        """(faithful, realistic) results, or None before the partner exists."""
        with self._lock:
            partner = self._partner
        if partner is None:
            return None
        return (partner, self.first) if self.first_is_realness else (self.first, partner)

    # --- composing ----------------------------------------------------------------------
    def draft(self, setting: Setting, mask: np.ndarray | None, max_side: int) -> Any:
        """A quick look at `setting` while a slider moves: the same composition, unlocked,
        on the photo and both ends shrunk so the result's longer side is at most
        `max_side`. The settled value is then composed at full size, exactly (``compose``)."""
        reduced = self._reduced(max_side)
        if reduced is None:
            return self.compose(setting, mask)
        if mask is not None:
            mask = _shrink(mask, reduced.first.width, reduced.first.height)
        return reduced.compose(setting, mask)

    def _reduced(self, max_side: int) -> AltSession | None:
        k = -(-max(self.first.width, self.first.height) // max_side)  # ceil
        if k <= 1:
            return None
        with self._lock:
            partner = self._partner
            cached = self._steps.get("reduced")
            if isinstance(cached, tuple) and cached[0] == k and cached[2] is partner:
                return cached[1]
        width, height = max(1, self.source.width // k), max(1, self.source.height // k)
        source = _shrunk_image(self.source, width, height)
        s = self.scale
        # A draft is a glance, replaced by the exact full-size picture when the slider
        # settles: it skips the lock (a shrunk result is consistent only in float, and its
        # lock would be the slow projection at every strength above 1).
        reduced = AltSession(source, _shrunk_image(self.first, width * s, height * s),
                             self.first_id, s, self.pair, self.provenance, exact=False)
        if partner is not None:
            reduced.set_partner(_shrunk_image(partner, width * s, height * s),
                                self.partner_complete())
        with self._lock:
            self._steps["reduced"] = (k, reduced, partner)
        return reduced

    def compose(self, setting: Setting, mask: np.ndarray | None = None) -> Any:
        """The alternative at `setting`; `mask` (HxW in [0,1]) replaces the mix per pixel.

        Both ends are one photo's results and share its smooth base, so a mix at any detail
        strength is one composition and one lock (``Alternatives``), not three."""
        ends = self.ends()
        if ends is None:
            return self._at_end(self.first, setting.detail)
        faithful, realistic = ends
        if mask is None and setting.alpha in (0.0, 1.0):
            return self._at_end(realistic if setting.alpha == 1.0 else faithful, setting.detail)
        weight = mask if mask is not None else setting.alpha
        return self._steps_for("mix", faithful, realistic).at(setting.detail, weight)

    def _at_end(self, end: Any, strength: float) -> Any:
        if strength == 1.0:
            return end
        key = "first" if end is self.first else "partner"
        return self._steps_for(key, end).at(strength)

    def _steps_for(self, key: str, *results: Any) -> Any:
        """The prepared alternatives of `results` (built once per result; the ends share the
        photo's base, and the mix shares both ends' parts)."""
        from kintsugi.engine.alternatives import Alternatives

        with self._build:  # two threads (previews, strip) never build the same twice
            with self._lock:
                steps = self._steps.get(key)
            if steps is not None and all(a is b for a, b in zip(steps.results, results,
                                                                 strict=True)):
                return steps
            if key == "first":
                steps = Alternatives.of_photo(self.source, self.first, self.exact)
            elif key == "partner":
                steps = self._steps_for("first", self.first).with_result(results[0])
            else:
                ends = [self._steps_for("first" if r is self.first else "partner", r)
                        for r in results]
                steps = ends[0].mixed_with(ends[1])
            with self._lock:
                self._steps[key] = steps
            return steps

    def provenance_for(self, setting: Setting, brushed: bool) -> dict[str, str]:
        if setting == self.home() and not brushed:
            return dict(self.provenance)
        chosen = setting.describe(self.pair) + (", brushed mix" if brushed else "")
        return alternative_note(self.provenance, chosen)


def brush_mix(alpha: float, realness: np.ndarray | None, fidelity: np.ndarray | None
              ) -> np.ndarray | None:
    """The per-pixel mix from the painted maps: realness strokes pull it to 1, fidelity
    strokes to 0, by their (feathered) coverage; unpainted pixels keep `alpha`."""
    if realness is None and fidelity is None:
        return None
    shape = (realness if realness is not None else fidelity).shape  # type: ignore[union-attr]
    mix = np.full(shape, np.float32(alpha), np.float32)
    if realness is not None:
        mix += realness * (1.0 - mix)
    if fidelity is not None:
        mix -= fidelity * mix
    return mix


def crop_region(source: Any, rect: tuple[int, int, int, int], context: int = CONTEXT
                ) -> tuple[Any, tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The photo cut to `rect` (x0, y0, x1, y1) plus context: (crop, crop rect, inner rect
    in crop coordinates)."""
    x0, y0, x1, y1 = rect
    cx0, cy0 = max(0, x0 - context), max(0, y0 - context)
    cx1, cy1 = min(source.width, x1 + context), min(source.height, y1 + context)
    alpha = None if source.alpha is None else source.alpha[cy0:cy1, cx0:cx1].copy()
    crop = source.replace(pixels=source.pixels[cy0:cy1, cx0:cx1].copy(), alpha=alpha)
    return crop, (cx0, cy0, cx1, cy1), (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)


def paste_region(first: Any, part: Any, rect: tuple[int, int, int, int],
                 inner: tuple[int, int, int, int], s: int) -> Any:
    """`first` with the partner's region `rect` (photo coords) taken from `part` (the
    upscaled crop, `inner` its region in crop coordinates)."""
    x0, y0, x1, y1 = rect
    ix0, iy0, ix1, iy1 = inner
    pixels = first.pixels.copy()
    pixels[y0 * s:y1 * s, x0 * s:x1 * s] = part.pixels[iy0 * s:iy1 * s, ix0 * s:ix1 * s]
    return first.replace(pixels=pixels)


def _shrink(values: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    small = cv2.resize(values, (width, height), interpolation=cv2.INTER_AREA)
    return small.reshape(height, width, *values.shape[2:])


def _shrunk_image(image: Any, width: int, height: int) -> Any:
    alpha = None if image.alpha is None else _shrink(image.alpha, width, height)
    return image.replace(pixels=_shrink(image.pixels, width, height), alpha=alpha)
