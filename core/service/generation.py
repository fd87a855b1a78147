"""The Data page's generation: a small dataset made in seconds, in this process, as a recorded job.

A dataset estimated to take at most core.service.queue.IN_PROCESS_MAX_S on a quiet machine
(core.estimate.dataset_seconds) runs in the server's job thread (core.jobs.here): no worker
process to start, no torch and PhiFlow to import again, the engine traced beforehand
(:func:`warm_data_engine`). A larger one gets a worker process as before. Either way it is one
'data' job in the registry, listed, cancellable, and marked interrupted if its process dies.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable


@functools.cache
def warm_data_engine() -> None:
    """Once per process: import PhiFlow and trace the engine for the Data page's default dataset
    in the job thread (a generation queued meanwhile waits for it); returns at once."""
    from core.jobs.here import warm
    from core.service.datasets import dataset_config

    def work() -> None:
        from core.data.simulate import warm_up

        warm_up(dataset_config(**DEFAULT_SIZE))

    warm(work)


#: The Data page's default dataset size (its form's defaults).
DEFAULT_SIZE = {"grid": 32, "frames": 40, "sims": 1, "warmup": 0}


def runs_here(job_id: str) -> bool:
    """True if job ``job_id`` runs (or ran) in this process's job thread (core.jobs.here)."""
    import os

    from core.service.queue import runner

    job = runner().registry.get_job(job_id)
    return job is not None and job.pid == os.getpid()


def wait_for_job(job_id: str, timeout_s: float, on_progress: Callable | None = None, poll_s: float = 0.1):
    """Wait up to ``timeout_s`` for job ``job_id`` to finish, calling ``on_progress(job)`` at each
    look; return its last record (finished or not)."""
    from core.service.queue import runner

    end = time.monotonic() + timeout_s
    while True:
        job = runner().status(job_id)
        if on_progress is not None:
            on_progress(job)
        if job.finished_state or time.monotonic() >= end:
            return job
        time.sleep(poll_s)
