"""Resumable, verified downloads against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest

from fixtures.http_files import FileServer
from kintsugi.engine import download as dl
from kintsugi.engine.errors import Cancelled
from kintsugi.engine.job import Job

PAYLOAD = bytes(range(256)) * 1200  # 300 KB: several chunks


@pytest.fixture
def server(file_server: FileServer) -> FileServer:
    file_server.files = {"/model.pth": PAYLOAD, "/page": b"<html>confirm download</html>"}
    file_server.content_types["/page"] = "text/html; charset=utf-8"
    return file_server


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_plain_download_is_verified_and_atomic(server, tmp_path) -> None:
    seen: list[float] = []
    target = tmp_path / "models" / "model.pth"
    dl.download(server.url("/model.pth"), target, SHA, job=Job(on_progress=lambda f, _m: seen.append(f)), timeout=5)
    assert target.read_bytes() == PAYLOAD
    assert not dl.part_path(target).exists()
    assert seen[-1] == 1.0 and seen == sorted(seen)
    # Already there and verified: nothing is fetched again.
    before = len(server.requests)
    dl.download(server.url("/model.pth"), target, SHA, timeout=5)
    assert len(server.requests) == before


def test_interrupted_transfer_resumes_with_a_range_request(server, tmp_path) -> None:
    target = tmp_path / "model.pth"
    server.cut_after = 100_000
    with pytest.raises(dl.DownloadError, match="resume"):
        dl.download(server.url("/model.pth"), target, SHA, timeout=5)
    part = dl.part_path(target)
    assert not target.exists() and part.stat().st_size == 100_000
    dl.download(server.url("/model.pth"), target, SHA, timeout=5)
    assert target.read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] == "bytes=100000-"


def test_server_without_range_support_starts_over(server, tmp_path) -> None:
    target = tmp_path / "model.pth"
    dl.part_path(target).write_bytes(b"stale bytes that must not stay at the front")
    server.honour_range = False
    dl.download(server.url("/model.pth"), target, SHA, timeout=5)
    assert target.read_bytes() == PAYLOAD


def test_wrong_hash_removes_the_file_with_a_clear_error(server, tmp_path) -> None:
    target = tmp_path / "model.pth"
    with pytest.raises(dl.DownloadError, match="not the expected file.*removed"):
        dl.download(server.url("/model.pth"), target, "0" * 64, timeout=5)
    assert not target.exists() and not dl.part_path(target).exists()


def test_published_hash_prefix_is_checked(server, tmp_path) -> None:
    target = tmp_path / "model.pth"
    with pytest.raises(dl.DownloadError, match="removed"):
        dl.download(server.url("/model.pth"), target, None, timeout=5, sha256_prefix="00000000")
    dl.download(server.url("/model.pth"), target, None, timeout=5, sha256_prefix=SHA[:8])
    assert target.read_bytes() == PAYLOAD


def test_no_size_and_no_hash_refuses_a_cut_off_file(server, tmp_path) -> None:
    target = tmp_path / "model.pth"
    server.send_length = False
    server.cut_after = 100_000  # the connection closes early: looks like a normal end
    with pytest.raises(dl.DownloadError, match="cannot be told from a complete one"):
        dl.download(server.url("/model.pth"), target, None, timeout=5)
    assert not target.exists() and not dl.part_path(target).exists()
    # With a size from the server, or a published hash, the same download is checked and kept.
    server.send_length = True
    dl.download(server.url("/model.pth"), target, None, timeout=5)
    assert target.read_bytes() == PAYLOAD
    server.send_length = False
    dl.download(server.url("/model.pth"), tmp_path / "hashed.pth", SHA, timeout=5)
    assert (tmp_path / "hashed.pth").read_bytes() == PAYLOAD


def test_not_found_is_a_clear_error(server, tmp_path) -> None:
    with pytest.raises(dl.DownloadError, match="HTTP 404"):
        dl.download(server.url("/gone.pth"), tmp_path / "gone.pth", SHA, timeout=5)
    assert not (tmp_path / "gone.pth").exists()


def test_next_address_is_tried_when_one_fails(server, tmp_path) -> None:
    target = tmp_path / "model.pth"
    dl.download([server.url("/gone.pth"), server.url("/model.pth")], target, SHA, timeout=5)
    assert target.read_bytes() == PAYLOAD


def test_web_page_instead_of_file_is_explained(server, tmp_path) -> None:
    with pytest.raises(dl.DownloadError, match="web page.*models import"):
        dl.download(server.url("/page"), tmp_path / "x.pth", None, timeout=5)


def test_unreachable_host_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(dl.DownloadError, match="cannot reach 127.0.0.1:9"):
        dl.download("http://127.0.0.1:9/model.pth", tmp_path / "x.pth", None, timeout=2)


def test_disk_full_keeps_the_partial_file_and_says_so(server, tmp_path, monkeypatch) -> None:
    target = tmp_path / "model.pth"
    writes = {"n": 0}

    class FullDisk:
        def __init__(self, fh) -> None:
            self._fh = fh

        def write(self, block: bytes) -> int:
            writes["n"] += 1
            if writes["n"] > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self._fh.write(block)

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self._fh.close()

    real_open = open
    monkeypatch.setattr(dl, "open", lambda *a, **k: FullDisk(real_open(*a, **k)), raising=False)
    with pytest.raises(dl.DownloadError, match="disk is full"):
        dl.download(server.url("/model.pth"), target, SHA, timeout=5)
    monkeypatch.undo()
    assert not target.exists()
    assert dl.part_path(target).stat().st_size == 2 * dl.CHUNK
    dl.download(server.url("/model.pth"), target, SHA, timeout=5)  # space freed: resumes and completes
    assert target.read_bytes() == PAYLOAD


def test_cancel_stops_and_leaves_no_target(server, tmp_path) -> None:
    target = tmp_path / "model.pth"
    job = Job(on_progress=lambda f, _m: job.cancel() if f > 0.2 else None)
    with pytest.raises(Cancelled):
        dl.download(server.url("/model.pth"), target, SHA, job=job, timeout=5)
    assert not target.exists()
    assert 0 < dl.part_path(target).stat().st_size < len(PAYLOAD)


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    assert dl.sha256_file(path) == SHA
