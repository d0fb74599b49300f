"""Every provenance note Kintsugi writes into a saved file (``save_image(provenance=...)``):
what made the picture, as short text fields.

One module, so that the command line, the batch runner and the window write the same note
for the same work (the window's heal note once differed from ``kintsugi heal``'s). Models are
named by id, so building a note never loads one (nor torch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kintsugi import __version__
from kintsugi.engine.spec import Controls, FaceSelection, RestoreSpec

Note = dict[str, str]


def upscale_note(model_id: str, scale: int, consistency: bool) -> Note:
    return {**_software("upscale"), "model": model_id, "scale": str(scale),
            "consistency": _on_off(consistency)}


def restore_note(spec: RestoreSpec, controls: Controls, scale: int) -> Note:
    """A restore at these controls; `scale`: the photo's enlargement as it was done."""
    note = {**_software("restore"), "model": model_name(spec.model), "scale": str(scale),
            "consistency": _on_off(spec.consistency), "bias": f"{controls.bias:g}",
            "faces": _faces_text(spec.faces)}
    if controls.fidelity is not None:
        note["fidelity"] = f"{controls.fidelity:g}"
    if controls.bias_blocks:
        note["bias_blocks"] = ",".join(f"{k}={v:g}" for k, v in controls.bias_blocks)
    if controls.has_map:
        note["bias_map"] = "yes"
    if not spec.aligned:
        note["background"] = _background_text(spec.background)
    if controls.seed is not None:
        note["seed"] = str(controls.seed)
    return note


def alternative_note(first: Mapping[str, str], alternative: str) -> Note:
    """The first result's note, plus which alternative of it was chosen."""
    return {**first, "alternative": alternative}


def side_output_note(first: Mapping[str, str], size: int) -> Note:
    """The first result's note, shown as one of its side outputs (Pro-PULSE)."""
    return {**first, "side_output": f"{size} px"}


def heal_note(healer: str, factor: int, feather: int, earlier: Mapping[str, str] | None = None) -> Note:
    """A heal by model `healer`. `earlier`: the note of the picture healed (a result in the
    window); it is kept, one line, under "healed_from", so a heal of an upscale still says
    which upscale."""
    note = {**_software("heal"), "model": healer, "factor": str(factor), "feather": str(feather)}
    if earlier:
        note["healed_from"] = "; ".join(f"{k} {v}" for k, v in earlier.items() if k != "software")
    return note


def model_name(ref: Any) -> str:
    """A model as a note names it: a loaded model by its id, an id or a file as given."""
    info = getattr(ref, "info", None)
    return str(info.id) if info is not None else str(ref)


def _software(operation: str) -> Note:
    return {"software": f"Kintsugi {__version__}", "operation": operation}


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


def _background_text(background: Any) -> str:
    if background is None:
        from kintsugi.engine.catalog import default_model_id

        return default_model_id()
    return model_name(background)


def _faces_text(faces: FaceSelection) -> str:
    if faces is None:
        return "aligned crop"
    if isinstance(faces, str):
        return faces
    if isinstance(faces, Sequence):
        return ",".join(str(int(i)) for i in faces)
    return f"min {int(faces)} px"
