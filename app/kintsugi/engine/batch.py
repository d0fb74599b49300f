"""Batch upscaling of files and folders; the one implementation behind the CLI and the GUI.

A bad file is reported and skipped; it never stops the batch. Inputs are never touched and
every output is written atomically by imageio, so Cancel leaves no partial file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kintsugi.engine.errors import Cancelled, KintsugiError
from kintsugi.engine.imageio import (
    READ_FORMATS,
    format_for_path,
    open_image,
    output_format_for,
    save_image,
)
from kintsugi.engine.job import Job, ensure_job

if TYPE_CHECKING:
    from kintsugi.engine.registry import Model

log = logging.getLogger(__name__)

EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp"}


@dataclass
class BatchOptions:
    model: str | None = None  # None: the default model
    scale: int | None = None
    consistency: bool = False
    tile: int | str = "auto"
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (see kintsugi.engine.device)
    format: str | None = None  # None: the input's format where writable, else PNG
    bit_depth: int | None = None
    quality: int | None = None
    recursive: bool = False
    skip_existing: bool = False
    name_pattern: str = "{stem}_x{scale}"


@dataclass(frozen=True)
class BatchItem:
    src: Path
    dst: Path


@dataclass(frozen=True)
class BatchEvent:
    index: int
    total: int
    src: Path
    dst: Path
    status: str  # "started" | "done" | "skipped" | "failed"
    error: str | None = None
    seconds: float = 0.0


@dataclass
class BatchSummary:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0


def plan_batch(inputs: Iterable[Path], out_dir: Path | None, options: BatchOptions) -> list[BatchItem]:
    """Expand folders into image files and choose each output path (mirroring sub-folders)."""
    scale = options.scale or model_scale(options.model)
    items: list[BatchItem] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for src in _images_in(path, options.recursive):
                base = out_dir / src.parent.relative_to(path) if out_dir else src.parent
                items.append(BatchItem(src, _output_path(src, base, options, scale)))
        else:
            items.append(BatchItem(path, _output_path(path, out_dir or path.parent, options, scale)))
    return items


def model_scale(model: str | None) -> int:
    from kintsugi.engine.registry import default_model_id, load_model, model_info

    model = model or default_model_id()
    if Path(model).suffix.lower() in (".safetensors", ".pth", ".pt", ".ckpt"):
        return load_model(model, "cpu").scale
    return model_info(model).scale


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and format_for_path(p) in READ_FORMATS)


def _output_path(src: Path, folder: Path, options: BatchOptions, scale: int) -> Path:
    fmt = options.format.upper() if options.format else output_format_for(format_for_path(src))
    name = options.name_pattern.format(stem=src.stem, scale=scale, model=options.model or "")
    return folder / (name + EXTENSIONS.get(fmt, ".png"))


def run_batch(
    items: list[BatchItem],
    options: BatchOptions,
    job: Job | None = None,
    on_event: Callable[[BatchEvent], None] | None = None,
    process: Callable[[Path, Path, Job], None] | None = None,
) -> BatchSummary:
    """Process every item; `process(src, dst, job)` defaults to upscale-and-save."""
    job = ensure_job(job)
    emit = on_event or (lambda _event: None)
    work = process or _Upscaler(options)
    summary = BatchSummary()
    started = time.monotonic()
    total = len(items)
    for index, item in enumerate(items):
        event = _run_one(item, index, total, options, job, work, emit)
        if event.status == "done":
            summary.done += 1
        elif event.status == "skipped":
            summary.skipped += 1
        elif event.status == "failed":
            summary.failed.append((item.src, event.error or "failed"))
        else:  # cancelled
            summary.cancelled = True
            break
        emit(event)
    summary.seconds = time.monotonic() - started
    return summary


def _run_one(item, index, total, options, job, work, emit) -> BatchEvent:
    def event(status: str, error: str | None = None) -> BatchEvent:
        return BatchEvent(index, total, item.src, item.dst, status, error,
                          time.monotonic() - t0)

    t0 = time.monotonic()
    if options.skip_existing and item.dst.exists():
        return event("skipped")
    emit(event("started"))
    try:
        job.check()
        item.dst.parent.mkdir(parents=True, exist_ok=True)
        work(item.src, item.dst, job.sub(index / total, 1 / total))
    except Cancelled:
        return event("cancelled")
    except KintsugiError as error:
        return event("failed", str(error))
    except OSError as error:  # e.g. the output folder cannot be created
        return event("failed", f"{item.dst}: {error.strerror or error}")
    except MemoryError:
        return event("failed", f"{item.src.name}: not enough memory for this photo")
    except Exception as error:  # noqa: BLE001 - one broken file must not end the batch
        log.debug("unexpected failure on %s", item.src, exc_info=True)
        return event("failed", f"{item.src.name}: unexpected {type(error).__name__}: {error}")
    job.set_progress((index + 1) / total, f"{index + 1}/{total} files")
    return event("done")


class _Upscaler:
    """Loads the model once, then upscales and saves one file per call."""

    def __init__(self, options: BatchOptions) -> None:
        self._options = options
        self._model: Model | None = None

    def __call__(self, src: Path, dst: Path, job: Job) -> None:
        from kintsugi.engine.pipeline import provenance_for, upscale
        from kintsugi.engine.registry import default_model_id, load_model

        opts = self._options
        if self._model is None:
            self._model = load_model(opts.model or default_model_id(), opts.device, opts.precision)
        model = self._model
        image = open_image(src)
        result = upscale(image, model, scale=opts.scale, consistency=opts.consistency,
                         tile=opts.tile, job=job)
        scale = opts.scale or model.scale
        if src.resolve() == dst.resolve():
            raise KintsugiError(f"{src.name}: the output would overwrite the input")
        save_image(result, dst, format=opts.format, bit_depth=opts.bit_depth, quality=opts.quality,
                   provenance=provenance_for(model, scale, opts.consistency))
