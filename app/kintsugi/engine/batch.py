"""Batches of files and folders: the one runner behind the CLI, the window and Ray.

The per-file work is a configured job: upscaling by default, restoration when
``BatchOptions.restore`` is set. A bad file is reported and skipped; it never stops the batch.
Inputs are never touched. Every output is written atomically by imageio (a hidden temp file,
then a rename), so an output that exists is complete. After a crash (even ``kill -9``) the
same command continues where it stopped (engine.resume keeps a journal while a batch runs);
after a cancel, the same command with ``skip_existing`` does. The temp files a crash left
behind are removed when the batch starts again.

Two inputs never share an output: where names collide (``a.jpg``/``a.jpeg``, or ``hopper.bmp``
and ``hopper.png`` both becoming ``hopper_x2.png``) each colliding output keeps its source's
extension in its name (``hopper_bmp_x2.png``), whatever order the files were listed in.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kintsugi.engine.alt_session import AltSession, Setting
from kintsugi.engine.errors import Cancelled, KintsugiError
from kintsugi.engine.imageio import (
    READ_FORMATS,
    format_for_path,
    open_image,
    output_format_for,
    save_image,
    sniff,
)
from kintsugi.engine.job import Job, ensure_job
from kintsugi.engine.manifest import WEIGHT_SUFFIXES
from kintsugi.engine.provenance import restore_note, upscale_note
from kintsugi.engine.resume import Journal
from kintsugi.engine.spec import Controls, RestoreSpec, TilePolicy

if TYPE_CHECKING:
    from kintsugi.engine.registry import Model

log = logging.getLogger(__name__)

EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp", "AVIF": ".avif",
              "HEIF": ".heic", "HEIC": ".heic"}
NAME_FIELDS = ("stem", "scale", "model")


@dataclass
class BatchOptions:
    """How a batch runs. Upscaling: model, scale, consistency, tile. Restoring: `restore` says
    what is restored (its model, scale and lock; the upscaling fields stay unset) and
    `controls` at which values; `bias_map` is a grey image (white +1, mid-grey 0, black -1)
    read once for the controls; `side_outputs`: Pro-PULSE's are also written to this folder."""

    model: str | None = None  # None: the default model
    scale: int | None = None
    consistency: bool = False
    tile: TilePolicy | int | str = "auto"
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (see kintsugi.engine.device)
    format: str | None = None  # None: the input's format where writable, else PNG
    bit_depth: int | None = None
    quality: int | None = None
    recursive: bool = False
    skip_existing: bool = False
    name_pattern: str = "{stem}_x{scale}"
    restore: RestoreSpec | None = None  # set: restore faces instead of upscaling
    controls: Controls = field(default_factory=Controls)
    bias_map: Path | None = None
    side_outputs: Path | None = None
    # The Mix of a paired model's result, as the window's slider means it (0 = the faithful
    # model alone, 1 = the realistic one; see engine.alt_session.PAIRS). None: the window's
    # opening Mix (alternatives.DEFAULT_MIX) where the model has a partner at the scale, else
    # the model alone. A number for a model without a partner is refused (``check_mix``).
    mix: float | None = None

    def __post_init__(self) -> None:
        self.tile = TilePolicy.parse(self.tile)
        if self.restore is not None and (self.model or self.scale or self.consistency
                                         or self.mix is not None):
            raise KintsugiError("a restore batch takes its model, scale and lock from its "
                                "RestoreSpec; leave the upscaling ones unset")
        if self.mix is not None and not 0.0 <= self.mix <= 1.0:
            raise KintsugiError(f"the mix must be between 0 and 1, not {self.mix:g}")

    @property
    def model_ref(self) -> str | None:
        """The model that names the outputs ({model}): the face model when restoring."""
        return str(self.restore.model) if self.restore is not None else self.model


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


FileWork = Callable[[Path, Path, Job], None]


# ----------------------------------------------------------------------------- planning


def plan_batch(inputs: Iterable[Path], out_dir: Path | None, options: BatchOptions) -> list[BatchItem]:
    """Expand folders into image files and choose each output path (mirroring sub-folders)."""
    placed: list[tuple[Path, Path]] = []  # (source, output folder)
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for src in find_images(path, options.recursive):
                placed.append((src, out_dir / src.parent.relative_to(path) if out_dir else src.parent))
        else:
            placed.append((path, out_dir or path.parent))
    return _distinct_outputs(_unique_sources(placed), options)


def find_images(folder: Path, recursive: bool) -> list[Path]:
    """Image files in `folder`, by extension, or by content where the extension is unknown.

    Hidden files and folders are left out: they hold temp files (ours included) and macOS
    resource forks (``._photo.jpg``), never photos.
    """
    pattern = "**/*" if recursive else "*"
    found = []
    for path in sorted(folder.glob(pattern)):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.is_file():
            if source_format(path) in READ_FORMATS:
                found.append(path)
            else:
                log.debug("not an image, left out: %s", path)
    return found


