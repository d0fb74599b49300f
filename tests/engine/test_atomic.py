"""One atomic write serves image saves, checkpoints, model imports and the user manifest:
the destination is the old file or the complete new one, never partial, and no temporary
file is left behind, whatever fails."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

from kintsugi.engine.atomic import FILE_MODE, write_atomically


def test_writes_bytes_and_chunks_with_ordinary_permissions(tmp_path) -> None:
    dest = tmp_path / "a.bin"
    write_atomically(dest, b"hello")
    assert dest.read_bytes() == b"hello"
    write_atomically(dest, iter([b"ab", b"cd"]))
    assert dest.read_bytes() == b"abcd"
    assert stat.S_IMODE(os.stat(dest).st_mode) == FILE_MODE  # not mkstemp's 0600
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path) -> None:
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"old")

    def chunks() -> Iterator[bytes]:
        yield b"new, partial"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomically(dest, chunks())
    assert dest.read_bytes() == b"old"
    assert not list(tmp_path.glob(".*.tmp"))


def test_temp_files_are_named_for_the_crash_clean_up(tmp_path, monkeypatch) -> None:
    """A batch started again after kill -9 removes `.<name>.<random>.tmp` files it left."""
    seen: list[str] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomically(tmp_path / "photo_x4.png", b"x")
    assert seen and seen[0].startswith(".photo_x4.png.") and seen[0].endswith(".tmp")
