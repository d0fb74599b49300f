"""Faces in real photos: alignment to the FFHQ template, inverse warp, feathered paste-back.

The round trip (align -> identity "restorer" -> paste back) must give the photo back:
it exercises alignment, inverse warp and blending together.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from kintsugi.engine import facepaste as fp
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.faces import Face, detect_faces, load_detector


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    err = float(((a - b) ** 2)[where].mean())
    return float("inf") if err == 0 else 10 * np.log10(1.0 / err)


@pytest.fixture(scope="module")
def detector() -> torch.nn.Module:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return load_detector("cpu")


@pytest.fixture(scope="module")
def astronaut512() -> np.ndarray:
    return pytest.importorskip("skimage.data").astronaut().astype(np.float32) / 255


def two_face_photo() -> np.ndarray:
    """Two different real faces (the astronaut, and a flipped smaller copy) on a real photo."""
    data = pytest.importorskip("skimage.data")
    astronaut = data.astronaut()
    canvas = cv2.resize(data.coffee(), (320, 224), interpolation=cv2.INTER_AREA)
    head = astronaut[20:210, 140:310]
    for scale, x, y, flip in ((0.6, 20, 40, False), (0.45, 200, 70, True)):
        patch = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        patch = patch[:, ::-1] if flip else patch
        canvas[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    return canvas.astype(np.float32) / 255


def round_trip(photo: np.ndarray, faces: list[Face], size: int, photo_scale: int = 1,
               color_match: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste identity-restored faces back; returns (result, reference, combined weight)."""
    if photo_scale == 1:
        reference = photo
    else:
        h, w = photo.shape[:2]
        reference = cv2.resize(photo, (w * photo_scale, h * photo_scale), interpolation=cv2.INTER_CUBIC)
    canvas = reference.copy()
    weight = np.zeros(canvas.shape[:2], np.float32)
    for place in fp.place_faces(fp.select_faces(faces), size):
        crop = fp.align_face(photo, place)
        out = crop if photo_scale == 1 else cv2.resize(
            crop, (size * photo_scale,) * 2, interpolation=cv2.INTER_CUBIC)
        matrix = fp.rescale_matrix(place.matrix, photo_scale, photo_scale)
        weight = np.maximum(weight, fp.paste_face(canvas, out, matrix, color_match=color_match))
    return canvas, reference, weight


# ---- geometry -------------------------------------------------------------------------


