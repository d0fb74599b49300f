"""Result history for undo/redo: every result and every edit is kept; undo steps back.

An entry holds the pixels and what made them as plain values (the model's id, never the
loaded model: an fp32 Panini is ~380 MB). Results are large (a 20 MP result is ~240 MB as
floats plus ~140 MB of display images), so only the last few are kept, and fewer when
they are big.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtGui import QImage

MAX_RESULTS = 8
MAX_PIXELS = 80_000_000  # total result pixels kept for undo (the newest is always kept)


@dataclass
class ResultEntry:
    image: Any  # kintsugi Image (full precision, for saving)
    display: QImage
    heat: Any  # QImage, a Pyramid of it, or None (not computed)
    kind: str  # "upscale" | "restore" | "heal" (the mode that made it)
    model_id: str
    scale: int  # result side / original side
    options: Any  # the mode's options, plain values
    provenance: dict[str, str] = field(default_factory=dict)  # written into the saved file
    label: str = ""  # one line saying what made it
    full_scale: float = 0.0  # deviation drawn at full heat
    seconds: float = 0.0
    preview: bool = False  # a live preview: the next one replaces it instead of piling up
    heal_map: Any = None  # a heal's painted stroke (a PaintedMap): undo shows it again

    @property
    def consistency(self) -> bool:
        return bool(getattr(self.options, "consistency", False))

    @property
    def tile(self) -> int:
        tile = getattr(self.options, "tile", 0)
        return tile if isinstance(tile, int) else 0

    @property
    def device(self) -> str:
        return str(getattr(self.options, "device", "auto"))


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

    def replace_current(self, entry: ResultEntry) -> None:
        """A preview or a slider setting of the current result: no new undo step."""
        if self._index < 0:
            self.push(entry)
        else:
            self._entries[self._index] = entry

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
