"""Resumable, verified downloads of model checkpoints (for users who have internet).

- The transfer goes to ``<name>.part`` beside the target; a later call resumes it with an
  HTTP Range request (a server that ignores Range makes it start over).
- Cancel (Job) and errors keep the .part for resuming; a checksum mismatch deletes it.
- When complete and verified (SHA-256, when known), the file is moved into place
  atomically: the target either does not exist or is complete.
"""

from __future__ import annotations

import errno
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from kintsugi import __version__
from kintsugi.engine.digest import sha256_file
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.job import Job, ensure_job

log = logging.getLogger(__name__)

CHUNK = 1 << 16
TIMEOUT = 30.0


class DownloadError(KintsugiError):
    """A download failed: unreachable, not found, disk full, wrong checksum..."""


def download(urls: str | Sequence[str], target: Path, sha256: str | None = None,
             job: Job | None = None, timeout: float = TIMEOUT, sha256_prefix: str | None = None
             ) -> Path:
    """Fetch the first URL that works into ``target``; returns ``target``.

    sha256: the full hash, when published; sha256_prefix: its first hex digits (OpenMMLab
    puts 8 in file names), checked when no full hash is known. A target that already
    exists with the right full checksum is kept as it is.
    """
    job = ensure_job(job)
    candidates = [urls] if isinstance(urls, str) else list(urls)
    if not candidates:
        raise DownloadError(f"no download address is known for {target.name}")
    target = Path(target)
    expected = (sha256 or "").lower() or None
    if target.is_file() and expected and sha256_file(target) == expected:
        job.set_progress(1.0, "already downloaded")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    total: int | None = None
    for url in candidates:
        try:
            total = _fetch(url, part_path(target), job, timeout)
            break
        except DownloadError as error:
            if len(candidates) == 1:
                raise
            log.warning("download from %s failed: %s", url, error)
            errors.append(str(error))
    else:
        raise DownloadError(f"{target.name}: every address failed ({'; '.join(errors)})")
    prefix = (sha256_prefix or "").lower() or None
    if total is None and expected is None and prefix is None:
        part_path(target).unlink(missing_ok=True)
        raise DownloadError(
            f"{target.name}: the server did not say how large the file is and no checksum is "
            "published, so a cut-off download cannot be told from a complete one; it was not "
            "kept. Download it in a browser and add it with `kintsugi models import FILE`")
    _verify(part_path(target), expected, prefix, target.name)
    os.replace(part_path(target), target)
    job.set_progress(1.0, "downloaded")
    return target


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


# ----------------------------------------------------------------------------- transfer


def _fetch(url: str, part: Path, job: Job, timeout: float) -> int | None:
    """Fill `part` from `url`; the file's full size when the server said it."""
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"Kintsugi/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) only
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to send: the .part is complete
            log.info("%s: already complete (%d bytes)", part.name, have)
            size = error.headers.get("Content-Range", "").rpartition("/")[2]
            return int(size) if size.isdigit() and int(size) == have else None
        raise DownloadError(_http_message(error.code, url)) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"cannot reach {_host(url)} ({reason}); check the connection") from None
    with response:
        _check_not_a_web_page(response, url)
        resumed = response.status == 206
        if have and not resumed:
            log.info("%s does not resume transfers; starting over", _host(url))
            have = 0
        total = _total_size(response, have)
        _copy(response, part, have, total, job, append=resumed)
        return total


def _copy(response, part: Path, have: int, total: int | None, job: Job, append: bool) -> None:
    done = have
    try:
        with open(part, "ab" if append else "wb") as fh:
            while True:
                job.check()
                block = response.read(CHUNK)
                if not block:
                    break
                fh.write(block)
                done += len(block)
                if total:
                    job.set_progress(min(done / total, 0.999), f"{done / 1e6:.1f} of {total / 1e6:.1f} MB")
            fh.flush()
            os.fsync(fh.fileno())
    except http.client.HTTPException:
        raise DownloadError(
            f"the connection dropped after {done / 1e6:.1f} MB; run the download again to "
            "resume it") from None
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DownloadError(
                f"the disk is full ({part.parent}); free some space and run the download again "
                "to resume it") from None
        if isinstance(error, (TimeoutError, ConnectionError)):
            raise DownloadError(
                f"the connection dropped after {done / 1e6:.1f} MB; run the download again to "
                "resume it") from None
        raise DownloadError(f"cannot write {part} ({error.strerror or error})") from None
    if total is not None and done < total:
        raise DownloadError(
            f"the transfer stopped at {done / 1e6:.1f} of {total / 1e6:.1f} MB; run the download "
            "again to resume it")


def _total_size(response, have: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if response.status == 206 and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        return int(tail) if tail.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _check_not_a_web_page(response, url: str) -> None:
    kind = response.headers.get("Content-Type", "")
    if kind.startswith("text/html"):
        raise DownloadError(
            f"{_host(url)} sent a web page instead of the file (some hosts, e.g. Google Drive, "
            "ask for a confirmation in a browser): open the address in a browser, save the file, "
            "then add it with `kintsugi models import FILE`")


def _verify(part: Path, expected: str | None, prefix: str | None, name: str) -> None:
    if expected is None and prefix is None:
        log.warning("%s has no published SHA-256; it was not verified", name)
        return
    actual = sha256_file(part)
    if expected is None:
        expected = prefix or ""
        actual_cmp = actual[: len(expected)]
    else:
        actual_cmp = actual
    if actual_cmp != expected:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{name} is damaged or not the expected file (SHA-256 {actual[:12]}... instead of "
            f"{expected[:12]}...); the download was removed")


def _http_message(code: int, url: str) -> str:
    if code == 404:
        return f"the file is no longer at {url} (HTTP 404 not found)"
    if code in (401, 403):
        return f"{_host(url)} refused the download (HTTP {code})"
    return f"{_host(url)} answered HTTP {code} for {url}"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url
