"""Batch over folder trees: mirroring, skipping, bad files reported, nothing partial left."""

import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

import kintsugi
from kintsugi.engine.batch import BatchOptions, plan_batch, run_batch


def write_photo(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)
    return path


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png_header(path: Path) -> Path:
    """A well-formed PNG claiming 60000x60000 pixels (10 GB decoded) in a few bytes."""
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + _chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


@pytest.fixture
def tree(tmp_path, astronaut_full):
    src = tmp_path / "in"
    write_photo(src / "a.png", astronaut_full[200:216, 200:216])
    write_photo(src / "sub" / "b.jpg", astronaut_full[100:112, 100:116])
    write_photo(src / "sub" / "deeper" / "c.bmp", astronaut_full[300:310, 300:310])
    (src / "notes.txt").write_text("not an image")
    return src


def fake_process(src, dst, job):
    job.check()
    kintsugi.save_image(kintsugi.open_image(src), dst)


def test_plan_mirrors_subfolders_and_picks_writable_formats(tree, tmp_path):
    opts = BatchOptions(recursive=True)
    items = plan_batch([tree], tmp_path / "out", opts)
    rel = sorted(str(i.dst.relative_to(tmp_path / "out")) for i in items)
    assert rel == ["a_x4.png", "sub/b_x4.jpg", "sub/deeper/c_x4.png"]  # BMP is written as PNG
    flat = plan_batch([tree], tmp_path / "out", BatchOptions(recursive=False))
    assert [i.src.name for i in flat] == ["a.png"]


def test_name_pattern_and_format_override(tree, tmp_path):
    opts = BatchOptions(format="webp", name_pattern="{stem}-{model}-{scale}x", model="waifu2x-photo-x2")
    (item,) = plan_batch([tree / "a.png"], None, opts)
    assert item.dst == tree / "a-waifu2x-photo-x2-2x.webp"


