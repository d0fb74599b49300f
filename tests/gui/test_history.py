"""Result history behind undo/redo."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage

from kintsugi.gui.history import ResultEntry, ResultHistory

pytestmark = pytest.mark.gui


def test_result_history_drops_the_oldest_big_results() -> None:
    def entry(side: int) -> ResultEntry:
        image = QImage(side, side, QImage.Format.Format_RGB888)
        return ResultEntry(None, image, image, "upscale", "m", 2, None)

    history = ResultHistory(limit=4, max_pixels=3 * 100 * 100)
    for _ in range(3):
        history.push(entry(100))
    assert len(history) == 3
    history.push(entry(100))  # over the pixel budget: the oldest goes
    assert len(history) == 3
    history.push(entry(400))  # bigger than the budget alone: still kept, alone
    assert len(history) == 1 and history.current().display.width() == 400
    assert history.undo() is None and history.redo().display.width() == 400
