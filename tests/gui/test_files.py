"""The Open dialog offers every photo the engine reads (an iPhone's HEIC among them)."""

from __future__ import annotations

import re

import pytest

from kintsugi.engine.imageio import formats
from kintsugi.gui.files import OPEN_FILTER

pytestmark = pytest.mark.gui


def test_open_dialog_lists_every_suffix_the_engine_reads() -> None:
    images = OPEN_FILTER.split(";;")[0]
    offered = set(re.findall(r"\*(\.\w+)", images))
    assert offered == set(formats._EXTENSIONS)  # noqa: SLF001 - the engine's own table
    assert {".heic", ".avif"} <= offered
