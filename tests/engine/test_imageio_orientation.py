"""The fast (OpenCV) orientation turns give exactly the plain numpy turns, for every
orientation, sample type and channel count a decoder hands over."""

from __future__ import annotations

import numpy as np
import pytest

from kintsugi.engine.imageio.decode import _NUMPY_TURNS, apply_orientation


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int32])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_fast_turns_match_numpy(dtype: type, channels: int) -> None:
    stored = (np.random.default_rng(channels).random((5, 7, channels)) * 200).astype(dtype)
    assert apply_orientation(stored, 1) is stored
    for orientation in range(2, 9):
        expected = _NUMPY_TURNS[orientation](stored)
        got = apply_orientation(stored, orientation)
        assert got.dtype == stored.dtype and got.flags.c_contiguous
        assert np.array_equal(got, expected), orientation
