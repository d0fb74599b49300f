"""Typed errors: every failure the user can cause has a one-line human message."""

from __future__ import annotations


class KintsugiError(Exception):
    """Base of every error Kintsugi raises on purpose; str(e) is a readable line."""


class Cancelled(KintsugiError):
    """The job was cancelled; nothing was written."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class ImageReadError(KintsugiError):
    """A file could not be read as an image (missing, corrupt, unsupported...)."""


class UnsupportedFormatError(ImageReadError):
    """The file is of a format Kintsugi cannot read or write."""


class ImageTooLargeError(ImageReadError):
    """The image has more pixels than the configured limit (decompression-bomb guard)."""


class ImageWriteError(KintsugiError):
    """An output could not be written (read-only folder, full disk, bad format...)."""


class ModelError(KintsugiError):
    """A model id is unknown, or a weights file is missing, corrupt, unsafe or of an unknown layout."""


class DeviceError(KintsugiError):
    """The requested compute device is not available."""