def source_format(path: Path) -> str | None:
    """The image format of a file: its extension's, or its content's when that is unknown
    (a PNG named .pbm, an .mpo camera JPEG, an .apng)."""
    fmt = format_for_path(path) or sniff(path)
    return _SNIFFED_AS.get(fmt or "", fmt)


_SNIFFED_AS = {"MPO": "JPEG"}  # a camera JPEG holding extra pictures: read and written as JPEG


def _unique_sources(placed: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """The same file named twice (a file and its folder, or twice by hand) is done once."""
    seen: set[Path] = set()
    unique = []
    for src, folder in placed:
        key = src.absolute()
        if key not in seen:
            seen.add(key)
            unique.append((src, folder))
    return unique


def _distinct_outputs(placed: list[tuple[Path, Path]], options: BatchOptions) -> list[BatchItem]:
    """One output per input, never shared: colliding names keep their source's extension,
    and what still collides is numbered in the order of the source paths."""
    if not placed:
        return []
    fields = _name_fields(options)
    plain = [folder / _output_name(src, src.stem, options, fields) for src, folder in placed]
    counts = Counter(_key(dst) for dst in plain)
    named = [
        folder / _output_name(src, f"{src.stem}_{src.suffix.lstrip('.')}", options, fields)
        if counts[_key(dst)] > 1 and src.suffix else dst
        for (src, folder), dst in zip(placed, plain, strict=True)
    ]
    return [BatchItem(src, dst) for (src, _), dst in zip(placed, _numbered(placed, named), strict=True)]


def _numbered(placed: Sequence[tuple[Path, Path]], named: list[Path]) -> list[Path]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, dst in enumerate(named):
        groups[_key(dst)].append(index)
    final = list(named)
    taken = set(groups)
    for indices in groups.values():
        ordered = sorted(indices, key=lambda i: str(placed[i][0]))
        for n, index in enumerate(ordered[1:], start=2):
            dst = named[index]
            while _key(candidate := dst.with_name(f"{dst.stem}-{n}{dst.suffix}")) in taken:
                n += 1
            taken.add(_key(candidate))
            final[index] = candidate
    return final


def _key(path: Path) -> str:
    # Case-folded: two names differing only in case are one file on macOS, Windows and exFAT.
    return str(path.absolute()).casefold()


def _name_fields(options: BatchOptions) -> dict[str, Any]:
    pattern = options.name_pattern
    fields: dict[str, Any] = {"model": _model_name(options.model_ref)}
    try:
        pattern.format(stem="", scale="", model="")
    except (KeyError, IndexError, ValueError) as error:
        raise KintsugiError(f"name pattern {pattern!r} is not usable ({error}); it may use "
                            + ", ".join("{" + f + "}" for f in NAME_FIELDS)) from None
    if "{scale}" in pattern:  # the model is loaded (when given as a file) only if needed
        scale = options.restore.scale if options.restore is not None else options.scale
        fields["scale"] = scale or model_scale(options.model_ref)
    return fields


def _model_name(model: str | None) -> str:
    """An id as it is; a weights file by its stem (a path must not reach the file name)."""
    if model and (Path(model).suffix.lower() in WEIGHT_SUFFIXES or os.sep in model):
        return Path(model).stem
    return model or ""


def _output_name(src: Path, stem: str, options: BatchOptions, fields: Mapping[str, Any]) -> str:
    fmt = options.format.upper() if options.format else output_format_for(source_format(src))
    name = options.name_pattern.format(**{"scale": "", **fields, "stem": stem})
    return name + EXTENSIONS.get(fmt, ".png")


def model_scale(model: str | None) -> int:
    from kintsugi.engine.registry import default_model_id, load_model, model_info

    model = model or default_model_id()
    if Path(model).suffix.lower() in WEIGHT_SUFFIXES:
        return load_model(model, "cpu").scale
    return model_info(model).scale


# ----------------------------------------------------------------------------- running


def run_batch(
    items: list[BatchItem],
    options: BatchOptions,
    job: Job | None = None,
    on_event: Callable[[BatchEvent], None] | None = None,
    process: FileWork | None = None,
) -> BatchSummary:
    """Process every item; `process(src, dst, job)` defaults to make_work(options)."""
    job = ensure_job(job)
    emit = on_event or (lambda _event: None)
    work = process or make_work(options)
    summary = BatchSummary()
    started = time.monotonic()
    remove_stale_temp_files(items)
    journal = Journal.begin(items, _settings(options))
    total = len(items)
    try:
        for index, item in enumerate(items):
            event = _run_one(item, index, total, options, job, work, emit, journal)
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
    finally:
        if journal is not None:
            journal.close()
    summary.seconds = time.monotonic() - started
    return summary


def item_runner(
    options: BatchOptions, process: FileWork | None = None
) -> Callable[[BatchItem, int, int, Job, Callable[[BatchEvent], None]], BatchEvent]:
    """`run(item, index, total, job, emit) -> final event` for one item at a time, exactly as
    run_batch treats it (skip-existing, one failed event per bad file), loading the model once;
    for runners that hand items out elsewhere (kintsugi.engine.cluster)."""
    work = process or make_work(options)

    def run(item: BatchItem, index: int, total: int, job: Job,
            emit: Callable[[BatchEvent], None]) -> BatchEvent:
        return _run_one(item, index, total, options, job, work, emit, None)

    return run


def _settings(options: BatchOptions) -> dict[str, Any]:
    """What makes two runs the same command, for the resume journal: everything that
    changes an output's name or content."""
    settings = asdict(options)
    for how_files_are_found in ("recursive", "skip_existing"):
        settings.pop(how_files_are_found)
    return settings


def make_work(options: BatchOptions) -> Upscaler | Restorer:
    """The per-file job the options describe; it loads its model(s) on first use."""
    return Restorer(options) if options.restore is not None else Upscaler(options)


def remove_stale_temp_files(items: Iterable[BatchItem]) -> int:
    """Delete the hidden temp files a killed run left for these outputs (imageio writes
    ``.<name>.<random>.tmp`` beside ``<name>`` and renames it when complete)."""
    wanted: dict[Path, set[str]] = defaultdict(set)
    for item in items:
        wanted[item.dst.parent].add(item.dst.name)
    removed = 0
    for folder, names in wanted.items():
        if not folder.is_dir():
            continue
        for tmp in folder.glob(".*.tmp"):
            if tmp.name[1:-len(".tmp")].rsplit(".", 1)[0] in names:
                try:
                    tmp.unlink()
                    removed += 1
                except OSError as error:
                    log.warning("could not remove the stale temp file %s (%s)", tmp, error)
    if removed:
        log.info("removed %d temp file(s) left by an interrupted batch", removed)
    return removed


def _run_one(item, index, total, options, job, work, emit, journal) -> BatchEvent:
    def event(status: str, error: str | None = None) -> BatchEvent:
        return BatchEvent(index, total, item.src, item.dst, status, error,
                          time.monotonic() - t0)

    t0 = time.monotonic()
    if options.skip_existing and item.dst.exists():
        return event("skipped")
    if journal is not None and journal.made_before(item):  # a killed run finished this one
        return event("skipped")
    emit(event("started"))
    try:
        job.check()
        if not os.path.lexists(item.src):
            return event("failed", f"{item.src}: no such file")
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


# ----------------------------------------------------------------------------- the jobs


class _Work:
    """Loads its model(s) once (on first use or `prepare()`), then does one file per call.

    Pickles without the loaded models, so a copy can be sent to another process or machine
    (Ray), which then loads them once itself.
    """

    def __init__(self, options: BatchOptions) -> None:
        self.options = options
        self._model: Model | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options, "_model": None}

    def prepare(self) -> Model:
        raise NotImplementedError

    def _save(self, result: Any, src: Path, dst: Path, provenance: dict[str, str]) -> None:
        if src.resolve() == dst.resolve():
            raise KintsugiError(f"{src.name}: the output would overwrite the input")
        opts = self.options
        save_image(result, dst, format=opts.format, bit_depth=opts.bit_depth, quality=opts.quality,
                   provenance=provenance)


