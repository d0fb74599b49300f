"""The old name of ``kintsugi.cli.common``, kept for subcommand modules written against it
(``kintsugi.cli_train``, ``kintsugi.cli_heal``); new code imports ``kintsugi.cli.common``."""

from kintsugi.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    positive_int,
    quality,
    tile_size,
)

__all__ = ["EXIT_CANCELLED", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "positive_int", "quality",
           "tile_size"]
