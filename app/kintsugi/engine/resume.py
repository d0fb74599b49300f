"""Resuming a batch that was killed: a hidden journal beside the outputs while it runs.

Outputs are written atomically, so one that exists is complete. The journal says *which*
existing outputs the interrupted run made: those not older than the journal file itself (both
times come from the same file-system clock) whose source has not changed since. Run again
with the same settings, the batch skips them, without --skip-existing; outputs of earlier,
finished runs are redone as usual. The journal is removed when a run ends, finished or
cancelled, so only a crash (kill -9, power cut) leaves one behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

PREFIX = ".kintsugi-batch-"


class _Item(Protocol):  # batch.BatchItem (this module is imported by batch)
    @property
    def src(self) -> Path: ...

    @property
    def dst(self) -> Path: ...


class Journal:
    def __init__(self, path: Path, since_ns: int, resumed: bool) -> None:
        self.path = path
        self.since_ns = since_ns
        self.resumed = resumed  # a crashed run with the same settings left this journal

    @classmethod
    def begin(cls, items: Sequence[_Item], settings: Mapping[str, Any]) -> Journal | None:
        """Open (or find) the journal for these outputs; None where none can be kept."""
        if not items:
            return None
        text = json.dumps(settings, sort_keys=True, default=str)
        folder = Path(os.path.commonpath([str(i.dst.parent.absolute()) for i in items]))
        if folder == Path(folder.anchor):  # outputs spread over the whole disk: no journal
            return None
        path = folder / (PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16])
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(text + "\n")
            resumed = False
        except FileExistsError:
            resumed = True
            log.info("resuming the interrupted batch recorded in %s", path)
        except OSError as error:  # e.g. outputs in several read-only-rooted places
            log.debug("no resume journal in %s (%s)", folder, error)
            return None
        return cls(path, path.stat().st_mtime_ns, resumed)

    def made_before(self, item: _Item) -> bool:
        """Whether the interrupted run already wrote this item's output."""
        if not self.resumed:
            return False
        try:
            dst, src = item.dst.stat(), item.src.stat()
        except OSError:
            return False
        return dst.st_mtime_ns >= self.since_ns > src.st_mtime_ns

    def close(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("could not remove the batch journal %s (%s)", self.path, error)
