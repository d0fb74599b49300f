"""Faces in real photos: align each face to the FFHQ template, and paste restored faces back.

Coordinates follow OpenCV: pixel centres sit at integer positions. An alignment is a 2x3
matrix that maps photo coordinates to aligned-crop coordinates (a similarity: rotation,
uniform scale, translation), fitted by least squares to the five landmarks (Umeyama).

Restorers work at their own scale (crop in_size -> out_size) and the background is
upscaled by the photo scale s, so the paste-back matrix is the alignment conjugated by
both scalings (:func:`rescale_matrix`): nothing is re-estimated at the output scale.

The blend mask lives in aligned space, where every face sits in the same place: a wide
ellipse that covers forehead, hair and chin, with a smooth fall-off to exactly zero
before the crop border, so the crop box never shows (users' complaint: hair cut at the
crop box, CodeFormer #31 #67 #406).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.faces import Face

log = logging.getLogger(__name__)

# Five FFHQ landmarks (left eye, right eye, nose, mouth left, mouth right) in a 512 crop.
FFHQ_TEMPLATE_512 = np.array(
    [[192.98, 239.95], [318.90, 240.19], [256.63, 314.02], [201.26, 371.41], [313.09, 371.15]],
    dtype=np.float64,
)
TEMPLATE_SIZE = 512

# Blend ellipse in units of the crop side: centre, semi-axes, and the fraction of the
# radius over which the weight falls from 1 to 0 (the "erode + blur" of a hard mask).
MASK_CENTER = (0.5, 0.48)
MASK_AXES = (0.43, 0.44)
MASK_FEATHER = 0.28
# Bicubic sampling may shrink by up to this factor; beyond it the source is first reduced
# by area averaging (to exactly this factor), so fine detail does not alias. Up to 2x the
# bicubic kernel still reads every source pixel, and an enlarged crop pasted back keeps
# its sharpness (an area pre-filter at 1x would blur it).
_MAX_ZOOM = 2.0

FaceSelection = str | int | Sequence[int] | None


@dataclass(frozen=True)
class FacePlacement:
    """A chosen face and where its aligned crop sits in the photo.

    ``index`` is the face's number in reading order (left to right), the one users pick.
    ``matrix`` maps input-photo coordinates to aligned-crop coordinates at ``size``.
    """

    index: int
    face: Face
    matrix: np.ndarray
    size: int


# ----------------------------------------------------------------------------- geometry


def template(size: int) -> np.ndarray:
    """The FFHQ five-point template for a square crop of ``size`` pixels."""
    return FFHQ_TEMPLATE_512 * (size / TEMPLATE_SIZE)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (no reflection) mapping src points onto dst (Umeyama 1991)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (N, 2) point sets, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    # A reflection would mirror the face: flip the weakest axis instead.
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = (src_c**2).sum() / len(src)
    if variance <= 0:
        raise ValueError("the source points coincide")
    scale = float((singular * sign).sum() / variance)
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix taking photo coordinates to the aligned crop of ``size`` px."""
    return similarity_transform(np.asarray(landmarks, dtype=np.float64), template(size))


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def _pixel_scaling(factor: float) -> np.ndarray:
    """Coordinates of the same point after resizing an image by ``factor`` (centre aligned)."""
    offset = 0.5 * factor - 0.5
    return np.array([[factor, 0.0, offset], [0.0, factor, offset], [0.0, 0.0, 1.0]])


def rescale_matrix(matrix: np.ndarray, photo_scale: float, crop_scale: float) -> np.ndarray:
    """The alignment seen from a photo enlarged by ``photo_scale`` into a crop enlarged by
    ``crop_scale``: crop' = C_crop . M . C_photo^-1."""
    full = _pixel_scaling(crop_scale) @ _homogeneous(matrix) @ np.linalg.inv(_pixel_scaling(photo_scale))
    return full[:2]


def invert(matrix: np.ndarray) -> np.ndarray:
    return np.linalg.inv(_homogeneous(matrix))[:2]


def _zoom(inverse: np.ndarray) -> float:
    """Source pixels per destination pixel of a map dst -> src."""
    return math.sqrt(abs(np.linalg.det(inverse[:, :2])))


