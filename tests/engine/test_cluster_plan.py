"""How the Ray batch sizes its workers from the cluster's resources (no Ray needed)."""

from kintsugi.engine.batch import BatchOptions
from kintsugi.engine.cluster import _plan_workers


def test_one_worker_per_gpu_when_the_cluster_has_gpus():
    plan = _plan_workers({"CPU": 32.0, "GPU": 4.0}, BatchOptions(), None)
    assert (plan.workers, plan.gpus, plan.cpus) == (4, 1.0, 1)


def test_more_workers_than_gpus_share_them():
    plan = _plan_workers({"CPU": 32.0, "GPU": 2.0}, BatchOptions(device="cuda"), 4)
    assert (plan.workers, plan.gpus) == (4, 0.5)


def test_cpu_workers_split_the_cores_when_gpus_are_not_wanted():
    assert _plan_workers({"CPU": 16.0, "GPU": 2.0}, BatchOptions(device="cpu"), 4).threads == 4
    plan = _plan_workers({"CPU": 2.0}, BatchOptions(), None)
    assert (plan.workers, plan.cpus, plan.gpus, plan.threads) == (2, 1, 0, 1)
    crowded = _plan_workers({"CPU": 2.0}, BatchOptions(), 4)  # all 4 fit on the 2 cores
    assert (crowded.workers, crowded.cpus, crowded.threads) == (4, 0.5, 1)