def check_mix(model_id: str, scale: int, mix: float | None) -> tuple[tuple[str, str] | None, float]:
    """(pair, mix) for a result of `model_id` at `scale`, as the window opens it: the pair
    of engine.alt_session.pair_for and `mix` (None: DEFAULT_MIX), or (None, 1.0) where the
    model has no partner. A mix asked for a model without one is refused (KintsugiError)."""
    from kintsugi.engine.alt_session import pair_for
    from kintsugi.engine.catalog import list_models

    names = {info.id: info.name for info in list_models()}
    pair, reason = pair_for(model_id, scale, names)
    if pair is None:
        if mix is not None:
            raise KintsugiError(f"{_model_name(model_id)} at x{scale} has no Mix partner, so a "
                                f"mix cannot be chosen ({reason})")
        return None, 1.0
    if mix is None:
        from kintsugi.engine.alternatives import DEFAULT_MIX

        mix = DEFAULT_MIX
    return pair, float(mix)


def mix_for(options: BatchOptions) -> tuple[tuple[str, str] | None, float]:
    """check_mix for an upscaling batch, before its model loads (the command line checks
    its --mix with this, so a refused mix fails before any file is read)."""
    from kintsugi.engine.registry import default_model_id

    model = options.model or default_model_id()
    if options.mix is None and Path(model).suffix.lower() in WEIGHT_SUFFIXES:
        return None, 1.0  # an imported file is in no pair: nothing to load to tell
    return check_mix(_model_name(model), options.scale or model_scale(model), options.mix)


