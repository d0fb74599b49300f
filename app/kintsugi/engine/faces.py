"""Face detection: boxes, scores and five landmarks from the shipped RetinaFace model.

The network (:mod:`kintsugi.archs.retinaface`) predicts offsets against a fixed grid of
prior boxes; here we build that grid, decode boxes and landmarks into pixels, drop low
scores, run non-maximum suppression and map results back to the caller's image size.
Large photos are shrunk before detection: the priors cover faces of roughly 10 to 600
pixels, and the cost grows with the pixel count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch import nn

from kintsugi.archs import retinaface
from kintsugi.engine.imageio.image import as_rgb

log = logging.getLogger(__name__)

DETECTOR_ID = "retinaface-mobilenet0.25"
DEFAULT_MAX_SIDE = 1024
_PRE_NMS_TOP_K = 5000  # bounds NMS cost on busy images; real photos keep far fewer


@dataclass(eq=False)
class Face:
    """One detected face, in the pixel coordinates of the image given to detect_faces.

    ``landmarks`` rows are: left eye, right eye, nose, mouth left, mouth right, where
    left/right are as seen in the image (the first eye is the one nearer x = 0 on an
    upright, unmirrored face). Boxes and landmarks may reach past the image border when a
    face is cut by it.
    """

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    landmarks: np.ndarray = field(repr=False)  # (5, 2) float32, (x, y)


# --- loading -----------------------------------------------------------------------


def load_detector(device: str | torch.device = "cpu") -> nn.Module:
    """The shipped RetinaFace, in eval mode on ``device``, through the model registry."""
    from kintsugi.engine.registry import load_model

    return load_model(DETECTOR_ID, str(device)).net


# --- priors, decoding, NMS -----------------------------------------------------------


def prior_boxes(height: int, width: int) -> np.ndarray:
    """(A, 4) prior (cx, cy, w, h) in pixels, in the network's output order."""
    levels = []
    for stride, sizes in zip(retinaface.STRIDES, retinaface.PRIOR_SIZES, strict=True):
        rows, cols = -(-height // stride), -(-width // stride)  # ceil, as the convs pad
        cy, cx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centers = (np.stack([cx.ravel(), cy.ravel()], axis=1) + 0.5) * stride
        # Each location carries one prior per size, sizes varying fastest.
        centers = np.repeat(centers, len(sizes), axis=0)
        square = np.repeat(np.asarray(sizes, dtype=np.float64)[:, None], 2, axis=1)
        extent = np.tile(square, (rows * cols, 1))
        levels.append(np.concatenate([centers, extent], axis=1))
    return np.concatenate(levels, axis=0).astype(np.float32)


def decode(loc: np.ndarray, marks: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network offsets -> boxes (A, 4) x0 y0 x1 y1 and landmarks (A, 5, 2), in pixels."""
    centers, sizes = priors[:, :2], priors[:, 2:]
    box_centers = centers + loc[:, :2] * retinaface.CENTER_VARIANCE * sizes
    box_sizes = sizes * np.exp(loc[:, 2:] * retinaface.SIZE_VARIANCE)
    boxes = np.concatenate([box_centers - box_sizes / 2, box_centers + box_sizes / 2], axis=1)
    offsets = marks.reshape(-1, 5, 2)
    points = centers[:, None, :] + offsets * retinaface.CENTER_VARIANCE * sizes[:, None, :]
    return boxes, points


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(
        boxes[:, 3] - boxes[:, 1], 0, None
    )
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        iou = overlap / np.maximum(areas[best] + areas[rest] - overlap, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


# --- detection -----------------------------------------------------------------------


def network_input(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """RGB 0..1 HxWx3 -> the (1, 3, H, W) BGR, mean-subtracted tensor the network takes."""
    bgr = rgb[..., ::-1] * 255.0 - np.asarray(retinaface.BGR_MEAN, dtype=np.float32)
    # HxWxC memory seen as NCHW is already channels-last: no copy on the way in.
    tensor = torch.from_numpy(np.ascontiguousarray(bgr)).permute(2, 0, 1)[None]
    return tensor.to(device).contiguous(memory_format=torch.channels_last)


def _box_tuple(box: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return x0, y0, x1, y1


def detect_faces(
    pixels: np.ndarray,
    model: nn.Module,
    score_threshold: float = 0.5,
    nms_threshold: float = 0.4,
    max_side: int = DEFAULT_MAX_SIDE,
) -> list[Face]:
    """Faces in an HxWx3 float32 RGB [0, 1] image, best score first."""
    rgb = as_rgb(pixels)
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
    if (small_w, small_h) != (width, height):
        rgb = cv2.resize(rgb, (small_w, small_h), interpolation=cv2.INTER_AREA)

    weight = next(model.parameters())
    with torch.inference_mode():
        loc, conf, marks = model(network_input(rgb, weight.device).to(weight.dtype))
    loc, scores, marks = (
        loc[0].float().cpu().numpy(),
        conf[0, :, 1].float().cpu().numpy(),
        marks[0].float().cpu().numpy(),
    )

    candidates = np.flatnonzero(scores > score_threshold)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")][:_PRE_NMS_TOP_K]
    priors = prior_boxes(small_h, small_w)[candidates]
    boxes, points = decode(loc[candidates], marks[candidates], priors)
    keep = nms(boxes, scores[candidates], nms_threshold)

    # Back to the caller's pixels; x and y scale separately because sizes are rounded.
    to_x, to_y = width / small_w, height / small_h
    boxes = boxes[keep] * np.array([to_x, to_y, to_x, to_y], dtype=np.float32)
    points = points[keep] * np.array([to_x, to_y], dtype=np.float32)
    faces = [
        Face(box=_box_tuple(box), score=float(score), landmarks=pts.astype(np.float32))
        for box, score, pts in zip(boxes, scores[candidates][keep], points, strict=True)
    ]
    log.debug(
        "detect_faces: %d faces in %dx%d (ran at %dx%d)",
        len(faces),
        width,
        height,
        small_w,
        small_h,
    )
    return faces
