"""Face targets train on faces aligned like the ones Kintsugi restores (shipped RetinaFace,
FFHQ template), detected once per photo and cached in the run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kintsugi.engine import facepaste
from kintsugi.engine.faces import detect_faces, load_detector
from kintsugi.train import TrainConfig, align, train
from kintsugi.train.data import TrainDataError

SIZE = 128


@pytest.fixture(scope="module")
def portraits(tmp_path_factory) -> Path:
    """Two photos with a face (astronaut, cameraman) and two without (a cat, coffee); BSD-3."""
    data = pytest.importorskip("skimage.data")
    folder = tmp_path_factory.mktemp("portraits")
    for name in ("astronaut", "camera", "chelsea", "coffee"):
        Image.fromarray(np.asarray(getattr(data, name)())).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def detector():
    return load_detector("cpu")


def test_aligned_crop_puts_the_eyes_and_mouth_on_the_template(portraits, tmp_path, detector, caplog):
    with caplog.at_level(logging.WARNING, logger="kintsugi.train.align"):
        found = align.aligned_faces(sorted(portraits.iterdir()), SIZE, tmp_path / "cache")
    assert found.names == ["astronaut.png#0", "camera.png#0"] and found.without_face == 2
    assert "2 of 4 photos have no face" in caplog.text
    template = facepaste.template(SIZE)
    found_again = []
    for crop in found.crops:
        assert crop.shape == (3, SIZE, SIZE)
        faces = detect_faces(crop.permute(1, 2, 0).numpy(), detector)
        assert len(faces) >= 1
        found_again.append(faces[0].landmarks)
        # The eyes, found again in the crop, sit where the FFHQ template puts them.
        eyes = faces[0].landmarks[:2].mean(axis=0)
        assert np.abs(eyes - template[:2].mean(axis=0)).max() < 0.04 * SIZE, faces[0].landmarks
    # The astronaut faces the camera: all five points land on the template (within 5%).
    # (The cameraman is turned aside, so no similarity can put his five points there.)
    assert np.abs(found_again[0] - template).max() < 0.05 * SIZE, found_again[0]


def test_centre_square_of_the_photo_is_not_aligned(portraits, detector):
    """What --no-align takes: on a photo that is not a face crop, the face is elsewhere."""
    from kintsugi.train.data import PhotoSet

    photo = PhotoSet([portraits / "astronaut.png"], SIZE).faces(1, SIZE, torch.Generator().manual_seed(1))[0]
    faces = detect_faces(photo.permute(1, 2, 0).numpy(), detector)
    assert not faces or np.abs(faces[0].landmarks - facepaste.template(SIZE)).max() > 0.1 * SIZE


def test_detection_runs_once_per_photo_then_the_cache_is_read(portraits, tmp_path, monkeypatch):
    calls = []
    real = align._align_photo

    def counted(path, size, detector):
        calls.append(path.name)
        return real(path, size, detector)

    monkeypatch.setattr(align, "_align_photo", counted)
    files = sorted(portraits.iterdir())
    first = align.aligned_faces(files, SIZE, tmp_path / "cache")
    assert sorted(calls) == ["astronaut.png", "camera.png", "chelsea.png", "coffee.png"]
    second = align.aligned_faces(files, SIZE, tmp_path / "cache")
    assert len(calls) == 4  # nothing detected again, the photos without a face included
    assert second.names == first.names and second.without_face == 2
    for a, b in zip(first.crops, second.crops, strict=True):
        assert torch.equal(a, b)
    edited = tmp_path / "astronaut.png"
    edited.write_bytes((portraits / "astronaut.png").read_bytes())
    align.aligned_faces([edited], SIZE, tmp_path / "cache")
    assert calls[-1] == "astronaut.png" and len(calls) == 5  # a new or changed photo is aligned


def test_photos_without_faces_are_a_one_line_error_that_names_no_align(portraits, tmp_path):
    with pytest.raises(TrainDataError, match="--no-align") as caught:
        align.aligned_faces([portraits / "coffee.png"], SIZE, tmp_path / "cache")
    assert "\n" not in str(caught.value)


G = {"style_dim": 32, "n_mlp": 2, "channels": [16] * 5}
TINY_GLEAN = {**G, "rrdb_channels": 8, "num_rrdbs": 1, "growth": 4, "decoder_channels": 8}


def test_a_face_run_trains_on_the_aligned_crops_and_no_align_on_the_photos(portraits, tmp_path, monkeypatch):
    seen = []
    from kintsugi.train import face_targets

    real = face_targets.FaceTarget.batch

    def spy(self, photos, count, gen):
        seen.append(list(photos.names))
        return real(self, photos, count, gen)

    monkeypatch.setattr(face_targets.FaceTarget, "batch", spy)
    settings = dict(target="glean", data=portraits, size=64, scale=8, params=dict(TINY_GLEAN), steps=1, batch=1,
                    device="cpu", val_every=1, gan_weight=0.0)
    train(TrainConfig(out=tmp_path / "aligned", **settings))  # type: ignore[arg-type]
    # Photos without a face are dropped before the held-out split (every 10th, at least one),
    # so the held-out photo has a face: camera is held out, astronaut's face trained on.
    assert ["astronaut.png#0"] in seen and ["camera.png#0"] in seen
    assert sorted(p.name for p in (tmp_path / "aligned" / "aligned-64").iterdir())[-1] == "index.json"
    seen.clear()
    train(TrainConfig(out=tmp_path / "plain", align=False, **settings))  # type: ignore[arg-type]
    assert ["astronaut.png", "camera.png", "coffee.png"] in seen  # chelsea held out
    assert not (tmp_path / "plain" / "aligned-64").exists()
