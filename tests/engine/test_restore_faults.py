"""Restore faults seen when Kintsugi was tried (issue 7 section 3), each failing on the old
code: aligned-crop mode silently ignored scale, background and colour matching; the face
pass had no cancel checks inside the network; a non-preview restore in the window
detected faces twice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_restore import CastFace, as_model, crop_of, tiny_panini, two_faces  # noqa: F401

import kintsugi
from kintsugi.archs.panini import SPEC
from kintsugi.archs.stylegan2 import UnitRangeWrapper
from kintsugi.engine.errors import Cancelled, KintsugiError
from kintsugi.engine.job import Job
from kintsugi.engine.registry import Model, ModelInfo
from kintsugi.engine.spec import Controls, RestoreSpec

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def panini_model() -> Model:
    wrapped = UnitRangeWrapper(tiny_panini())
    info = ModelInfo(id="tiny-panini", name="tiny", arch="panini", kind="face-restorer", scale=2,
                     params={"in_size": 32, "out_size": 64, "scale": 2})
    return Model(info, SPEC, wrapped.eval(), torch.device("cpu"))


# ---- aligned crops -------------------------------------------------------------------


def test_aligned_crop_refuses_a_scale_it_cannot_honour(two_faces, panini_model) -> None:  # noqa: F811
    crop = crop_of(two_faces, 32)
    with pytest.raises(KintsugiError, match=r"own scale \(x2\); scale x4 does not apply"):
        kintsugi.restore(crop, panini_model, faces=None, scale=4)
    same = kintsugi.restore(crop, panini_model, faces=None, scale=2)  # its own scale is fine
    assert (same.width, same.height) == (64, 64)


def test_aligned_crop_refuses_a_background(two_faces, panini_model) -> None:  # noqa: F811
    crop = crop_of(two_faces, 32)
    with pytest.raises(KintsugiError, match="no background"):
        kintsugi.restore(crop, panini_model, faces=None, background="bicubic")


def test_aligned_crop_colour_matching_applies_when_asked(two_faces) -> None:  # noqa: F811
    """A restorer with a strong colour cast: matching brings the crop's colours back to the
    input's; left off (the default for crops) the model's own colours are kept."""
    crop = crop_of(two_faces, 32)
    model = as_model(CastFace(32))
    plain = kintsugi.restore(crop, model, faces=None)
    matched = kintsugi.restore(crop, model, faces=None, color_match=True)
    off = kintsugi.restore(crop, model, faces=None, color_match=False)
    assert np.array_equal(plain.pixels, off.pixels)
    cast_error = np.abs(plain.pixels.mean(axis=(0, 1)) - crop.pixels.mean(axis=(0, 1))).max()
    matched_error = np.abs(matched.pixels.mean(axis=(0, 1)) - crop.pixels.mean(axis=(0, 1))).max()
    assert cast_error > 0.1 and matched_error < 0.02


# ---- cancel inside the face network ----------------------------------------------------


def test_cancel_reaches_inside_the_generator_pass(two_faces, panini_model) -> None:  # noqa: F811
    """Cancel asked while the generator runs stops it before its last layer, not after
    the whole pass (closing the window must not wait for a generator pass)."""
    gen = panini_model.net.net.generator
    job = Job()
    ran_last: list[int] = []
    first = gen.convs[0].register_forward_hook(lambda *_: job.cancel())
    last = gen.to_rgbs[-1].register_forward_hook(lambda *_: ran_last.append(1))
    try:
        with pytest.raises(Cancelled):
            kintsugi.restore(two_faces, panini_model, background="bicubic", job=job)
    finally:
        first.remove()
        last.remove()
    assert ran_last == []
    # The hooks are gone afterwards: a fresh job restores normally.
    out = kintsugi.restore(two_faces, panini_model, background="bicubic", scale=1, job=Job())
    assert out.width == two_faces.width


# ---- the window's non-preview restore detects once ------------------------------------


def test_window_restore_detects_faces_once(two_faces, panini_model, monkeypatch) -> None:  # noqa: F811
    from kintsugi.engine import faces as faces_module
    from kintsugi.engine.photo_sessions import PhotoCache, SessionStore, run_restore

    calls: list[int] = []
    real = faces_module.detect_faces

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(faces_module, "detect_faces", counting)

    class Models:
        def get(self, _model_id: str, _device: str = "auto") -> Model:
            return panini_model

    spec = RestoreSpec("tiny-panini", background="bicubic")
    out, _model, scale, found = run_restore(two_faces, spec, Controls(), "auto", Models(),
                                            PhotoCache(), SessionStore(), Job())
    assert calls == [1]
    assert found == 2 and scale == 2 and out.width == 2 * two_faces.width
