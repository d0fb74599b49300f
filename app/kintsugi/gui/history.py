"""Result history for undo/redo: every upscale result is kept; undo steps back.

Results are large (a 20 MP result is ~240 MB as floats plus ~140 MB of display images), so
only the last few are kept, and fewer when they are big.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QImage

MAX_RESULTS = 4
MAX_PIXELS = 80_000_000  # total result pixels kept for undo (the newest is always kept)


@dataclass
class ResultEntry:
    image: Any  # kintsugi Image (full precision, for saving)
    display: QImage
    heat: QImage
    model: Any  # kintsugi Model, for the provenance note
    model_id: str
    scale: int
    consistency: bool
    tile: int
    device: str
    full_scale: float  # deviation drawn at full heat
    seconds: float


class ResultHistory:
    """A list of results and a cursor; index -1 means "no result, only the original"."""

    def __init__(self, limit: int = MAX_RESULTS, max_pixels: int = MAX_PIXELS) -> None:
        self._entries: list[ResultEntry] = []
        self._index = -1
        self._limit = limit
        self._max_pixels = max_pixels

    def clear(self) -> None:
        self._entries.clear()
        self._index = -1

    def push(self, entry: ResultEntry) -> None:
        del self._entries[self._index + 1 :]  # a new result drops what undo had stepped over
        self._entries.append(entry)
        while len(self._entries) > 1 and (
            len(self._entries) > self._limit or self._pixels() > self._max_pixels
        ):
            del self._entries[0]
        self._index = len(self._entries) - 1

    def _pixels(self) -> int:
        return sum(e.display.width() * e.display.height() for e in self._entries)

    def current(self) -> ResultEntry | None:
        return self._entries[self._index] if self._index >= 0 else None

    def can_undo(self) -> bool:
        return self._index >= 0

    def can_redo(self) -> bool:
        return self._index + 1 < len(self._entries)

    def undo(self) -> ResultEntry | None:
        if self.can_undo():
            self._index -= 1
        return self.current()

    def redo(self) -> ResultEntry | None:
        if self.can_redo():
            self._index += 1
        return self.current()

    def __len__(self) -> int:
        return len(self._entries)
