"""GPU pinning of job workers, with the GPU count injected (no GPU needed)."""

from __future__ import annotations

import threading

from core.jobs.devices import assign_device, held_devices, pin_device
from core.store.registry import Registry


def test_cpu_machine_keeps_the_requested_device():
    for requested in ("auto", "cpu", "cuda", "mps"):
        assert assign_device([], gpu_count=0, requested=requested) == requested


def test_explicit_devices_are_honoured_on_gpu_machines():
    for requested in ("cpu", "cuda:1", "mps"):
        assert assign_device(["cuda:0"], gpu_count=2, requested=requested) == requested


def test_each_running_job_gets_a_free_gpu_lowest_first():
    assert assign_device([], gpu_count=4) == "cuda:0"
    assert assign_device(["cuda:0"], gpu_count=4) == "cuda:1"
    assert assign_device(["cuda:1", "cuda:0", None, "cpu"], gpu_count=4, requested="cuda") == "cuda:2"
    assert assign_device(["cuda"], gpu_count=2) == "cuda:1"  # plain 'cuda' holds GPU 0
    assert assign_device(["cuda:0", "cuda:2"], gpu_count=4) == "cuda:1"


def test_all_gpus_held_gives_the_least_used_one():
    # A data job may share a GPU with training jobs: the least-loaded one, ties lowest.
    assert assign_device(["cuda:0", "cuda:1", "cuda:0"], gpu_count=2) == "cuda:1"
    assert assign_device(["cuda:0", "cuda:1"], gpu_count=2) == "cuda:0"
    assert assign_device(["cuda:7"], gpu_count=2) == "cuda:0"  # a device past the count is ignored


def _running(registry: Registry, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        job_id = registry.create_job("train", {}, slot="compute")
        assert registry.claim_slot(job_id, "compute", 100)
        ids.append(job_id)
    return ids


def test_pin_device_records_distinct_gpus_in_the_registry(tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    jobs = _running(registry, 3)
    devices = [pin_device(registry, j, "auto", gpu_count=3) for j in jobs]
    assert devices == ["cuda:0", "cuda:1", "cuda:2"]
    assert [registry.get_job(j).device for j in jobs] == devices
    assert sorted(held_devices(registry, jobs[0])) == ["cuda:1", "cuda:2"]
    # A finished job frees its GPU for the next one.
    registry.finish_job(jobs[1], "done")
    nxt = _running(registry, 1)[0]
    assert pin_device(registry, nxt, "auto", gpu_count=3) == "cuda:1"
    # Without GPUs the registry is left alone.
    other = _running(registry, 1)[0]
    assert pin_device(registry, other, "auto", gpu_count=0) == "auto"
    assert registry.get_job(other).device is None


def test_jobs_pinning_at_the_same_moment_get_different_gpus(tmp_path):
    registry = Registry(tmp_path / "registry.sqlite")
    jobs = _running(registry, 4)
    got: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda j=j: got.update({j: pin_device(registry, j, gpu_count=4)}))
        for j in jobs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got.values()) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
