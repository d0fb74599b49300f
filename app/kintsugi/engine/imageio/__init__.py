"""Image files in and out, keeping everything a photographer cares about.

Modules: `read` (open_image, sniff), `decode` (pixels), `metadata`, `write` (save_image),
one encoder per written format (`png`, `tiff`, `pillow_codecs`), `image` (the Image type),
`formats` (names, extensions, limits).

Reading gives an `Image`: float32 pixels in [0, 1] (gray or RGB, upright: the EXIF
orientation is applied), alpha kept apart, and `Metadata` (ICC profile, EXIF with
Orientation reset to 1, XMP, IPTC, text, DPI). Writing puts all of it back.

Formats in: PNG, JPEG (and MPO), TIFF, WebP, BMP/DIB, GIF, AVIF, HEIC/HEIF (pi-heif,
a default dependency). Out: PNG, JPEG, TIFF, WebP, AVIF, HEIC; by default a result is
written in its source's format when that is PNG, JPEG, TIFF or WebP, else as PNG.

Decisions (see tests/engine/test_imageio*.py for each):
- 8-bit files are decoded by Pillow; files with more than 8 bits per sample by OpenCV
  (Pillow truncates 16-bit RGB to 8 bits). Pillow always reads the metadata.
- PNG and TIFF are written by our own small encoders (png.py, tiff.py: numpy + zlib,
  metadata chunks/tags written by us), so 8 and 16 bits, gray, RGB and alpha share one
  path. JPEG, WebP, AVIF and HEIC are written by Pillow (HEIC by the optional
  pillow-heif's plugin: the default install reads HEIC but does not write it).
- JPEG, WebP, AVIF and HEIC are 8-bit only: an explicit bit_depth=16 raises
  ImageWriteError; a 16-bit image saved there with bit_depth=None is written as 8-bit.
- JPEG has no alpha: a transparent image is composited over white (warning logged).
- WebP, AVIF and HEIC get gray as RGB (the gray ICC profile is then dropped).
- An ICC profile whose colour space does not match the pixels is dropped (warning).
- A CMYK source is converted to RGB through its ICC profile when it has one; the CMYK
  profile is dropped either way (the pixels are no longer CMYK).
- Pillow's decompression-bomb check is replaced by ours (max_pixels), checked from the
  header before any pixel is decoded.
- Samples other than 8/16-bit unsigned (float, int32, signed 16-bit TIFF) are mapped to
  [0, 1] and kept at 16 bits: their usual range as is, anything else scaled to fit.
- A DPI no format can hold (EXIF's 4294967295) is dropped.
- IPTC is written to JPEG (APP13) and TIFF (tag 33723); other formats have no place
  for it (info log).
- The libraries' own warnings and prints go to the debug log (see `libraries`).
"""

from kintsugi.engine.imageio.formats import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUALITY,
    EXTENSION_FOR,
    PROVENANCE_KEY,
    READ_FORMATS,
    WRITE_FORMATS,
    format_for_path,
    output_format_for,
    set_max_pixels,
)
from kintsugi.engine.imageio.image import Image, Metadata
from kintsugi.engine.imageio.read import open_image, read_provenance, sniff
from kintsugi.engine.imageio.write import save_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_QUALITY",
    "EXTENSION_FOR",
    "PROVENANCE_KEY",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "Image",
    "Metadata",
    "format_for_path",
    "open_image",
    "output_format_for",
    "read_provenance",
    "save_image",
    "set_max_pixels",
    "sniff",
]
