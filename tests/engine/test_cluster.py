"""The Ray batch gives the local batch's outputs byte for byte, reports the same failures,
skips what exists, spreads the work over the workers and stops on cancel."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from kintsugi.engine.batch import BatchOptions, plan_batch, run_batch
from kintsugi.engine.job import Job

ray = pytest.importorskip("ray")
from kintsugi.engine.cluster import run_batch_on_ray  # noqa: E402

pytestmark = pytest.mark.slow
MODEL = "waifu2x-photo-x2"  # the smallest shipped upscaler keeps this quick


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)


@pytest.fixture
def photos(tmp_path, astronaut_full) -> Path:
    src = tmp_path / "in"
    for n in range(5):
        _write(src / f"p{n}.png", astronaut_full[40 * n:40 * n + 24, 200:232])
    _write(src / "sub" / "q.jpg", astronaut_full[300:320, 300:324])
    good = (src / "p0.png").read_bytes()
    (src / "truncated.png").write_bytes(good[: len(good) // 2])
    (src / "empty.png").write_bytes(b"")
    (src / "sub" / "noise.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    return src


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_own_local_instance_is_started_and_stopped(photos, tmp_path):
    assert not ray.is_initialized()
    opts = BatchOptions(model=MODEL)
    items = plan_batch([photos / "p1.png"], tmp_path / "out", opts)
    summary = run_batch_on_ray(items, opts, workers=1)
    assert summary.done == 1 and (tmp_path / "out" / "p1_x2.png").is_file()
    assert not ray.is_initialized()


def test_same_bytes_failures_and_events_as_the_local_batch(local_ray, photos, tmp_path, caplog):
    opts = BatchOptions(model=MODEL, recursive=True)
    local_events, ray_events = [], []
    local = run_batch(plan_batch([photos], tmp_path / "local", opts), opts,
                      on_event=local_events.append)
    with caplog.at_level(logging.DEBUG, logger="kintsugi.engine.cluster"):
        remote = run_batch_on_ray(plan_batch([photos], tmp_path / "ray", opts), opts,
                                  on_event=ray_events.append, workers=2)
    assert local.done == remote.done == 6 and not remote.cancelled
    assert _files(tmp_path / "local") == _files(tmp_path / "ray")  # names, mirroring, bytes
    assert [(s.name, m) for s, m in remote.failed] == [(s.name, m) for s, m in local.failed]
    assert {s.name for s, _ in remote.failed} == {"truncated.png", "empty.png", "noise.jpg"}

    def statuses(events):
        return sorted((e.index, e.status, e.dst.name) for e in events)

    assert statuses(ray_events) == statuses(local_events)
    pids = set(re.findall(r"by worker pid (\d+)", caplog.text))
    assert len(pids) == 2, caplog.text  # both workers took files


def test_skip_existing_skips_and_still_reports_bad_files(local_ray, photos, tmp_path):
    opts = BatchOptions(model=MODEL, recursive=True, skip_existing=True)
    items = plan_batch([photos], tmp_path / "out", opts)
    first = run_batch_on_ray(items, opts, workers=2)
    before = _files(tmp_path / "out")
    again = run_batch_on_ray(items, opts, workers=2)
    assert (first.done, again.done, again.skipped, len(again.failed)) == (6, 0, 6, 3)
    assert _files(tmp_path / "out") == before


def test_cancel_stops_dispatch_and_leaves_no_partial_file(local_ray, photos, tmp_path, caplog):
    opts = BatchOptions(model=MODEL, recursive=True)
    items = plan_batch([photos], tmp_path / "out", opts)
    job = Job()
    events = []

    def on_event(event):
        events.append(event)
        job.cancel()  # on the first result: the other worker's file is the only one left

    with caplog.at_level(logging.DEBUG, logger="kintsugi.engine.cluster"):
        summary = run_batch_on_ray(items, opts, job=job, on_event=on_event, workers=2)
    assert summary.cancelled
    dispatched = re.findall(r"by worker pid", caplog.text)
    assert len(dispatched) == 2 < len(items), caplog.text  # nothing handed out after cancel
    out = tmp_path / "out"
    outputs = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert summary.done == len(outputs) <= 1
    for path in outputs:  # complete files only, no temporaries
        assert PILImage.open(path).size[0] > 0 and not path.name.endswith(".tmp")


def test_cancelled_before_start_does_nothing(local_ray, photos, tmp_path):
    opts = BatchOptions(model=MODEL)
    job = Job()
    job.cancel()
    summary = run_batch_on_ray(plan_batch([photos], tmp_path / "out", opts), opts, job=job)
    assert summary.cancelled and summary.done == 0 and not (tmp_path / "out").exists()
