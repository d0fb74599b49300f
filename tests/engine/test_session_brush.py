"""RestoreSession's painted bias (a spatial map confined to its feathered region) and
Pro-PULSE's side outputs pasted into the photo (tiny random networks, real photos)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_restore import two_faces  # noqa: F401
from test_restore_session import panini_model  # noqa: F401

import kintsugi
from fixtures.tiny_faces import save_tiny_propulse
from kintsugi.archs.propulse import side_outputs
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.registry import Model

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def propulse_model(tmp_path_factory) -> Model:
    path = save_tiny_propulse(tmp_path_factory.mktemp("pp") / "tiny-propulse.safetensors")
    return kintsugi.load_model(path, device="cpu")


def feathered_disc(height: int, width: int, cx: int, cy: int, radius: int) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    cv2.circle(mask, (cx, cy), radius, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), radius / 4)


def test_a_confined_map_changes_only_its_feathered_region(two_faces, panini_model) -> None:  # noqa: F811
    session = kintsugi.RestoreSession(two_faces, panini_model, background="bicubic")
    plain = session.render(bias=0.2)
    h, w = plain.height, plain.width
    region = feathered_disc(h, w, 120, 150, 30)  # over the left face's eye and cheek
    region[region < 1e-3] = 0.0
    painted = session.render(bias=0.2, bias_map=region, map_region=region)
    changed = np.abs(painted.pixels - plain.pixels).max(axis=2)
    assert changed[region == 0].max() == 0.0  # bit-identical outside the feathered stroke
    assert changed[region > 0.9].mean() > 1e-3
    # Inside, it is the network run with the spatial bias (where the weight is 1).
    free = session.render(bias=0.2, bias_map=region)
    np.testing.assert_allclose(painted.pixels[region == 1.0], free.pixels[region == 1.0], atol=1e-6)
    # Unconfined, the spatial bias reaches beyond the stroke through the generator's convs.
    assert np.abs(free.pixels - plain.pixels).max(axis=2)[region == 0].max() > 0
    with pytest.raises(KintsugiError, match="bias_map"):
        session.render(map_region=region)


def test_more_painted_realness_moves_the_face_further(two_faces, panini_model) -> None:  # noqa: F811
    session = kintsugi.RestoreSession(two_faces, panini_model, background="bicubic")
    plain = session.render()
    region = feathered_disc(plain.height, plain.width, 120, 150, 40)
    gaps = [float(np.abs(session.render(bias_map=k * region, map_region=region).pixels - plain.pixels).mean())
            for k in (0.5, 1.0)]
    assert 0 < gaps[0] < gaps[1]


def test_propulse_side_outputs_are_pasted_where_the_faces_are(two_faces, propulse_model) -> None:  # noqa: F811
    session = kintsugi.RestoreSession(two_faces, propulse_model, background="bicubic", scale=2)
    assert session.side_sizes() == [32]
    final = session.render()
    side = session.side_output(32)
    assert (side.width, side.height) == (final.width, final.height)
    changed = np.abs(side.pixels - final.pixels).max(axis=2)
    background = kintsugi.restore(two_faces, propulse_model, background="bicubic", scale=2, faces=9999)
    untouched = np.abs(final.pixels - background.pixels).max(axis=2) == 0  # outside every face
    assert changed[untouched].max() < 1e-5 and changed.max() > 1e-2
    assert np.abs(side.pixels - background.pixels).max() > 1e-2  # a face is pasted, not left out
    with pytest.raises(KintsugiError, match="no side output at 64"):
        session.side_output(64)


def test_propulse_side_output_of_an_aligned_crop_is_the_network_side_output(propulse_model,
                                                                          astronaut_full: np.ndarray) -> None:
    crop = kintsugi.Image.from_array(cv2.resize(astronaut_full[20:220, 150:350], (8, 8),
                                                interpolation=cv2.INTER_AREA))
    session = kintsugi.RestoreSession(crop, propulse_model, faces=None)
    got = session.side_output(32).pixels
    x = torch.from_numpy(crop.pixels.transpose(2, 0, 1).copy())[None]
    want = side_outputs(propulse_model.net, x)[0][0].numpy().transpose(1, 2, 0)
    want = np.clip(cv2.resize(want, (64, 64), interpolation=cv2.INTER_CUBIC), 0, 1)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_non_propulse_models_have_no_side_outputs(two_faces, panini_model, tmp_path: Path) -> None:  # noqa: F811
    session = kintsugi.RestoreSession(two_faces, panini_model, background="bicubic")
    assert session.side_sizes() == []
    with pytest.raises(KintsugiError, match="no side output"):
        session.side_output(32)
