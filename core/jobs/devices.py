"""Which GPU a job's worker process uses: one CUDA device per running job.

The compute slot allows one job per CUDA GPU (core/jobs/runner.py), so with N GPUs up to
N training jobs run at once; :func:`assign_device` gives each the lowest-numbered GPU no
other running job holds (recorded in the job's ``device`` column, which is where the
next job looks). A data job may share a GPU: it gets the least-used one. On a machine
without CUDA nothing changes: the requested device is returned as it is. The GPU count
can be injected, so the choice is testable without a GPU.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Requested devices that leave the choice of GPU to this module.
FLEXIBLE = ("auto", "cuda")


def cuda_count() -> int:
    """Number of CUDA GPUs visible to this process (0 when torch or CUDA is missing)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # torch broken or absent: a CPU-only machine
        return 0


def assign_device(held: Iterable[str | None], gpu_count: int | None = None, requested: str = "auto") -> str:
    """Return the device for a job, given the devices ``held`` by the other running jobs.

    ``requested`` 'auto' or 'cuda' on a machine with ``gpu_count`` GPUs (default: counted)
    becomes 'cuda:i', i the lowest index nobody holds, else the least-held one (ties: lowest
    index). Any other request ('cpu', 'mps', 'cuda:N') and any request on a machine
    without GPUs is returned unchanged.
    """
    count = cuda_count() if gpu_count is None else int(gpu_count)
    if count <= 0 or requested not in FLEXIBLE:
        return requested
    load = [0] * count
    for device in held:
        index = _cuda_index(device)
        if index is not None and index < count:
            load[index] += 1
    best = min(range(count), key=lambda i: (load[i], i))
    return f"cuda:{best}"


def _cuda_index(device: str | None) -> int | None:
    """0 for 'cuda', N for 'cuda:N', None for anything else."""
    if not isinstance(device, str) or device.split(":")[0] != "cuda":
        return None
    _, _, index = device.partition(":")
    return int(index) if index.isdigit() else 0 if not index else None


def held_devices(registry, job_id: str) -> list[str]:
    """Devices recorded by the running jobs of ``registry`` other than ``job_id``."""
    jobs = registry.list_jobs(limit=10_000)
    return [j.device for j in jobs if j.status == "running" and j.id != job_id and j.device]


def pin_device(registry, job_id: str, requested: str = "auto", gpu_count: int | None = None) -> str:
    """Choose this job's device (:func:`assign_device`) and record it in its ``device`` column.

    A file lock beside the registry makes choose-and-record one step, so two jobs that
    got their slots at the same moment do not pick the same GPU. Returns the device.
    """
    count = cuda_count() if gpu_count is None else gpu_count
    if count <= 0 or requested not in FLEXIBLE:
        return requested
    with _locked(Path(registry.path).with_suffix(".devices.lock")):
        device = assign_device(held_devices(registry, job_id), count, requested)
        registry.update_job(job_id, device=device)
    return device


def pin_this_process(job_id: str, requested: str = "auto") -> str | None:
    """In a job's worker: pin this process to the GPU :func:`pin_device` picks; return it.

    Returns None (and changes nothing) on a machine without CUDA or when ``requested``
    names a device itself. Afterwards 'cuda' and 'auto' in this process mean that GPU
    (``torch.cuda.set_device``), so configs and run.json keep the device as requested.
    """
    if requested not in FLEXIBLE or cuda_count() <= 0:
        return None
    import torch

    from core.store.registry import REGISTRY_ENV, Registry

    device = pin_device(Registry(os.environ.get(REGISTRY_ENV) or None), job_id, requested)
    torch.cuda.set_device(torch.device(device))
    return device


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (POSIX ``flock``; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the slot limit alone keeps jobs apart most of the time
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
