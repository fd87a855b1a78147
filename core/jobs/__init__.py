"""Background jobs (data generation, training, resume, sweeps), each in its own process.

``JobRunner`` (runner.py) queues and supervises them in the SQLite registry; the worker
(worker.py, ``python -m core.jobs run JOB_ID``) runs one; kinds.py describes each kind once.
"""

from core.jobs.kinds import KINDS, JobKind, job_kind, validate_params
from core.jobs.runner import JobRunner, default_limits

__all__ = ["KINDS", "JobKind", "JobRunner", "default_limits", "job_kind", "validate_params"]
