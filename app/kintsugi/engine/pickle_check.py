"""Why torch's safe loader refused a .pth file: code it would have to run, or not a model file.

torch.load(weights_only=True) raises the same UnpicklingError for a pickle that names a
function to call and for bytes that were never a pickle, so its error alone cannot tell a
person which they have. These functions read the file's opcodes without running any of them.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickletools
import re
import zipfile
from pathlib import Path
from typing import IO

_PICKLE_HEADER = re.compile(rb"\x80[\x02-\x05]")  # PROTO 2-5: what torch.save has always written
_DOTTED_NAME = re.compile(r"[A-Za-z_][\w.]*")
# Opcodes that push a string (a STACK_GLOBAL takes its module and name from the two last pushed).
_STRING_OPCODES = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                   "SHORT_BINSTRING", "BINSTRING", "STRING"}
_MEMO_GETS = {"GET", "BINGET", "LONG_BINGET"}
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
# A legacy (pre-zip) torch file is a magic number, a protocol version, system info and then
# the object, each its own pickle, followed by raw tensor bytes.
_LEGACY_PICKLES = 4


def refusal(path: Path, error: Exception) -> str:
    """A one-line reason that says what the file holds, for a file torch.load refused."""
    try:
        with path.open("rb") as stream:
            head = stream.read(8)
    except OSError as unreadable:
        return f"{path.name} cannot be read ({unreadable})"
    if not (zipfile.is_zipfile(path) or _PICKLE_HEADER.match(head)):
        found = f"it starts with bytes {head.hex(' ')}" if head else "it is empty"
        return f"{path.name} is not a valid model file: not a zip archive or a pickle ({found})"
    try:
        names = referenced_globals(path)
    except ValueError as damage:
        return f"{path.name} is not a valid model file: its pickle data is damaged ({damage})"
    allowed = _torch_allowed()
    unsafe = list(dict.fromkeys(name for name in names if name not in allowed))
    if unsafe:
        return (f"{path.name} is a pickle that references {', '.join(unsafe)}, code that would run "
                "on loading; Kintsugi refuses to load it (only plain weights are accepted)")
    return f"{path.name} is not a valid model file ({_torch_reason(error)})"


def referenced_globals(path: Path) -> list[str]:
    """'module.name' of every global the file's pickles name; ValueError when they are damaged."""
    if zipfile.is_zipfile(path):
        return _globals_in(io.BytesIO(_zipped_pickle(path)))
    found: list[str] = []
    size = path.stat().st_size
    with path.open("rb") as stream:
        for _ in range(_LEGACY_PICKLES):
            if stream.tell() >= size:
                break
            found += _globals_in(stream)
    return found


def _zipped_pickle(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            member = next((n for n in archive.namelist() if n.split("/")[-1] == "data.pkl"), None)
            if member is None:
                raise ValueError("a zip archive without the data.pkl a PyTorch checkpoint holds")
            return archive.read(member)
    except zipfile.BadZipFile as error:
        raise ValueError(f"a broken zip archive: {error}") from error


def _globals_in(stream: IO[bytes]) -> list[str]:
    found: list[str] = []
    pushed: list[str | None] = []  # only strings are tracked; anything else is None
    memo: dict[object, str | None] = {}  # memo index -> the string stored there
    for opcode, arg, _ in pickletools.genops(stream):
        if opcode.name in ("GLOBAL", "INST"):
            found.append(str(arg).replace(" ", "."))
        elif opcode.name == "STACK_GLOBAL" and len(pushed) >= 2 and None not in pushed[-2:]:
            found.append(f"{pushed[-2]}.{pushed[-1]}")
        if opcode.name in _STRING_OPCODES:
            pushed.append(str(arg))
        elif opcode.name in _MEMO_GETS:
            pushed.append(memo.get(arg))
        elif opcode.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif opcode.name in _MEMO_PUTS:
            memo[arg] = pushed[-1] if pushed else None
        elif opcode.name not in ("PROTO", "FRAME"):
            pushed.append(None)
    # Random bytes can spell a GLOBAL opcode; only names that could be Python's count.
    return [_python3_name(name) for name in found if _DOTTED_NAME.fullmatch(name)]


def _python3_name(name: str) -> str:
    """The name the unpickler would look up: protocol 2 writes Python 2's (__builtin__.print)."""
    module, _, attribute = name.rpartition(".")
    module, attribute = _compat_pickle.NAME_MAPPING.get((module, attribute), (module, attribute))
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{attribute}"


def _torch_allowed() -> set[str]:
    # torch keeps its allow-list private; the lock file pins the torch this was written against.
    from torch import _weights_only_unpickler

    return set(_weights_only_unpickler._get_allowed_globals())


def _torch_reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((line for line in lines if "error:" in line), lines[0] if lines else "")
    return detail or type(error).__name__
