"""Permission errors from the real file system, also when the suite runs as root (CI does).

Root reads and writes everything, so there each check runs in a forked child that has
dropped to the unprivileged user ``nobody``, which owns the test folder as a user owns theirs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from kintsugi.engine.imageio import Image, open_image, save_image

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX permissions")


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) to drop to when running as root; None when already unprivileged."""
    if os.geteuid() != 0:
        return None
    user = pwd.getpwnam("nobody")
    return user.pw_uid, user.pw_gid


def _outcome(action: Callable[[], object]) -> str:
    try:
        action()
    except Exception as error:  # noqa: BLE001 - the test reads which error it was
        return f"{type(error).__name__} {error}"
    return "no error"


def _as_user(action: Callable[[], object]) -> str:
    """`action`'s outcome, run as this user, or in a child dropped to nobody when root."""
    ids = _unprivileged()
    if ids is None:
        return _outcome(action)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges for good, report, never return into pytest
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
            text = _outcome(action)
        except BaseException as error:  # noqa: BLE001
            text = f"child failed: {error!r}"
        os.write(write, text.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    return text


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder the (possibly dropped) user owns, under /tmp so that it can reach it."""
    path = Path(tempfile.mkdtemp(prefix="kintsugi-perm-"))
    _own(path)
    try:
        yield path
    finally:
        for sub in [path, *path.rglob("*")]:
            sub.chmod(0o755 if sub.is_dir() else 0o644)
        shutil.rmtree(path)


def _own(path: Path) -> None:
    ids = _unprivileged()
    if ids is not None:
        os.chown(path, *ids)


def test_an_unreadable_file_is_a_permission_error(folder: Path) -> None:
    path = folder / "locked.png"
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    _own(path)
    path.chmod(0)
    out = _as_user(lambda: open_image(path))
    assert out.startswith("ImageReadError") and "locked.png: permission denied" in out


def test_a_read_only_folder_is_a_write_error_and_leaves_nothing(folder: Path) -> None:
    target = folder / "ro"
    target.mkdir()
    _own(target)
    target.chmod(0o555)
    image = Image.from_array(np.zeros((8, 8, 3), np.uint8))
    out = _as_user(lambda: save_image(image, target / "out.png"))
    assert out.startswith("ImageWriteError") and "read-only" in out
    assert list(target.iterdir()) == []
