"""Face detection front end: prior grid, decoding, NMS, and detect_faces on real photos
(one face on the astronaut, one on the cameraman, none on coffee or bricks)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from kintsugi.archs import retinaface
from kintsugi.engine.errors import ModelError
from kintsugi.engine.faces import (
    DETECTOR_ID,
    Face,
    decode,
    detect_faces,
    load_detector,
    nms,
    prior_boxes,
)
from kintsugi.resources import models_dir

# The astronaut's face in the 512x512 original (x0, y0, x1, y1), checked by eye.
ASTRONAUT_FACE = (178.0, 57.0, 273.0, 177.0)


@pytest.fixture(scope="module")
def detector() -> torch.nn.Module:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return load_detector("cpu")


@pytest.fixture(scope="module")
def astronaut_512() -> np.ndarray:
    # Loaded here rather than from a shared fixture: these tests need the full 512 px photo.
    return pytest.importorskip("skimage.data").astronaut()


def _float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    size = (side, round(side * height / width))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def _assert_plausible_landmarks(face: Face) -> None:
    x0, y0, x1, y1 = face.box
    marks = face.landmarks
    assert marks.shape == (5, 2)
    left_eye, right_eye, nose, mouth_left, mouth_right = marks
    assert np.all((marks[:, 0] > x0) & (marks[:, 0] < x1)), marks
    assert np.all((marks[:, 1] > y0) & (marks[:, 1] < y1)), marks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


# ---- priors, decoding, NMS ----------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), [(37, 53), (64, 64), (200, 131)])
def test_prior_count_matches_network_output(
    detector: torch.nn.Module, height: int, width: int
) -> None:
    with torch.inference_mode():
        loc, _, _ = detector(torch.zeros(1, 3, height, width))
    assert prior_boxes(height, width).shape == (loc.shape[1], 4)


def test_prior_order_is_level_row_column_size() -> None:
    priors = prior_boxes(64, 48)  # stride-8 grid: 8 rows x 6 columns, two sizes each
    np.testing.assert_array_equal(priors[0], [4, 4, 16, 16])
    np.testing.assert_array_equal(priors[1], [4, 4, 32, 32])
    np.testing.assert_array_equal(priors[2], [12, 4, 16, 16])  # next column
    np.testing.assert_array_equal(priors[12], [4, 12, 16, 16])  # next row
    first_16 = 2 * 8 * 6
    np.testing.assert_array_equal(priors[first_16], [8, 8, 64, 64])  # stride 16 starts
    np.testing.assert_array_equal(priors[-1], [48, 48, 512, 512])  # stride 32: 2x2 cells


def test_decode_offsets() -> None:
    priors = np.array([[100.0, 50.0, 20.0, 40.0]], dtype=np.float32)
    zero_boxes, zero_marks = decode(
        np.zeros((1, 4), np.float32), np.zeros((1, 10), np.float32), priors
    )
    np.testing.assert_allclose(zero_boxes[0], [90, 30, 110, 70])
    np.testing.assert_allclose(zero_marks[0], np.tile([100, 50], (5, 1)))
    # dx=1 moves the centre by 0.1 * width; dw=ln(2)/0.2 doubles the width.
    loc = np.array([[1.0, -1.0, np.log(2) / 0.2, 0.0]], dtype=np.float32)
    marks = np.array([[1, 0, 0, 1, -1, 0, 0, -1, 2, 2]], dtype=np.float32)
    boxes, points = decode(loc, marks, priors)
    np.testing.assert_allclose(boxes[0], [82, 26, 122, 66], rtol=1e-5)
    np.testing.assert_allclose(points[0], [[102, 50], [100, 54], [98, 50], [100, 46], [104, 58]])


def test_nms_keeps_best_of_overlapping_and_separate_boxes() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 5]], dtype=np.float32
    )
    scores = np.array([0.8, 0.9, 0.7, 0.6], dtype=np.float32)
    # [1] beats [0] (IoU 81/119 = 0.68); [3] overlaps [1] by 36/114 = 0.32 and stays.
    np.testing.assert_array_equal(nms(boxes, scores, 0.4), [1, 2, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [1, 2])
    assert nms(boxes[:0], scores[:0], 0.4).size == 0


# ---- detection on photos -------------------------------------------------------------------


def test_astronaut_has_one_face(detector: torch.nn.Module, astronaut_512: np.ndarray) -> None:
    faces = detect_faces(_float(_shrink(astronaut_512, 256)), detector)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.95
    expected = tuple(v / 2 for v in ASTRONAUT_FACE)
    assert _iou(face.box, expected) > 0.8, face.box
    _assert_plausible_landmarks(face)


def test_large_image_is_shrunk_and_mapped_back(
    detector: torch.nn.Module, astronaut_512: np.ndarray
) -> None:
    full = detect_faces(_float(astronaut_512), detector, max_side=512)
    shrunk = detect_faces(_float(astronaut_512), detector, max_side=200)
    assert len(full) == len(shrunk) == 1
    assert _iou(full[0].box, ASTRONAUT_FACE) > 0.85
    assert _iou(shrunk[0].box, full[0].box) > 0.8
    # Landmarks come back in the caller's pixels, within a few pixels of the full-size run.
    assert float(np.abs(shrunk[0].landmarks - full[0].landmarks).max()) < 6.0
    _assert_plausible_landmarks(shrunk[0])


def test_grayscale_cameraman_has_one_face(detector: torch.nn.Module) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    gray = _float(_shrink(skimage_data.camera(), 320))  # HxW, no channel axis
    faces = detect_faces(gray, detector)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 110 < (x0 + x1) / 2 < 170 and 70 < (y0 + y1) / 2 < 130  # head, upper middle
    assert np.all((faces[0].landmarks[:, 1] > y0) & (faces[0].landmarks[:, 1] < y1))


@pytest.mark.parametrize("name", ["coffee", "brick"])
def test_no_face_photos(detector: torch.nn.Module, name: str) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    assert detect_faces(_float(getattr(skimage_data, name)()), detector) == []


def test_threshold_filters_and_order(detector: torch.nn.Module, astronaut_512: np.ndarray) -> None:
    image = _float(_shrink(astronaut_512, 256))
    loose = detect_faces(image, detector, score_threshold=0.02)
    assert len(loose) >= 1
    scores = [face.score for face in loose]
    assert scores == sorted(scores, reverse=True)
    assert detect_faces(image, detector, score_threshold=0.99999) == []


def test_rejects_bad_shape(detector: torch.nn.Module) -> None:
    with pytest.raises(ValueError):
        detect_faces(np.zeros((8, 8, 2), np.float32), detector)


# ---- loading -------------------------------------------------------------------------------


def test_load_detector_missing_or_corrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(models_dir() / "manifest.toml", tmp_path / "manifest.toml")
    monkeypatch.setenv("KINTSUGI_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="missing"):
        load_detector()
    (tmp_path / f"{DETECTOR_ID}.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ModelError, match="not a valid safetensors"):
        load_detector()


def test_load_detector_is_eval_retinaface(detector: torch.nn.Module) -> None:
    assert isinstance(detector, retinaface.RetinaFace)
    assert not detector.training
    assert next(detector.parameters()).dtype == torch.float32
