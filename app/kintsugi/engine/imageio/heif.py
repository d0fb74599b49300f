"""HEIC/HEIF through the optional `pillow-heif` package, registered with Pillow on first need.

Optional because its binary wheels are GPL-2.0 (they bundle the x265 encoder), while
Kintsugi is Apache-2.0: `pip install 'kintsugi[heif]'` adds it. Loaded lazily, so neither
`import kintsugi` nor opening a JPEG pays its ~0.1 s import. AVIF needs nothing extra:
Pillow (11.3 and later) reads and writes it itself.
"""

from __future__ import annotations

import logging
import threading

from PIL import features

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'kintsugi[heif]'"
# ISO base media files begin with an ftyp box; its major brand says what codec is inside.
# mif1/msf1 are generic: such a file may hold AV1 (AVIF) or HEVC (HEIC).
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})

_lock = threading.Lock()
_registered: bool | None = None  # None: not tried yet


def is_heif_header(prefix: bytes) -> bool:
    """Whether the first 12 bytes of a file are those of a HEIF container (HEIC or generic)."""
    return prefix[4:8] == b"ftyp" and prefix[8:12] in _HEVC_BRANDS | _GENERIC_BRANDS


def is_hevc_header(prefix: bytes) -> bool:
    return prefix[4:8] == b"ftyp" and prefix[8:12] in _HEVC_BRANDS


def heif_available() -> bool:
    """Registers pillow-heif's HEIF plugin with Pillow the first time; False if absent."""
    global _registered
    with _lock:
        if _registered is None:
            try:
                import pillow_heif
            except ImportError:
                log.debug("pillow-heif is not installed: HEIC/HEIF cannot be read or written")
                _registered = False
            else:
                pillow_heif.register_heif_opener()
                _registered = True
        return _registered


def avif_available() -> bool:
    return bool(features.check("avif"))
