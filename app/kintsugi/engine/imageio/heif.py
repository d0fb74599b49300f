"""HEIC/HEIF: read with `pi-heif` (a default dependency), written only with the optional
`pillow-heif`, each registered with Pillow on first need.

pi-heif is pillow-heif's decode-only build (libheif with the libde265 decoder, LGPL
libraries, BSD wrapper), so every install opens iPhone photos. pillow-heif adds writing,
but its binary wheels are GPL-2.0 (they bundle the x265 encoder), while Kintsugi is
Apache-2.0: `pip install 'kintsugi[heif]'` adds it. When both are present pillow-heif is
used for both directions (one plugin registered with Pillow, not two competing ones).
Loaded lazily, so neither `import kintsugi` nor opening a JPEG pays its ~0.1 s import.
AVIF needs nothing extra: Pillow (11.3 and later) reads and writes it itself.
"""

from __future__ import annotations

import importlib
import logging
import threading

from PIL import features

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'kintsugi[heif]'"
# ISO base media files begin with an ftyp box; its major brand says what codec is inside.
# mif1/msf1 are generic: such a file may hold AV1 (AVIF) or HEVC (HEIC).
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})
# In order of preference: the first that imports is registered.
_PLUGINS = ("pillow_heif", "pi_heif")

_lock = threading.Lock()
# The plugin registered with Pillow; "" when none imports; None until first asked.
_registered: str | None = None


def is_heif_header(prefix: bytes) -> bool:
    """Whether the first 12 bytes of a file are those of a HEIF container (HEIC or generic)."""
    return prefix[4:8] == b"ftyp" and prefix[8:12] in _HEVC_BRANDS | _GENERIC_BRANDS


def is_hevc_header(prefix: bytes) -> bool:
    return prefix[4:8] == b"ftyp" and prefix[8:12] in _HEVC_BRANDS


def _plugin() -> str:
    """Registers the first HEIF plugin that imports, once; its module name, or ""."""
    global _registered
    with _lock:
        if _registered is None:
            _registered = ""
            for name in _PLUGINS:
                try:
                    module = importlib.import_module(name)
                except ImportError:
                    continue
                module.register_heif_opener()
                _registered = name
                break
            else:
                log.debug("neither pi-heif nor pillow-heif is installed: no HEIC/HEIF")
        return _registered


def heif_readable() -> bool:
    """Whether HEIC/HEIF files can be opened (pi-heif or pillow-heif registered)."""
    return bool(_plugin())


def heif_writable() -> bool:
    """Whether HEIC files can be written: only pillow-heif carries an encoder."""
    return _plugin() == "pillow_heif"


def avif_available() -> bool:
    return bool(features.check("avif"))
