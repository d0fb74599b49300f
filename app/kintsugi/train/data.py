"""Training photos from a folder: a deterministic held-out split and random crops.

Every random draw takes a ``torch.Generator`` that the loop seeds from (seed, step, rank),
so a resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from kintsugi.engine.errors import ImageReadError, KintsugiError
from kintsugi.engine.imageio import open_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


class TrainDataError(KintsugiError):
    """The training folder is missing, empty, or holds too few usable images."""


@dataclass(frozen=True)
class Split:
    train: list[Path]
    held_out: list[Path]


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise TrainDataError(f"training data folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise TrainDataError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def split_images(files: list[Path], held_out_fraction: float = 0.1) -> Split:
    """Every k-th image (in name order) is held out; at least one when there are two or more.

    Name order rather than a random draw so that the split is the same on every machine and
    for every rank, and adding photos to the folder moves few of the old ones.
    """
    if len(files) < 2:
        raise TrainDataError(f"need at least 2 images (one is held out for validation), found {len(files)}")
    count = max(1, round(len(files) * held_out_fraction))
    step = len(files) / count
    held = {int(i * step + step / 2) for i in range(count)}
    return Split(train=[f for i, f in enumerate(files) if i not in held],
                 held_out=[f for i, f in enumerate(files) if i in held])


def load_rgb(path: Path, min_side: int) -> torch.Tensor:
    """(3, H, W) float32 in [0, 1]; gray images become three channels; alpha is dropped."""
    image = open_image(path)
    pixels = torch.from_numpy(image.pixels).permute(2, 0, 1).contiguous()
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1).contiguous()
    short = min(pixels.shape[-2:])
    if short < min_side:
        # Upsampling a small photo invents nothing the network could learn from; but a
        # user's folder may mix sizes, so scale up rather than refuse.
        factor = min_side / short
        pixels = F.interpolate(pixels[None], scale_factor=factor, mode="bicubic", antialias=False,
                               align_corners=False)[0].clamp(0, 1)
    return pixels


class PhotoSet:
    """The usable photos of one split, decoded once and kept in memory.

    Training sets for this trainer are personal collections (hundreds of photos); decoding
    each once keeps the CPU for the network. Unreadable files are skipped with a warning.
    """

    def __init__(self, files: list[Path], min_side: int) -> None:
        self.photos: list[torch.Tensor] = []
        self.names: list[str] = []
        for path in files:
            try:
                self.photos.append(load_rgb(path, min_side))
                self.names.append(path.name)
            except ImageReadError as error:
                log.warning("skipping %s: %s", path.name, error)
        if not self.photos:
            raise TrainDataError("none of the training images could be read")

    @classmethod
    def of(cls, photos: list[torch.Tensor], names: list[str]) -> PhotoSet:
        """A set of photos decoded elsewhere (aligned face crops)."""
        made = cls.__new__(cls)
        made.photos, made.names = list(photos), list(names)
        return made

    def __len__(self) -> int:
        return len(self.photos)

    def random_crops(self, count: int, size: int, gen: torch.Generator) -> torch.Tensor:
        """(count, 3, size, size) random crops with random flips."""
        crops = []
        for _ in range(count):
            photo = self.photos[int(torch.randint(len(self.photos), (1,), generator=gen))]
            crops.append(random_crop(photo, size, gen))
        return torch.stack(crops)

    def center_crops(self, size: int) -> torch.Tensor:
        return torch.stack([center_crop(p, size) for p in self.photos])

    def faces(self, count: int, size: int, gen: torch.Generator) -> torch.Tensor:
        """Whole photos (centre square) resized to size, with random flips: aligned face
        crops (from :mod:`kintsugi.train.align`, or a dataset aligned already)."""
        picks = torch.randint(len(self.photos), (count,), generator=gen).tolist()
        out = torch.stack([square_resized(self.photos[i], size) for i in picks])
        flips = torch.rand(count, generator=gen) < 0.5
        out[flips] = out[flips].flip(-1)
        return out


def random_crop(photo: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    h, w = photo.shape[-2:]
    top = int(torch.randint(h - size + 1, (1,), generator=gen))
    left = int(torch.randint(w - size + 1, (1,), generator=gen))
    crop = photo[:, top:top + size, left:left + size]
    if bool(torch.rand(1, generator=gen) < 0.5):
        crop = crop.flip(-1)
    return crop


def center_crop(photo: torch.Tensor, size: int) -> torch.Tensor:
    h, w = photo.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return photo[:, top:top + size, left:left + size]


def square_resized(photo: torch.Tensor, size: int) -> torch.Tensor:
    if photo.shape[-2:] == (size, size):
        return photo
    side = min(photo.shape[-2:])
    square = center_crop(photo, side)
    return F.interpolate(square[None], size=(size, size), mode="bicubic", antialias=True,
                         align_corners=False)[0].clamp(0, 1)
