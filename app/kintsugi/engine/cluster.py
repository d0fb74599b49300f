"""Archive-scale batch on a Ray cluster, with the contract of `kintsugi.engine.batch.run_batch`.

The same plan (naming, mirroring), skip-existing, one failed line per bad file, progress and
cancel; each item is processed by the same code as the local batch (`batch.item_runner`), so
the outputs are the same bytes. The work goes to Ray actors that each load the model once;
on a cluster with GPUs each actor takes one GPU.

Every node must see the input and output paths (a shared file system) and have Kintsugi
installed with the extra: `pip install kintsugi[cluster]`. Ray is imported only when called.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kintsugi.engine.batch import BatchEvent, BatchItem, BatchOptions, BatchSummary, item_runner
from kintsugi.engine.errors import KintsugiError
from kintsugi.engine.job import Job, ensure_job

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.2  # how often the driver looks at cancel/pause while waiting for results


class ClusterError(KintsugiError):
    """Ray is missing or the cluster cannot be reached."""


class _Worker:
    """One per actor: loads the model on its first file and keeps it for the rest.

    Runs with two threads (max_concurrency=2) so that `cancel` reaches a file in progress,
    which then stops at its next tile, as Cancel does in the local batch.
    """

    def __init__(self, options: BatchOptions, threads: int) -> None:
        if options.device in ("auto", "cpu"):
            import torch

            torch.set_num_threads(threads)
        self._run = item_runner(options)
        self._job = Job()

    def run(self, item: BatchItem, index: int, total: int) -> tuple[list[BatchEvent], int]:
        """The item's events (started, then done/skipped/failed/cancelled) and this pid."""
        events: list[BatchEvent] = []
        events.append(self._run(item, index, total, self._job, events.append))
        return events, os.getpid()

    def cancel(self) -> None:
        self._job.cancel()


@dataclass(frozen=True)
class _Plan:
    workers: int
    cpus: float
    gpus: float
    threads: int


def run_batch_on_ray(
    items: list[BatchItem],
    options: BatchOptions,
    address: str | None = None,
    job: Job | None = None,
    on_event: Callable[[BatchEvent], None] | None = None,
    *,
    workers: int | None = None,
) -> BatchSummary:
    """Process `items` on Ray; `address` None starts a local Ray instance for this call.

    `workers` defaults to one per GPU when the cluster has GPUs (and the device allows
    CUDA), else one per CPU core.
    """
    ray = _import_ray()
    if not items:
        return BatchSummary()
    job = ensure_job(job)
    emit = on_event or (lambda _event: None)
    started = time.monotonic()
    owns_ray = _connect(ray, address, workers)
    try:
        plan = _plan_workers(ray.cluster_resources(), options, workers)
        log.info("Ray batch: %d workers (%s CPU, %s GPU each)", plan.workers, plan.cpus, plan.gpus)
        actor_class = ray.remote(num_cpus=plan.cpus, num_gpus=plan.gpus, max_concurrency=2,
                                 max_restarts=1)(_Worker)
        actors = [actor_class.remote(options, plan.threads)
                  for _ in range(min(plan.workers, len(items)))]
        try:
            summary = _dispatch(ray, actors, items, job, emit)
        finally:
            for actor in actors:
                ray.kill(actor)
    finally:
        if owns_ray:
            ray.shutdown()
    summary.seconds = time.monotonic() - started
    return summary


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ClusterError("Ray is not installed: pip install 'kintsugi[cluster]'") from error
    return ray


def _connect(ray: Any, address: str | None, workers: int | None) -> bool:
    """Connect (or start a local instance); True when this call started it and must stop it."""
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, configure_logging=False, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, configure_logging=False,
                     log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = address or "a local instance"
        raise ClusterError(f"cannot start Ray on {where}: {error}") from error
    return True


def _plan_workers(resources: dict[str, float], options: BatchOptions,
                  workers: int | None) -> _Plan:
    cpus = max(int(resources.get("CPU", 1)), 1)
    gpus = int(resources.get("GPU", 0))
    if gpus and options.device in ("auto", "cuda"):
        count = workers or gpus
        return _Plan(count, cpus=min(1.0, cpus / count), gpus=min(1.0, gpus / count), threads=1)
    count = workers or cpus
    # A share of the cores, never more than exist: an actor asking for more would wait forever.
    return _Plan(count, cpus=cpus / count, gpus=0, threads=max(cpus // count, 1))


def _dispatch(ray: Any, actors: Sequence[Any], items: list[BatchItem], job: Job,
              emit: Callable[[BatchEvent], None]) -> BatchSummary:
    """Keep one item in flight per actor; stop handing out items on cancel."""
    summary = BatchSummary()
    total = len(items)
    waiting = deque(enumerate(items))
    idle = list(actors)
    running: dict[Any, tuple[Any, int, BatchItem]] = {}
    failed: list[tuple[int, BatchItem, str]] = []
    finished = 0
    cancel_sent = False
    while waiting or running:
        while idle and waiting and not job.cancelled and not job.paused:
            index, item = waiting.popleft()
            actor = idle.pop()
            running[actor.run.remote(item, index, total)] = (actor, index, item)
        if job.cancelled:
            summary.cancelled = True
            waiting.clear()
            if not cancel_sent:
                for actor, _index, _item in running.values():
                    actor.cancel.remote()
                cancel_sent = True
        if not running:
            if waiting:  # paused
                time.sleep(_POLL_SECONDS)
            continue
        ready, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_SECONDS)
        for ref in ready:
            actor, index, item = running.pop(ref)
            idle.append(actor)
            for event in _events_of(ray, ref, index, total, item):
                if event.status == "cancelled":
                    summary.cancelled = True
                    continue  # as in run_batch: a cancelled file is not reported as an event
                if event.status == "done":
                    summary.done += 1
                elif event.status == "skipped":
                    summary.skipped += 1
                elif event.status == "failed":
                    failed.append((index, item, event.error or "failed"))
                emit(event)
            finished += 1
            job.set_progress(finished / total, f"{finished}/{total} files")
    summary.failed = [(item.src, error) for _index, item, error in sorted(failed, key=_first)]
    return summary


def _first(entry: tuple[int, BatchItem, str]) -> int:
    return entry[0]


def _events_of(ray: Any, ref: Any, index: int, total: int, item: BatchItem) -> list[BatchEvent]:
    """The worker's events; a worker that died (killed, out of memory) fails its one item."""
    try:
        events, pid = ray.get(ref)
    except ray.exceptions.RayError as error:
        log.debug("Ray worker failed on %s", item.src, exc_info=True)
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return [BatchEvent(index, total, item.src, item.dst, "failed",
                           f"{item.src.name}: the Ray worker failed ({reason})")]
    log.debug("%s: %s by worker pid %d", item.src, events[-1].status, pid)
    return list(events)