class Upscaler(_Work):
    """One model's result; where the model has a Mix partner (check_mix), the window's
    composition of both models' results at the options' mix (AltSession, locked like the
    window's when consistency is on)."""

    def __init__(self, options: BatchOptions) -> None:
        super().__init__(options)
        self._pair: tuple[str, str] | None = None
        self._mix = 1.0
        self._partner: Model | None = None  # loaded only when the mix needs it

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_pair": None, "_mix": 1.0, "_partner": None}

    def prepare(self) -> Model:
        from kintsugi.engine.registry import default_model_id, load_model

        if self._model is not None:
            return self._model
        opts = self.options
        model = load_model(opts.model or default_model_id(), opts.device, opts.precision)
        pair, mix = check_mix(model.info.id, opts.scale or model.scale, opts.mix)
        if pair is not None:
            realistic = model.info.id == pair[1]
            if mix != (1.0 if realistic else 0.0):  # at the model's own end: no partner needed
                self._partner = load_model(pair[0] if realistic else pair[1], opts.device,
                                           opts.precision)
        self._pair, self._mix, self._model = pair, mix, model
        return model

    def __call__(self, src: Path, dst: Path, job: Job) -> None:
        from kintsugi.engine.pipeline import upscale

        opts = self.options
        model = self.prepare()
        image = open_image(src)
        partner = self._partner

        def run(with_model: Model, part: Job) -> Any:
            return upscale(image, with_model, scale=opts.scale, consistency=opts.consistency,
                           tile=opts.tile, job=part)

        first = run(model, job if partner is None else job.sub(0.0, 0.5))
        scale = opts.scale or model.scale
        note = upscale_note(model.info.id, scale, opts.consistency)
        if partner is None:
            self._save(first, src, dst, note)
            return
        # The window's path: both results of the photo, composed (and locked) at the mix.
        session = AltSession(image, first, model.info.id, scale, self._pair, note)
        session.set_partner(run(partner, job.sub(0.5, 0.5)), complete=True)
        setting = Setting(1.0, self._mix)
        self._save(session.compose(setting), src, dst,
                   session.provenance_for(setting, brushed=False))


class Restorer(_Work):
    def __init__(self, options: BatchOptions) -> None:
        super().__init__(options)
        self._spec: RestoreSpec | None = None  # the options' spec with its models loaded
        self._controls = options.controls

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_spec": None, "_controls": self.options.controls}

    def prepare(self) -> Model:
        from kintsugi.engine.registry import Model, load_model

        if self._model is not None:
            return self._model
        opts = self.options
        spec = opts.restore
        assert spec is not None
        if not spec.model:
            raise KintsugiError("restoring needs a face model (see `kintsugi models list`)")
        model = spec.model if isinstance(spec.model, Model) else load_model(spec.model, opts.device)
        if opts.side_outputs is not None and not (model.caps.side_outputs and spec.aligned):
            raise KintsugiError(f"side outputs need a model that draws them (Pro-PULSE), on aligned "
                                f"face crops (--faces aligned); {model.info.id} is {model.info.arch}")
        background = spec.background
        # Bicubic and the default upscaler stay names; aligned crops need no background.
        if not spec.aligned and isinstance(background, (str, Path)) and str(background).lower() != "bicubic":
            background = load_model(background, opts.device)
        if opts.bias_map is not None:
            self._controls = replace(opts.controls, bias_map=_read_bias_map(opts.bias_map))
        self._spec = replace(spec, model=model, background=background)
        self._model = model
        return model

    def __call__(self, src: Path, dst: Path, job: Job) -> None:
        from kintsugi.engine.restore import restore

        opts = self.options
        model = self.prepare()
        assert self._spec is not None and opts.restore is not None
        image = open_image(src)
        result = restore(image, self._spec, self._controls, device=opts.device, job=job)
        note = restore_note(self._spec, self._controls, result.width // image.width)
        self._save(result, src, dst, note)
        if opts.side_outputs is not None:
            from kintsugi.engine.restore import write_side_outputs

            write_side_outputs(model, image, src.stem, opts.side_outputs, opts.restore.faces)


def _read_bias_map(path: Path) -> Any:
    """Grey levels 0..1 -> bias -1..1 (mid-grey = no change)."""
    grey = open_image(path).pixels.mean(axis=2)
    return grey * 2.0 - 1.0