def test_similarity_recovers_a_known_transform_and_never_mirrors() -> None:
    angle, scale, shift = 0.3, 2.5, np.array([40.0, -7.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = fp.FFHQ_TEMPLATE_512 / 4
    dst = src @ (scale * rot).T + shift
    m = fp.similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)
    mirrored = fp.similarity_transform(src, src * [-1, 1])
    assert np.linalg.det(mirrored[:, :2]) > 0


def test_alignment_puts_the_landmarks_on_the_template(detector, astronaut512) -> None:
    face = detect_faces(astronaut512, detector)[0]
    m = fp.alignment_matrix(face.landmarks, 512)
    mapped = np.c_[face.landmarks, np.ones(5)] @ m.T
    # Five real landmarks never fit a similarity exactly (the astronaut smiles widely):
    # the eyes land within a few px, and no nearby similarity fits better (least squares).
    residual = np.abs(mapped - fp.template(512))
    assert residual[:2].max() < 6 and residual.max() < 16
    best = float(((mapped - fp.template(512)) ** 2).sum())
    rng = np.random.default_rng(1)
    for _ in range(50):
        nudged = m + rng.normal(0, [[0.003, 0.003, 0.5], [0.003, 0.003, 0.5]])
        nudged[1, 1], nudged[1, 0] = nudged[0, 0], -nudged[0, 1]  # stay a similarity
        moved = np.c_[face.landmarks, np.ones(5)] @ nudged.T
        assert float(((moved - fp.template(512)) ** 2).sum()) >= best
    crop = fp.align_face(astronaut512, fp.FacePlacement(0, face, m, 512))
    assert crop.shape == (512, 512, 3)
    # Eyes are dark against skin in the aligned crop, where the template says they are.
    eye = crop[235:246, 188:198].mean()
    cheek = crop[300:320, 150:170].mean()
    assert eye < cheek


def test_rescaled_matrix_maps_the_same_points_at_any_scale(detector, astronaut512) -> None:
    face = detect_faces(astronaut512, detector)[0]
    m = fp.alignment_matrix(face.landmarks, 128)
    m4 = fp.rescale_matrix(m, 4, 8)
    point = np.array([250.0, 130.0])
    crop_point = m @ np.r_[point, 1]
    big_point = (point + 0.5) * 4 - 0.5
    np.testing.assert_allclose(m4 @ np.r_[big_point, 1], (crop_point + 0.5) * 8 - 0.5, atol=1e-9)


# ---- round trip -----------------------------------------------------------------------


def test_identity_round_trip_gives_back_the_astronaut(detector, astronaut512) -> None:
    faces = detect_faces(astronaut512, detector)
    result, reference, weight = round_trip(astronaut512, faces, 512)
    inside, outside = weight > 0.5, weight == 0
    assert inside.sum() > 5000 and outside.sum() > 100_000
    assert psnr(result, reference, inside) >= 40.0
    assert psnr(result, reference, weight > 0) >= 40.0
    assert np.array_equal(result[outside], reference[outside])


def test_identity_round_trip_with_two_faces_and_at_output_scale(detector) -> None:
    photo = two_face_photo()
    faces = detect_faces(photo, detector)
    assert len(faces) == 2
    for photo_scale in (1, 2):
        result, reference, weight = round_trip(photo, faces, 256, photo_scale)
        labels, count = cv2.connectedComponents((weight > 0.5).astype(np.uint8))[:2], None
        del count
        assert labels[0] == 3  # background + two separate face regions
        assert psnr(result, reference, weight > 0.5) >= 40.0, photo_scale
        assert psnr(result, reference, weight > 0) >= 40.0, photo_scale
        assert np.array_equal(result[weight == 0], reference[weight == 0])


# ---- blending -------------------------------------------------------------------------


def test_mask_covers_face_and_hair_and_is_zero_at_the_crop_border() -> None:
    mask = fp.face_mask(512)
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert border.max() == 0.0
    t = fp.template(512)
    for x, y in t:  # eyes, nose and mouth fully restored
        assert mask[int(y), int(x)] == 1.0
    assert mask[120, 256] > 0.9  # forehead / hairline
    assert mask[40, 256] > 0.0  # top of the hair still blended in
    # Feathered: no step larger than a small fraction between neighbouring pixels.
    steps = max(np.abs(np.diff(mask, axis=0)).max(), np.abs(np.diff(mask, axis=1)).max())
    assert steps < 0.03  # the fall-off spans ~60 px of a 512 crop


def test_paste_shows_no_crop_box_edge(detector) -> None:
    photo = two_face_photo()
    face = fp.order_faces(detect_faces(photo, detector))[0]
    place = fp.place_faces([(0, face)], 128)[0]
    canvas = photo.copy()
    grey = np.full((128, 128, 3), 0.5, np.float32)  # maximally different "restoration"
    weight = fp.paste_face(canvas, grey, place.matrix, color_match=False)
    changed = np.abs(canvas - photo).max(axis=2) > 1e-6
    # The change stays strictly inside the crop's footprint, away from the box edges.
    corners = np.array([[0, 0], [127, 0], [0, 127], [127, 127]], float)
    box = np.c_[corners, np.ones(4)] @ fp.invert(place.matrix).T
    inside_box = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillConvexPoly(inside_box, np.round(box[[0, 1, 3, 2]]).astype(np.int32), 1)
    shrunk = cv2.erode(inside_box, np.ones((3, 3), np.uint8))
    assert changed.any() and not (changed & (shrunk == 0)).any()
    # And the blend weight rises smoothly: a feather many pixels wide, not a step.
    assert np.abs(np.diff(weight, axis=1)).max() < 0.25
    assert ((weight > 0.05) & (weight < 0.95)).sum() > 0.3 * (weight >= 0.95).sum()


def test_color_match_removes_a_colour_cast_and_can_be_switched_off(detector) -> None:
    photo = two_face_photo()
    face = fp.order_faces(detect_faces(photo, detector))[0]
    place = fp.place_faces([(0, face)], 256)[0]
    crop = fp.align_face(photo, place)
    cast = np.clip(crop + np.array([0.25, -0.1, -0.1], np.float32), 0, 1)
    matched, raw = photo.copy(), photo.copy()
    weight = fp.paste_face(matched, cast, place.matrix, color_match=True)
    fp.paste_face(raw, cast, place.matrix, color_match=False)
    core = weight > 0.9
    red_shift_matched = float((matched - photo)[core][:, 0].mean())
    red_shift_raw = float((raw - photo)[core][:, 0].mean())
    assert red_shift_raw > 0.15
    assert abs(red_shift_matched) < 0.03


# ---- choosing faces -------------------------------------------------------------------


def test_faces_are_numbered_left_to_right_and_chosen_by_index_or_size(detector) -> None:
    faces = detect_faces(two_face_photo(), detector)
    ordered = fp.order_faces(faces)
    assert ordered[0].box[0] < ordered[1].box[0]
    assert [i for i, _ in fp.select_faces(faces, "all")] == [0, 1]
    assert [i for i, _ in fp.select_faces(faces, [1])] == [1]
    big = fp.face_size(ordered[0])
    small = fp.face_size(ordered[1])
    assert small < big
    assert [i for i, _ in fp.select_faces(faces, int(small) + 1)] == [0]
    assert fp.select_faces(faces, 10_000) == []
    with pytest.raises(KintsugiError, match="face 5 does not exist"):
        fp.select_faces(faces, [5])
    with pytest.raises(KintsugiError):
        fp.select_faces(faces, "some")
