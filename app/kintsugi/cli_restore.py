"""The old private helpers of ``kintsugi.cli_restore``, kept only for ``kintsugi.cli_heal`` (on
h-alt/h-gui), which imports them by these names; new code uses ``kintsugi.cli.common``
(say, error_line, Progress, cancel_on_ctrl_c). Delete once cli_heal imports those."""

from __future__ import annotations

import sys
from collections.abc import Callable

from kintsugi.cli.common import Progress, error_line, say
from kintsugi.cli.common import cancel_on_ctrl_c as _cancel_on_ctrl_c


def _say(text: str, err: bool = False) -> None:
    say(text, sys.stderr if err else sys.stdout)


def _error(text: str) -> None:
    error_line(text)


def _progress_line() -> Callable[[float, str], None]:
    return Progress().update


__all__ = ["_cancel_on_ctrl_c", "_error", "_progress_line", "_say"]