def warp(src: np.ndarray, inverse: np.ndarray, width: int, height: int,
         border: int = cv2.BORDER_REFLECT_101, value: float = 0.0) -> np.ndarray:
    """Resample ``src`` onto a width x height grid; ``inverse`` maps dst -> src coordinates.

    Bicubic when enlarging or keeping the size; when shrinking, the source is first
    reduced by area averaging so that fine detail does not alias.
    """
    zoom = _zoom(inverse)
    src, inverse = _crop_source(src, inverse, width, height)
    if zoom > _MAX_ZOOM and min(src.shape[:2]) > 1:
        factor = _MAX_ZOOM / zoom
        new_w = max(1, round(src.shape[1] * factor))
        new_h = max(1, round(src.shape[0] * factor))
        fx, fy = new_w / src.shape[1], new_h / src.shape[0]
        src = cv2.resize(src, (new_w, new_h), interpolation=cv2.INTER_AREA)
        shrink = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])
        inverse = (shrink @ _homogeneous(inverse))[:2]
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    channels = src.shape[2] if src.ndim == 3 else 0
    border_value = (value,) * max(channels, 1)
    out = cv2.warpAffine(src, inverse, (width, height), flags=flags, borderMode=border,
                         borderValue=border_value)
    if src.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def _crop_source(src: np.ndarray, inverse: np.ndarray, width: int, height: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Only the part of a big photo that the destination grid reads (plus interpolation margin).

    Slicing is skipped where it would touch the photo border, so border handling stays
    the photo's own.
    """
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]],
                       dtype=np.float64)
    mapped = corners @ inverse.T
    margin = 4 + 2 * math.ceil(_zoom(inverse))
    x0 = max(0, math.floor(mapped[:, 0].min()) - margin)
    y0 = max(0, math.floor(mapped[:, 1].min()) - margin)
    x1 = min(src.shape[1], math.ceil(mapped[:, 0].max()) + margin + 1)
    y1 = min(src.shape[0], math.ceil(mapped[:, 1].max()) + margin + 1)
    if x0 == 0 and y0 == 0 and x1 == src.shape[1] and y1 == src.shape[0]:
        return src, inverse
    if x1 <= x0 or y1 <= y0:  # entirely outside: keep one pixel, the border mode fills
        x0, y0, x1, y1 = 0, 0, 1, 1
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    return src[y0:y1, x0:x1], shifted


# ----------------------------------------------------------------------------- faces


def order_faces(faces: Sequence[Face]) -> list[Face]:
    """Reading order (left to right, then top to bottom): the numbers users see and pick."""
    return sorted(faces, key=lambda f: ((f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2))


def face_size(face: Face) -> float:
    x0, y0, x1, y1 = face.box
    return float(max(x1 - x0, y1 - y0))


def select_faces(faces: Sequence[Face], which: FaceSelection = "all") -> list[tuple[int, Face]]:
    """(index, face) pairs in reading order.

    which: "all"; a list of indices (reading order, 0 = leftmost); or an int = minimum
    face size in pixels (the larger side of the detected box, input scale).
    """
    ordered = order_faces(faces)
    numbered = list(enumerate(ordered))
    if which is None or (isinstance(which, str) and which == "all"):
        return numbered
    if isinstance(which, str):
        raise KintsugiError(f"faces must be 'all', a list of indices or a minimum size, not {which!r}")
    if isinstance(which, (int, np.integer)) and not isinstance(which, bool):
        return [(i, f) for i, f in numbered if face_size(f) >= int(which)]
    if isinstance(which, bool):
        raise KintsugiError(f"faces must be 'all', a list of indices or a minimum size, not {which!r}")
    indices = [int(i) for i in which]
    bad = [i for i in indices if not 0 <= i < len(ordered)]
    if bad:
        raise KintsugiError(
            f"face {bad[0]} does not exist: {len(ordered)} face(s) found, numbered 0 to {len(ordered) - 1} "
            "from left to right")
    return [(i, ordered[i]) for i in sorted(set(indices))]


def place_faces(faces: Sequence[tuple[int, Face]], size: int) -> list[FacePlacement]:
    return [FacePlacement(i, f, alignment_matrix(f.landmarks, size), size) for i, f in faces]


def align_face(rgb: np.ndarray, placement: FacePlacement) -> np.ndarray:
    """The aligned crop (size x size x C) of one face from the input photo."""
    return warp(rgb, invert(placement.matrix), placement.size, placement.size)


def align_map(values: np.ndarray, placement: FacePlacement) -> np.ndarray:
    """A per-pixel map of the photo (HxW) seen in the face's aligned space."""
    return warp(values.astype(np.float32), invert(placement.matrix), placement.size, placement.size,
                border=cv2.BORDER_REPLICATE)


# ----------------------------------------------------------------------------- blending


@lru_cache(maxsize=8)
def face_mask(size: int) -> np.ndarray:
    """Blend weight in aligned space: 1 over face and hair, smoothly 0 before the crop edge.

    A smoothstep of the elliptical radius: the closed form of eroding a filled ellipse and
    blurring it, but exactly zero outside the ellipse, which lies inside the crop.
    """
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size
    cy, cx = MASK_CENTER[1], MASK_CENTER[0]
    ry, rx = MASK_AXES[1], MASK_AXES[0]
    radius = np.sqrt(((coords[None, :] - cx) / rx) ** 2 + ((coords[:, None] - cy) / ry) ** 2)
    t = np.clip((1.0 - radius) / MASK_FEATHER, 0.0, 1.0)
    mask = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    mask.setflags(write=False)
    return mask


def paste_face(background: np.ndarray, restored: np.ndarray, matrix_out: np.ndarray,
               color_match: bool = True) -> np.ndarray:
    """Blend one restored crop into ``background`` (HxWx3, output scale) in place.

    matrix_out maps background coordinates to restored-crop coordinates. Returns the
    blend weight painted into the photo (HxW), for callers that want the face mask.
    """
    size = restored.shape[0]
    height, width = background.shape[:2]
    box = _footprint(invert(matrix_out), size, width, height)
    weight_full = np.zeros((height, width), np.float32)
    if box is None:
        return weight_full
    x0, y0, x1, y1 = box
    local = matrix_out.copy()
    local[:, 2] += matrix_out[:, :2] @ np.array([x0, y0], dtype=np.float64)
    bw, bh = x1 - x0, y1 - y0
    face = warp(np.ascontiguousarray(restored, dtype=np.float32), local, bw, bh,
                border=cv2.BORDER_REPLICATE)
    weight = warp(face_mask(size).copy(), local, bw, bh, border=cv2.BORDER_CONSTANT)
    np.clip(weight, 0.0, 1.0, out=weight)
    weight = weight[:, :, 0] if weight.ndim == 3 else weight
    region = background[y0:y1, x0:x1]
    if color_match:
        face = match_colors(face, region, weight)
    region += weight[:, :, None] * (face - region)
    weight_full[y0:y1, x0:x1] = weight
    return weight_full


def _footprint(crop_to_photo: np.ndarray, size: int, width: int, height: int
               ) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) in the photo of the crop, clipped to the photo."""
    corners = np.array([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [-0.5, size - 0.5, 1],
                        [size - 0.5, size - 0.5, 1]])
    mapped = corners @ crop_to_photo.T
    x0 = max(0, math.floor(mapped[:, 0].min()) - 1)
    y0 = max(0, math.floor(mapped[:, 1].min()) - 1)
    x1 = min(width, math.ceil(mapped[:, 0].max()) + 2)
    y1 = min(height, math.ceil(mapped[:, 1].max()) + 2)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def match_colors(face: np.ndarray, target: np.ndarray, weight: np.ndarray,
                 max_ratio: float = 2.0) -> np.ndarray:
    """Shift/scale the face's Lab channels to the target's mean/std, both weighted by the mask.

    Restorers often drift in colour (CodeFormer #121 #238); matching inside the blend
    mask keeps the face's detail and the photo's colours. The std ratio is bounded so a
    flat target cannot wipe out the restored texture.
    """
    total = float(weight.sum())
    if total < 1.0:
        return face
    face_lab = cv2.cvtColor(np.clip(face, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2Lab)
    target_lab = cv2.cvtColor(np.clip(target, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2Lab)
    w = (weight / total)[:, :, None].astype(np.float64)
    mean_f = (face_lab * w).sum(axis=(0, 1))
    mean_t = (target_lab * w).sum(axis=(0, 1))
    std_f = np.sqrt(((face_lab - mean_f) ** 2 * w).sum(axis=(0, 1)))
    std_t = np.sqrt(((target_lab - mean_t) ** 2 * w).sum(axis=(0, 1)))
    ratio = np.clip(std_t / np.maximum(std_f, 1e-6), 1.0 / max_ratio, max_ratio)
    ratio = np.where(std_f < 1e-6, 1.0, ratio)
    matched = ((face_lab - mean_f) * ratio + mean_t).astype(np.float32)
    rgb = cv2.cvtColor(matched, cv2.COLOR_Lab2RGB)
    # Out-of-mask pixels are not blended anyway; keep the unmatched values where w == 0.
    return np.where(weight[:, :, None] > 0, rgb, face).astype(np.float32)