def test_bad_files_are_reported_and_the_rest_processed(tree, tmp_path):
    (tree / "empty.png").write_bytes(b"")
    (tree / "random.jpg").write_bytes(np.random.default_rng(0).bytes(4000))
    good = (tree / "a.png").read_bytes()
    (tree / "truncated.png").write_bytes(good[: len(good) // 2])
    huge_png_header(tree / "huge.png")
    (tree / "folder.png").mkdir()
    opts = BatchOptions(recursive=True)
    items = plan_batch([tree], tmp_path / "out", opts)
    events = []
    summary = run_batch(items, opts, on_event=events.append, process=fake_process)
    failed = {src.name: msg for src, msg in summary.failed}
    assert set(failed) == {"empty.png", "random.jpg", "truncated.png", "huge.png"}
    assert "60000" in failed["huge.png"]
    assert failed["truncated.png"].endswith("is truncated: its image data ends early (the end "
                                            "of the file is missing)")
    assert summary.done == 3 and not summary.cancelled
    assert all("\n" not in msg for msg in failed.values())
    # Nothing was written for the failures, and no temp files were left anywhere.
    written = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["a_x4.png", "b_x4.jpg", "c_x4.png"]


def test_an_unwritable_output_folder_fails_that_file_only(tree, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("a file where the sub-folder should be")
    opts = BatchOptions(recursive=True)
    summary = run_batch(plan_batch([tree], out, opts), opts, process=fake_process)
    assert summary.done == 1 and len(summary.failed) == 2
    assert all("sub" in str(src) for src, _ in summary.failed)


def test_skip_existing(tree, tmp_path):
    opts = BatchOptions(skip_existing=True)
    items = plan_batch([tree / "a.png"], tmp_path / "out", opts)
    items[0].dst.parent.mkdir(parents=True)
    items[0].dst.write_bytes(b"keep me")
    summary = run_batch(items, opts, process=fake_process)
    assert summary.skipped == 1 and items[0].dst.read_bytes() == b"keep me"


def test_cancel_stops_the_batch_and_leaves_no_partial_file(tree, tmp_path):
    job = kintsugi.Job()
    opts = BatchOptions(recursive=True)
    items = plan_batch([tree], tmp_path / "out", opts)

    def cancel_on_second(src, dst, sub_job):
        if src.name == "b.jpg":
            job.cancel()
        fake_process(src, dst, sub_job)

    summary = run_batch(items, opts, job=job, process=cancel_on_second)
    assert summary.cancelled and summary.done == 1
    assert not (tmp_path / "out" / "sub").exists() or not any((tmp_path / "out" / "sub").rglob("*.*"))


def test_real_upscale_batch_keeps_inputs_untouched(tree, tmp_path):
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    opts = BatchOptions(model="waifu2x-photo-x2", recursive=True, consistency=True)
    summary = run_batch(plan_batch([tree], tmp_path / "out", opts), opts)
    assert summary.done == 3 and not summary.failed
    out = kintsugi.open_image(tmp_path / "out" / "a_x2.png")
    assert (out.width, out.height) == (32, 32)
    assert kintsugi.read_provenance(tmp_path / "out" / "a_x2.png")["model"] == "waifu2x-photo-x2"
    assert before == {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}


def test_outputs_get_ordinary_file_permissions(tree, tmp_path):
    opts = BatchOptions()
    summary = run_batch(plan_batch([tree / "a.png"], tmp_path / "out", opts), opts,
                        process=fake_process)
    assert summary.done == 1
    mode = (tmp_path / "out" / "a_x4.png").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


# ---- two inputs never share an output --------------------------------------------------


def test_colliding_stems_get_distinct_outputs_whatever_the_listing_order(tmp_path, astronaut_full):
    folder = tmp_path / "in"
    names = ["hopper.bmp", "hopper.gif", "hopper.png", "a.jpg", "a.jpeg", "b.tif", "b.tiff",
             "solo.png"]
    files = [write_photo(folder / name, astronaut_full[i * 60:i * 60 + 8, i * 60:i * 60 + 8])
             for i, name in enumerate(names)]
    opts = BatchOptions(scale=2)
    plans = [plan_batch(order, tmp_path / "out", opts)
             for order in (files, files[::-1], [folder])]
    mappings = [{i.src.name: i.dst.name for i in plan} for plan in plans]
    assert mappings[0] == mappings[1] == mappings[2]
    dsts = mappings[0]
    assert len(set(dsts.values())) == len(names)  # once all hopper_x2.png / a_x2.jpg / b_x2.tif
    assert dsts["solo.png"] == "solo_x2.png"  # no collision: the plain name
    assert dsts["hopper.bmp"] == "hopper_bmp_x2.png" and dsts["a.jpeg"] == "a_jpeg_x2.jpg"
    summary = run_batch(plans[2], opts, process=fake_process)
    assert summary.done == len(names)
    for item in plans[2]:  # each output holds its own source's pixels (JPEG: nearly)
        np.testing.assert_allclose(kintsugi.open_image(item.dst).pixels,
                                   kintsugi.open_image(item.src).pixels, atol=0.05)


def test_names_that_still_collide_are_numbered_in_source_order(tmp_path, astronaut_full):
    one = write_photo(tmp_path / "x" / "p.png", astronaut_full[:8, :8])
    two = write_photo(tmp_path / "y" / "p.png", astronaut_full[8:16, :8])
    opts = BatchOptions(scale=2)
    for order in ([one, two], [two, one]):
        dsts = {i.src: i.dst.name for i in plan_batch(order, tmp_path / "out", opts)}
        assert dsts == {one: "p_png_x2.png", two: "p_png_x2-2.png"}
    # The same file named twice is done once.
    assert len(plan_batch([one, one, tmp_path / "x"], tmp_path / "out", opts)) == 1


# ---- files picked by content ------------------------------------------------------------


def test_folder_mode_picks_images_by_content_when_the_extension_is_unknown(tmp_path, astronaut_full):
    folder = tmp_path / "in"
    folder.mkdir()
    first, second = (PILImage.fromarray(astronaut_full[k:k + 16, :16]) for k in (0, 16))
    first.save(folder / "camera.mpo", "MPO", save_all=True, append_images=[second])
    first.save(folder / "anim.apng", "PNG", save_all=True, append_images=[second])
    first.save(folder / "misnamed.pbm", "PNG")
    (folder / "notes.txt").write_text("BM not a bitmap, just notes")
    (folder / "data.bin").write_bytes(bytes(range(256)))
    write_photo(folder / ".hidden.png", astronaut_full[:8, :8])
    opts = BatchOptions(scale=2)
    dsts = {i.src.name: i.dst.name for i in plan_batch([folder], tmp_path / "out", opts)}
    assert dsts == {"camera.mpo": "camera_x2.jpg", "anim.apng": "anim_x2.png",
                    "misnamed.pbm": "misnamed_x2.png"}
    summary = run_batch(plan_batch([folder], tmp_path / "out", opts), opts, process=fake_process)
    assert summary.done == 3 and not summary.failed


# ---- crash leftovers ---------------------------------------------------------------------


def test_a_killed_runs_temp_files_are_removed_and_only_those(tree, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a_x4.png.k3j_9x2a.tmp"  # what imageio leaves when killed mid-write
    stale.write_bytes(b"\x89PNG half")
    unrelated = [out / ".notes.tmp", out / ".other_x4.png.abc.tmp", out / "a_x4.png.tmp"]
    for path in unrelated:
        path.write_bytes(b"not ours")
    opts = BatchOptions()
    summary = run_batch(plan_batch([tree / "a.png"], out, opts), opts, process=fake_process)
    assert summary.done == 1 and not stale.exists()
    assert all(path.exists() for path in unrelated)


def test_a_configured_job_travels_without_its_model(tree, tmp_path):
    """What Ray ships to a worker: the settings; each worker loads the model once itself."""
    import pickle

    from kintsugi.engine.batch import Restorer, Upscaler, make_work

    opts = BatchOptions(model="waifu2x-photo-x2")
    work = make_work(opts)
    assert isinstance(work, Upscaler)
    model = work.prepare()
    assert work.prepare() is model  # loaded once
    copy = pickle.loads(pickle.dumps(work))
    assert copy._model is None and copy.options == opts  # noqa: SLF001
    copy(tree / "a.png", tmp_path / "a.png", kintsugi.Job())
    assert kintsugi.open_image(tmp_path / "a.png").width == 32
    restore_opts = BatchOptions(restore=kintsugi.RestoreSpec("x"),
                                controls=kintsugi.Controls(bias=0.5, bias_blocks=((1, -0.5),)))
    assert isinstance(make_work(restore_opts), Restorer)
    assert pickle.loads(pickle.dumps(make_work(restore_opts))).options == restore_opts


# ---- resuming after a crash --------------------------------------------------------------


def _crashed_run(items, opts):
    """What a run killed with SIGKILL leaves: its journal (never closed)."""
    from kintsugi.engine.batch import _settings
    from kintsugi.engine.resume import Journal

    journal = Journal.begin(items, _settings(opts))
    assert journal is not None and not journal.resumed
    return journal


def _age(path: Path, seconds: float) -> None:
    then = path.stat().st_mtime_ns - int(seconds * 1e9)
    os.utime(path, ns=(then, then))


def test_the_same_batch_after_a_crash_skips_what_the_crashed_run_finished(tree, tmp_path):
    out = tmp_path / "out"
    opts = BatchOptions(recursive=True)
    items = plan_batch([tree], out, opts)  # a.png, sub/b.jpg, sub/deeper/c.bmp
    old = items[1].dst
    old.parent.mkdir(parents=True)
    fake_process(items[1].src, old, kintsugi.Job())
    _age(old, 60)  # left by an earlier run that finished: redone as usual
    journal = _crashed_run(items, opts)
    fake_process(items[0].src, items[0].dst, kintsugi.Job())  # finished before the kill
    made = items[0].dst.stat().st_mtime_ns
    summary = run_batch(items, opts, process=fake_process)
    assert (summary.skipped, summary.done) == (1, 2)
    assert items[0].dst.stat().st_mtime_ns == made and old.stat().st_mtime_ns > made - 1
    assert not journal.path.exists()  # finished: the next run is a fresh one
    summary = run_batch(items, opts, process=fake_process)
    assert (summary.skipped, summary.done) == (0, 3)


def test_a_source_changed_or_other_settings_after_a_crash_are_redone(tree, tmp_path):
    out = tmp_path / "out"
    opts = BatchOptions(recursive=True)
    items = plan_batch([tree], out, opts)
    _crashed_run(items, opts)
    for item in items:
        item.dst.parent.mkdir(parents=True, exist_ok=True)
        fake_process(item.src, item.dst, kintsugi.Job())
    changed = items[0].src  # edited after the crash
    changed.write_bytes(changed.read_bytes())
    os.utime(changed, ns=(time.time_ns() + 10**9,) * 2)
    other = BatchOptions(recursive=True, quality=50)  # not the same command: no resume
    assert run_batch(items, other, process=fake_process).done == 3
    summary = run_batch(items, opts, process=fake_process)
    assert (summary.skipped, summary.done) == (2, 1)


def test_a_cancelled_batch_leaves_no_journal(tree, tmp_path):
    job = kintsugi.Job()
    opts = BatchOptions(recursive=True)
    items = plan_batch([tree], tmp_path / "out", opts)

    def cancel_on_second(src, dst, sub_job):
        if src.name == "b.jpg":
            job.cancel()
        fake_process(src, dst, sub_job)

    assert run_batch(items, opts, job=job, process=cancel_on_second).cancelled
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == ["a_x4.png"]


def test_a_model_file_names_outputs_by_its_stem(tree, tmp_path):
    opts = BatchOptions(model=str(tmp_path / "weights" / "my.model.safetensors"), scale=2,
                        name_pattern="{stem}-{model}")
    (item,) = plan_batch([tree / "a.png"], tmp_path / "out", opts)
    assert item.dst == tmp_path / "out" / "a-my.model.png"
