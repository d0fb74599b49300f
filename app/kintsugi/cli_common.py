"""What the command-line modules share: exit codes and argparse value types."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def tile_size(text: str) -> int | str:
    if text == "auto":
        return text
    value = int(text)
    if value < 16:
        raise argparse.ArgumentTypeError("tile must be auto or at least 16")
    return value


def quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("quality must be 1-100")
    return value
