"""Result history behind undo/redo."""

from __future__ import annotations

import numpy as np

import kintsugi
from kintsugi.gui.history import ResultEntry, ResultHistory


def test_result_history_drops_the_oldest_big_results() -> None:
    def entry(side: int) -> ResultEntry:
        image = kintsugi.Image.from_array(np.zeros((side, side, 3), np.uint8))
        return ResultEntry(image, None, None, "upscale", "m", 2, None)

    history = ResultHistory(limit=4, max_pixels=3 * 100 * 100)
    for _ in range(3):
        history.push(entry(100))
    assert len(history) == 3
    history.push(entry(100))  # over the pixel budget: the oldest goes
    assert len(history) == 3
    history.push(entry(400))  # bigger than the budget alone: still kept, alone
    assert len(history) == 1 and history.current().image.width == 400
    assert history.undo() is None and history.redo().image.width == 400
