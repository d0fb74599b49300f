"""RestoreSession: renders equal kintsugi.restore at the same controls, while the faces,
their features and the background are computed once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_restore import tiny_panini, two_faces  # noqa: F401

import kintsugi
from kintsugi.archs.panini import SPEC
from kintsugi.archs.stylegan2 import UnitRangeWrapper
from kintsugi.engine import session as session_module
from kintsugi.engine.registry import Model, ModelInfo

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def panini_model() -> Model:
    info = ModelInfo(id="tiny-panini", name="tiny", arch="panini", kind="face-restorer", scale=2,
                     params={"in_size": 32, "out_size": 64, "scale": 2})
    return Model(info, SPEC, UnitRangeWrapper(tiny_panini()).eval(), torch.device("cpu"))


def test_renders_equal_restore_at_the_same_controls(two_faces, panini_model) -> None:  # noqa: F811
    session = kintsugi.RestoreSession(two_faces, panini_model, background="bicubic", consistency=True)
    bias_map = np.zeros((8, 8), np.float32)
    bias_map[:, :4] = 0.5
    for controls in ({"bias": 0.4}, {"bias": -0.3, "bias_blocks": {1: 0.5}, "seed": 3, "bias_map": bias_map}):
        got = session.render(**controls)
        want = kintsugi.restore(two_faces, panini_model, background="bicubic", consistency=True,
                                known_faces=session.faces, **controls)
        np.testing.assert_allclose(got.pixels, want.pixels, atol=1e-6)
    assert len(session.faces) == 2


def test_a_further_render_reruns_only_what_depends_on_the_controls(two_faces, panini_model,  # noqa: F811
                                                                     monkeypatch) -> None:
    """Detection and the background happen in the constructor, each face's encoder in the
    first render; further renders run only the generator pass."""
    counts = {"detect": 0, "background": 0}
    real_find, real_bg = session_module.find_faces, session_module.background_pixels

    def find(*args, **kwargs):  # type: ignore[no-untyped-def]
        counts["detect"] += 1
        return real_find(*args, **kwargs)

    def background(*args, **kwargs):  # type: ignore[no-untyped-def]
        counts["background"] += 1
        return real_bg(*args, **kwargs)

    monkeypatch.setattr(session_module, "find_faces", find)
    monkeypatch.setattr(session_module, "background_pixels", background)
    core = panini_model.net.net
    calls = {"encode": 0, "generator": 0}
    hooks = [core.encoder[0].register_forward_pre_hook(lambda *_: calls.__setitem__("encode", calls["encode"] + 1)),
             core.generator.conv1.register_forward_pre_hook(
                 lambda *_: calls.__setitem__("generator", calls["generator"] + 1))]
    try:
        session = kintsugi.RestoreSession(two_faces, panini_model, background="bicubic")
        first = session.render(bias=0.0)
        second = session.render(bias=0.5)
        third = session.render(bias=0.5, seed=4)
    finally:
        for hook in hooks:
            hook.remove()
    assert counts == {"detect": 1, "background": 1}
    assert calls == {"encode": 2, "generator": 6}  # encoders once per face, generator per render
    assert np.abs(second.pixels - first.pixels).max() > 1e-3
    assert np.abs(third.pixels - second.pixels).max() > 1e-3


def test_render_returns_a_new_image_and_keeps_the_session_unchanged(two_faces, panini_model) -> None:  # noqa: F811
    session = kintsugi.RestoreSession(two_faces, panini_model, background="bicubic")
    first = session.render()
    session.render(bias=0.8).pixels[:] = 0.0  # a caller scribbling on a result
    again = session.render()
    np.testing.assert_array_equal(first.pixels, again.pixels)


def test_aligned_crop_session(two_faces, panini_model) -> None:  # noqa: F811
    from test_restore import crop_of

    crop = crop_of(two_faces, 32)
    session = kintsugi.RestoreSession(crop, panini_model, faces=None)
    for bias in (0.0, 0.6):
        np.testing.assert_allclose(session.render(bias=bias).pixels,
                                   kintsugi.restore(crop, panini_model, faces=None, bias=bias).pixels,
                                   atol=1e-6)
