"""The in-memory photo: float32 pixels in [0, 1], alpha apart, and its metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Metadata:
    icc_profile: bytes | None = None
    exif: bytes | None = None  # b"Exif\0\0" + TIFF-structured block, Orientation = 1
    xmp: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)
    source_format: str | None = None
    source_path: str | None = None
    dpi: tuple[float, float] | None = None
    # IPTC-IIM records as stored (caption, keywords, copyright...): a JPEG's Photoshop
    # APP13 resource 0x0404, a TIFF's tag 33723. Written to JPEG and TIFF.
    iptc: bytes | None = None


_KEEP: Any = object()


@dataclass
class Image:
    pixels: np.ndarray
    alpha: np.ndarray | None
    metadata: Metadata
    bit_depth: int

    def __post_init__(self) -> None:
        p = self.pixels
        if p.ndim != 3 or p.shape[2] not in (1, 3) or p.dtype != np.float32:
            raise ValueError(f"pixels must be float32 HxWx1 or HxWx3, got {p.dtype} {p.shape}")
        if self.alpha is not None:
            a = self.alpha
            if a.shape != p.shape[:2] or a.dtype != np.float32:
                raise ValueError(f"alpha must be float32 {p.shape[:2]}, got {a.dtype} {a.shape}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {self.bit_depth}")

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def is_gray(self) -> bool:
        return self.channels == 1

    @classmethod
    def from_array(cls, arr: np.ndarray, bit_depth: int | None = None) -> Image:
        """uint8 / uint16 / float (taken as [0, 1]); HxW, HxWx1/2/3/4 (last of 2/4 = alpha)."""
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
            raise ValueError(f"expected HxW or HxWx1/2/3/4, got shape {arr.shape}")
        values = to_float(arr)
        if bit_depth is None:
            bit_depth = 16 if arr.dtype == np.uint16 else 8
        has_alpha = arr.shape[2] in (2, 4)
        pixels = values[:, :, :-1] if has_alpha else values
        alpha = values[:, :, -1] if has_alpha else None
        return cls(np.ascontiguousarray(pixels), _contiguous(alpha), Metadata(), bit_depth)

    def replace(self, pixels: np.ndarray = _KEEP, alpha: np.ndarray | None = _KEEP) -> Image:
        """A new Image sharing this one's metadata and bit depth."""
        new_pixels = self.pixels if pixels is _KEEP else pixels
        new_alpha = self.alpha if alpha is _KEEP else alpha
        return Image(new_pixels, new_alpha, self.metadata, self.bit_depth)

    def to_uint(self, bit_depth: int) -> np.ndarray:
        """HxWxC (+1 alpha channel) as uint8 or uint16, rounded to nearest.

        Converted in bands of rows so a 50 MP result needs no full-size float temporaries.
        """
        if bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
        top = np.float32(255 if bit_depth == 8 else 65535)
        channels = self.channels + (self.alpha is not None)
        out = np.empty(
            (self.height, self.width, channels), np.uint8 if bit_depth == 8 else np.uint16
        )
        for r0 in range(0, self.height, _BAND_ROWS):
            r1 = min(self.height, r0 + _BAND_ROWS)
            out[r0:r1, :, : self.channels] = _quantize(self.pixels[r0:r1], top)
            if self.alpha is not None:
                out[r0:r1, :, -1] = _quantize(self.alpha[r0:r1], top)
        return out


_BAND_ROWS = 256


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """Contiguous float32 HxWx3 for the networks: grey repeated, alpha dropped (it is
    upscaled apart and re-attached)."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxWx1/3/4 image, got shape {pixels.shape}")
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3], dtype=np.float32)


def _quantize(values: np.ndarray, top: np.float32) -> np.ndarray:
    band = np.clip(values, 0.0, 1.0) * top
    return np.rint(band, out=band)


def to_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype in (np.uint8, np.uint16):
        values = arr.astype(np.float32)
        top = np.float32(255 if arr.dtype == np.uint8 else 65535)
        return np.divide(values, top, out=values)  # in place: no second full-size array
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(arr, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"unsupported pixel type {arr.dtype}")


def _contiguous(arr: np.ndarray | None) -> np.ndarray | None:
    return None if arr is None else np.ascontiguousarray(arr)
